"""Email: templates per language, a development sender (.eml files) and an SMTP sender."""

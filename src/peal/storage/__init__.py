"""File storage: the local filesystem or an S3-compatible store, behind one interface."""

"""The administration API the web client's adminApi calls (admins only)."""

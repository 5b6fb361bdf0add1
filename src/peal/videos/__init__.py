"""Videos domain."""

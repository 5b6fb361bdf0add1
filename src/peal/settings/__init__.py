"""Settings domain."""

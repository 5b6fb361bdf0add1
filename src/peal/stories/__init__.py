"""Stories domain."""

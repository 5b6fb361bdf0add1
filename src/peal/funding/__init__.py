"""Funding domain."""

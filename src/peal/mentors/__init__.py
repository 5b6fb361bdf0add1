"""Mentors domain."""

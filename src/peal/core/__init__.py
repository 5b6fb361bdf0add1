"""Shared plumbing: errors, pagination, security, text, time and money helpers."""

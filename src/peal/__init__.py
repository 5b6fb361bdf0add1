"""PEAL backend: videos, funding, mentoring and messaging for women."""

__version__ = "0.1.0"

"""Tests of the goals domain."""

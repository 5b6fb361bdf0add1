"""The users tests' direct-SQL helper, for setting up and checking flows."""

from tests.users.conftest import sql

__all__ = ["sql"]

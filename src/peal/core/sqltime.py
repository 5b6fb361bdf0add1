"""Time arithmetic in SQL that reads the same on PostgreSQL and SQLite."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func


def epoch_seconds(column: Any, dialect: str) -> ColumnElement[Any]:
    """Seconds since 1970 of a timestamp column, in SQL, on either database."""
    if dialect == "postgresql":
        return func.extract("epoch", column)
    return (func.julianday(column) - 2440587.5) * 86400.0

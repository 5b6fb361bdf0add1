"""Rows as plain JSON for a person's data export: camelCase keys, ids and times as strings."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic.alias_generators import to_camel
from sqlalchemy import inspect


def jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def row_dict(row: Any, *, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """Every column of an ORM row but `exclude` (secrets, internal keys)."""
    skipped = set(exclude)
    return {
        to_camel(attr.key): jsonable(getattr(row, attr.key))
        for attr in inspect(row).mapper.column_attrs
        if attr.key not in skipped
    }


def person(person_id: uuid.UUID, name: str) -> dict[str, str]:
    """Another person, as an export may show them: id and name only."""
    return {"id": str(person_id), "name": name}

"""Keyset paging of a list ordered by (time, id): one way to fetch a page and its next cursor.

A list asks `keyset_page` for its query (ordered, started past the cursor or at the offset,
fetching one row more than the page), runs it once, and hands the rows to `cut_page`, which
keeps the page and encodes the cursor of what follows. `hasMore` then comes from that extra
row, never from a count.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar, TypeVarTuple

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, tuple_

from peal.core.schemas import Cursor, encode_cursor

RowT = TypeVar("RowT")
Ts = TypeVarTuple("Ts")


def after_cursor(
    time: SQLColumnExpression[Any],
    key: SQLColumnExpression[Any],
    cursor: Cursor,
    *,
    ascending: bool = False,
) -> ColumnElement[bool]:
    """The rows past `cursor` in the order (time, key): `(time, key) < cursor` newest first,
    `>` oldest first."""
    position = tuple_(time, key)
    start = (cursor.created_at, cursor.id)
    return position > start if ascending else position < start


def keyset_page(
    query: Select[*Ts],
    time: SQLColumnExpression[Any],
    key: SQLColumnExpression[Any],
    *,
    limit: int,
    offset: int,
    cursor: Cursor | None,
    ascending: bool = False,
) -> Select[*Ts]:
    """`query` ordered by (time, key), newest first unless `ascending`; after a `cursor` the
    page starts past it (keyset: no OFFSET scan), otherwise at `offset`. It fetches
    `limit + 1` rows: hand them to `cut_page`."""
    if cursor is not None:
        query = query.where(after_cursor(time, key, cursor, ascending=ascending))
    else:
        query = query.offset(offset)
    order = (time.asc(), key.asc()) if ascending else (time.desc(), key.desc())
    return query.order_by(*order).limit(limit + 1)


def _first_entity(row: Any) -> tuple[datetime, uuid.UUID]:
    return row[0].created_at, row[0].id


def cut_page(
    rows: Sequence[RowT],
    limit: int,
    position: Callable[[RowT], tuple[datetime, uuid.UUID]] = _first_entity,
) -> tuple[list[RowT], str | None]:
    """The first `limit` rows of a `keyset_page` query's answer, and the cursor to the next
    page when more rows came back: the `position` (time, id) of the last row kept, by
    default the `created_at` and `id` of the row's first entity."""
    if len(rows) <= limit:
        return list(rows), None
    page = list(rows[:limit])
    return page, encode_cursor(*position(page[-1]))

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
from typing import Any, TypeVar, TypeVarTuple, cast

from sqlalchemy import ColumnElement, Integer, Select, SQLColumnExpression, bindparam, tuple_

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
    return _past(time, key, (cursor.created_at, cursor.id), ascending=ascending)


def _past(
    time: SQLColumnExpression[Any],
    key: SQLColumnExpression[Any],
    start: tuple[Any, Any] | ColumnElement[Any],
    *,
    ascending: bool,
) -> ColumnElement[bool]:
    position = tuple_(time, key)
    return position > start if ascending else position < start


def _ordered(
    query: Select[*Ts],
    time: SQLColumnExpression[Any],
    key: SQLColumnExpression[Any],
    ascending: bool,
) -> Select[*Ts]:
    return query.order_by(*((time.asc(), key.asc()) if ascending else (time.desc(), key.desc())))


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
    return _ordered(query, time, key, ascending).limit(limit + 1)


_OFFSET = bindparam("offset", type_=Integer)
_LIMIT = bindparam("limit", type_=Integer)


def bound_keyset_page(
    query: Select[*Ts],
    time: SQLColumnExpression[Any],
    key: SQLColumnExpression[Any],
    *,
    after_cursor: bool,
    ascending: bool = False,
) -> Select[*Ts]:
    """`keyset_page` for a statement built once: the cursor's position, the offset and the
    limit are bound parameters, run it with `keyset_values`."""
    if not after_cursor:
        return bound_offset_page(_ordered(query, time, key, ascending))
    # Typed as the columns, so each driver converts the values as it does theirs.
    start = tuple_(
        bindparam("cursor_time", type_=cast(ColumnElement[Any], time).type),
        bindparam("cursor_id", type_=cast(ColumnElement[Any], key).type),
    )
    query = query.where(_past(time, key, start, ascending=ascending))
    return _ordered(query, time, key, ascending).limit(_LIMIT)


def bound_offset_page(query: Select[*Ts]) -> Select[*Ts]:
    """A page by number of an ordered statement built once: `offset` and `limit` bound."""
    return query.offset(_OFFSET).limit(_LIMIT)


def keyset_values(*, limit: int, offset: int, cursor: Cursor | None) -> dict[str, Any]:
    """The bound values of a `bound_keyset_page` statement (`after_cursor` = a cursor given)."""
    if cursor is None:
        return {"limit": limit + 1, "offset": offset}
    return {"limit": limit + 1, "cursor_time": cursor.created_at, "cursor_id": cursor.id}


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

"""SQL idioms every service shares, written once: LIKE patterns, insert-or-ignore, rowcount,
the option of a bulk write the session need not follow, the list of ids a statement built
once takes, batches under the bind-parameter limits, and PostgreSQL's `simple` text search
documents."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CursorResult,
    Insert,
    Result,
    SQLColumnExpression,
    bindparam,
    func,
    literal_column,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

Item = TypeVar("Item")

LIKE_ESCAPE = "\\"
"""The escape character of the patterns `contains_pattern` writes."""

NO_SYNC: Mapping[str, Any] = {"synchronize_session": False}
"""Execution options of a bulk UPDATE or DELETE by criteria: the session is not asked to
find and refresh the objects it holds (rows it has loaded are reloaded by id if needed)."""

IDS: BindParameter[Any] = bindparam("ids", expanding=True)
"""`column.in_(IDS)` in a statement built once: run it with `{"ids": [...]}` (each list
expands to its own placeholders)."""

SIMPLE: ColumnElement[str] = literal_column("'simple'")
"""PostgreSQL's `simple` text search configuration, written into the SQL rather than bound: a
query's document must be the very expression of its GIN index (`search.models`) for
PostgreSQL to use the index, whatever plan the statement gets."""


def simple_tsvector(text: SQLColumnExpression[Any]) -> ColumnElement[Any]:
    """`to_tsvector('simple', text)`: the words of `text`, as our full-text indexes hold them."""
    return func.to_tsvector(SIMPLE, text)


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, its own `%`, `_` and `\\` taken literally."""
    escaped = (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )
    return f"%{escaped}%"


def like(
    column: SQLColumnExpression[Any], pattern: str, *, ignore_case: bool = True
) -> ColumnElement[bool]:
    """`column ILIKE pattern` (`LIKE` with `ignore_case=False`) for a `contains_pattern`
    pattern: with its escape character, which SQLite does not assume."""
    if ignore_case:
        return column.ilike(pattern, escape=LIKE_ESCAPE)
    return column.like(pattern, escape=LIKE_ESCAPE)


def dialect_insert(session: AsyncSession, model: Any) -> postgresql.Insert | sqlite.Insert:
    """`INSERT INTO model` in the session's dialect, the one that can say `ON CONFLICT`
    (PostgreSQL's clause, which SQLite speaks too)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def insert_ignoring_duplicates(
    session: AsyncSession, model: Any, index_elements: Sequence[str] | None = None
) -> Insert:
    """`INSERT INTO model ... ON CONFLICT [(index_elements)] DO NOTHING` in the session's
    dialect: a duplicate is skipped, not an error. Add `.values(...)` (and `.returning(...)`);
    `rowcount` then says whether a row went in."""
    return dialect_insert(session, model).on_conflict_do_nothing(
        index_elements=list(index_elements) if index_elements else None
    )


def batches(items: Sequence[Item], size: int) -> Iterable[Sequence[Item]]:
    """`items` in slices of `size`: one statement per slice keeps its bind parameters under
    PostgreSQL's limit (32767) and SQLite's (32766)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def rowcount(result: Result[Any]) -> int:
    """The rows an INSERT, UPDATE or DELETE wrote; 0 for a result that counts none."""
    return int(result.rowcount) if isinstance(result, CursorResult) else 0

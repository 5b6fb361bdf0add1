"""The one keyset-paging helper (`peal.core.pagination`) and the one pagination envelope
(`Pagination.of`): every list pages through them, so their rules are tested here once, on the
database under test (ties on the time broken by the id, both directions, cursor or offset)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from peal.core.pagination import after_cursor, cut_page, keyset_page
from peal.core.schemas import Cursor, Pagination, decode_cursor, encode_cursor
from peal.notifications.models import Notification
from tests.conftest import AuthedUser

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_cut_page_keeps_a_short_page_whole_and_gives_no_cursor() -> None:
    rows = [(T0, uuid.uuid4()), (T0, uuid.uuid4())]
    for limit in (2, 3):
        page, next_cursor = cut_page(rows, limit, lambda row: row)
        assert page == rows
        assert next_cursor is None


def test_cut_page_cuts_the_extra_row_and_points_past_the_last_kept() -> None:
    rows = [(T0 - timedelta(minutes=i), uuid.uuid4()) for i in range(3)]
    page, next_cursor = cut_page(rows, 2, lambda row: row)
    assert page == rows[:2]
    assert next_cursor is not None
    assert decode_cursor(next_cursor) == Cursor(created_at=rows[1][0], id=rows[1][1])


def test_cut_page_reads_the_position_of_the_first_entity_by_default() -> None:
    rows = [
        (SimpleNamespace(created_at=T0 - timedelta(minutes=i), id=uuid.uuid4()), "author")
        for i in range(3)
    ]
    page, next_cursor = cut_page(rows, 1)
    assert page == rows[:1]
    assert next_cursor == encode_cursor(rows[0][0].created_at, rows[0][0].id)


def test_after_cursor_compares_time_then_id_in_the_list_order() -> None:
    cursor = Cursor(created_at=T0, id=uuid.uuid4())
    newest_first = str(after_cursor(Notification.created_at, Notification.id, cursor))
    oldest_first = str(
        after_cursor(Notification.created_at, Notification.id, cursor, ascending=True)
    )
    assert "(notifications.created_at, notifications.id) <" in newest_first
    assert "(notifications.created_at, notifications.id) >" in oldest_first


def test_keyset_page_fetches_one_row_more_and_uses_offset_only_without_cursor() -> None:
    base = select(Notification)
    first = str(
        keyset_page(
            base, Notification.created_at, Notification.id, limit=5, offset=10, cursor=None
        ).compile(compile_kwargs={"literal_binds": True})
    )
    assert "ORDER BY notifications.created_at DESC, notifications.id DESC" in first
    assert "LIMIT 6 OFFSET 10" in first
    cursor = Cursor(created_at=T0, id=uuid.uuid4())
    after = str(
        keyset_page(
            base, Notification.created_at, Notification.id, limit=5, offset=10, cursor=cursor
        )
    )
    assert "OFFSET" not in after  # a cursor walks the index: no OFFSET scan
    assert "(notifications.created_at, notifications.id) <" in after


async def _notifications(app: FastAPI, user_id: uuid.UUID) -> list[tuple[datetime, uuid.UUID]]:
    """Seven notifications: three share one time (the id decides their order)."""
    times = [T0, T0, T0, T0 - timedelta(seconds=1), T0 + timedelta(seconds=1)]
    times += [T0 - timedelta(days=1), T0 + timedelta(days=1)]
    rows = [(at, uuid.uuid4()) for at in times]
    async with app.state.db.sessionmaker() as session:
        session.add_all(
            Notification(id=key, created_at=at, user_id=user_id, type="t", title="t", message="m")
            for at, key in rows
        )
        await session.commit()
    return rows


async def _walk(
    app: FastAPI, user_id: uuid.UUID, limit: int, *, ascending: bool
) -> list[uuid.UUID]:
    """Every id, page after page, following the next cursor."""
    seen: list[uuid.UUID] = []
    cursor: Cursor | None = None
    async with app.state.db.sessionmaker() as session:
        for _ in range(10):
            query = keyset_page(
                select(Notification).where(Notification.user_id == user_id),
                Notification.created_at,
                Notification.id,
                limit=limit,
                offset=0,
                cursor=cursor,
                ascending=ascending,
            )
            found: Any = (await session.scalars(query)).all()
            page, next_cursor = cut_page(found, limit, lambda n: (n.created_at, n.id))
            assert len(page) <= limit
            seen.extend(n.id for n in page)
            if next_cursor is None:
                return seen
            cursor = decode_cursor(next_cursor)
    raise AssertionError("the walk did not end")


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 20])
@pytest.mark.parametrize("ascending", [False, True])
async def test_walking_by_cursor_visits_every_row_once_in_order(
    app: FastAPI, woman: AuthedUser, limit: int, ascending: bool
) -> None:
    rows = await _notifications(app, woman.id)
    expected = [key for _at, key in sorted(rows, reverse=not ascending)]
    assert await _walk(app, woman.id, limit, ascending=ascending) == expected


async def test_offset_pages_and_the_last_page_has_no_cursor(
    app: FastAPI, woman: AuthedUser
) -> None:
    rows = await _notifications(app, woman.id)
    newest_first = [key for _at, key in sorted(rows, reverse=True)]
    async with app.state.db.sessionmaker() as session:
        pages = []
        for offset in (0, 3, 6):
            query = keyset_page(
                select(Notification).where(Notification.user_id == woman.id),
                Notification.created_at,
                Notification.id,
                limit=3,
                offset=offset,
                cursor=None,
            )
            found: Any = (await session.scalars(query)).all()
            pages.append(cut_page(found, 3, lambda n: (n.created_at, n.id)))
    assert [n.id for page, _ in pages for n in page] == newest_first
    assert [cursor is not None for _, cursor in pages] == [True, True, False]
    # The cursor of an offset page continues right after it.
    assert pages[0][1] == encode_cursor(pages[0][0][-1].created_at, pages[0][0][-1].id)


def test_pagination_of_counts_pages_and_says_whether_more_follow() -> None:
    first = Pagination.of(page=1, limit=20, total=41)
    assert (first.total_pages, first.has_more, first.next_cursor) == (3, True, None)
    last = Pagination.of(page=3, limit=20, total=41)
    assert (last.total_pages, last.has_more) == (3, False)
    empty = Pagination.of(page=1, limit=20, total=0)
    assert (empty.total_pages, empty.has_more) == (0, False)
    with_cursor = Pagination.of(page=3, limit=20, total=41, next_cursor="abc")
    assert with_cursor.has_more is True


def test_pagination_of_a_cursor_walk_trusts_only_the_cursor() -> None:
    # Walked by cursor, page 1 of 3 means nothing: no next cursor, no more.
    done = Pagination.of(page=1, limit=20, total=41, by_cursor=True)
    assert done.has_more is False
    more = Pagination.of(page=5, limit=20, total=41, next_cursor="abc", by_cursor=True)
    assert (more.has_more, more.next_cursor) == (True, "abc")

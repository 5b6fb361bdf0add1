"""Safety rules under real concurrency (PostgreSQL: many transactions at once)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from peal.users.models import DataExport, User, UserBlock, UserFollow
from tests.conftest import TARGET
from tests.helpers import ok
from tests.uploads.helpers import drain_jobs

pytestmark = [
    pytest.mark.committing,  # sessions race each other
    pytest.mark.skipif(
        TARGET != "postgres", reason="SQLite serialises writers: real concurrency needs PostgreSQL"
    ),
]


async def test_concurrent_export_requests_make_one_export(
    client: httpx.AsyncClient, app: FastAPI, woman: Any
) -> None:
    responses = await asyncio.gather(
        *(client.post("/api/users/me/export", headers=woman.headers) for _ in range(8))
    )
    assert sorted(r.status_code for r in responses) == [202] + [429] * 7
    await drain_jobs()
    async with app.state.db.sessionmaker() as session:
        count = await session.scalar(select(func.count()).select_from(DataExport))
    assert count == 1


async def test_block_racing_follows_leaves_counters_exact(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, make_user: Any
) -> None:
    other = await make_user()
    await ok(client.post(f"/api/users/{woman.id}/follow", headers=other.headers))
    responses = await asyncio.gather(
        client.post(f"/api/users/{other.id}/block", headers=woman.headers),
        *(client.post(f"/api/users/{woman.id}/follow", headers=other.headers) for _ in range(3)),
        *(client.post(f"/api/users/{other.id}/follow", headers=woman.headers) for _ in range(3)),
    )
    assert all(r.status_code in (200, 404) for r in responses), [r.text for r in responses]
    async with app.state.db.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(UserBlock)) == 1
        follows = await session.scalar(select(func.count()).select_from(UserFollow))
        rows = (await session.scalars(select(User).where(User.id.in_([woman.id, other.id])))).all()
    # Whatever the order, the counters match the rows that are left.
    assert sum(u.followers_count for u in rows) == follows
    assert sum(u.following_count for u in rows) == follows

"""The PostgreSQL pool is fixed: a burst past it waits for a connection instead of opening
(forking) and then closing overflow connections, request after request."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI
from sqlalchemy import text

from peal.db import Database
from tests.conftest import TARGET

pytestmark = [
    pytest.mark.skipif(TARGET != "postgres", reason="the pool is PostgreSQL's"),
    # It watches the pool's own connections: the per-test transaction holds one throughout.
    pytest.mark.committing,
]


async def _backend(database: Database, hold: asyncio.Barrier | float) -> int:
    """The server process behind one session, kept checked out a while."""
    async with database.read_sessionmaker() as session:
        pid = int(await session.scalar(text("SELECT pg_backend_pid()")) or 0)
        if isinstance(hold, asyncio.Barrier):
            await hold.wait()
        else:
            await asyncio.sleep(hold)
        return pid


async def test_a_burst_past_the_pool_reuses_the_pools_connections(app: FastAPI) -> None:
    database: Database = app.state.db
    size = app.state.settings.database_pool_size
    everyone_in = asyncio.Barrier(size)
    pool = set(await asyncio.gather(*(_backend(database, everyone_in) for _ in range(size))))
    assert len(pool) == size  # the pool is full and every connection in it is open
    burst = await asyncio.gather(*(_backend(database, 0.05) for _ in range(size + 5)))
    # With overflow, the sessions beyond the pool opened connections of their own (new
    # backends), closed again as soon as they came back to a full pool.
    assert set(burst) <= pool

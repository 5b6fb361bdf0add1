"""Pooled connections the server closed (a restart, a failover, `pg_terminate_backend`) cost
no failed request, without a ping at checkout: a checkout's first statement that finds the
server gone runs again on the same pool slot, connected anew (`peal.db`). Nothing else is run
twice: a connection lost after its first statement fails, and so does a statement's own error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from peal.db import Database
from tests.conftest import TARGET
from tests.helpers import terminate_backends

pytestmark = [
    pytest.mark.committing,  # the production session paths, on the app's own pool
    pytest.mark.skipif(TARGET != "postgres", reason="terminating server backends needs PostgreSQL"),
]


async def _terminate(database: Database, pid: int | None = None) -> int:
    return await terminate_backends(database.engine.url.render_as_string(hide_password=False), pid)


@pytest.fixture
def connects(app: FastAPI) -> Iterator[list[object]]:
    """Every connection the app's pool opens, from now on."""
    pool = app.state.db.engine.sync_engine.pool
    opened: list[object] = []

    def record(dbapi_connection: Any, _record: Any) -> None:
        opened.append(dbapi_connection)

    event.listen(pool, "connect", record)
    yield opened
    event.remove(pool, "connect", record)


@pytest.fixture
def sent(app: FastAPI) -> Iterator[list[str]]:
    """Every statement the app's engine sends, from now on."""
    engine = app.state.db.engine.sync_engine
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


async def test_connections_killed_under_the_app_cost_no_failed_request(
    app: FastAPI, client: httpx.AsyncClient, woman: Any, connects: list[object]
) -> None:
    profile = f"/api/users/{woman.id}"
    for first in ("read", "write", "burst"):
        # The pool holds live connections, several of them.
        await asyncio.gather(*(client.get("/api/videos?limit=1") for _ in range(4)))
        opened = len(connects)
        assert await _terminate(app.state.db) >= 1
        if first == "read":
            answer = await client.get("/api/videos?limit=1", headers=woman.headers)
        elif first == "write":  # a write session's first statement meets the dead connection
            answer = await client.put(profile, json={"bio": "hi"}, headers=woman.headers)
        else:  # every dead connection of the pool at once
            answers = await asyncio.gather(
                *(client.get("/api/videos?limit=1", headers=woman.headers) for _ in range(6))
            )
            assert [a.status_code for a in answers] == [200] * 6
            answer = answers[0]
        assert answer.status_code == 200, (first, answer.text)
        assert len(connects) > opened, "the dead connection was replaced"
        for _ in range(3):  # and the requests after it
            assert (await client.get(profile, headers=woman.headers)).status_code == 200
            answer = await client.put(profile, json={"bio": "hi"}, headers=woman.headers)
            assert answer.status_code == 200, answer.text


async def test_a_read_request_sends_its_statements_only(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ping at checkout (`pool_pre_ping`, or a `;` of our own), no BEGIN or COMMIT: the
    statements SQLAlchemy prepares are the only traffic. Those unprepared calls would show."""
    assert (await client.get("/api/videos/trending")).status_code == 200  # a pooled connection
    unprepared: list[str] = []
    for name in ("execute", "fetch", "fetchrow", "fetchval"):
        method = getattr(asyncpg.Connection, name)

        async def spy(self: Any, query: str, *args: Any, _method: Any = method, **kw: Any) -> Any:
            unprepared.append(query)
            return await _method(self, query, *args, **kw)

        monkeypatch.setattr(asyncpg.Connection, name, spy)
    assert (await client.get("/api/videos/trending")).status_code == 200
    assert unprepared == []


async def test_a_read_session_keeps_autocommit_on_its_replaced_connection(
    app: FastAPI, connects: list[object]
) -> None:
    database: Database = app.state.db
    async with database.read_sessionmaker() as session:
        await session.execute(text("SELECT 1"))
    await _terminate(database)
    async with database.read_sessionmaker() as session:
        # now() is the time its transaction began: in autocommit, each statement's own.
        first = await session.scalar(text("SELECT now()"))
        assert connects, "it ran on a new connection"
        assert await session.scalar(text("SELECT now() > :first"), {"first": first}) is True
    await _terminate(database)
    async with database.sessionmaker() as session:  # a streamed first statement too
        streamed = await session.stream_scalars(text("SELECT generate_series(1, 3)"))
        assert [n async for n in streamed] == [1, 2, 3]
    async with database.sessionmaker() as session:  # the probe tells a transaction apart
        first = await session.scalar(text("SELECT now()"))
        assert await session.scalar(text("SELECT now() > :first"), {"first": first}) is False


async def test_a_connection_lost_after_its_first_statement_fails_its_session(
    app: FastAPI, connects: list[object]
) -> None:
    database: Database = app.state.db
    async with database.sessionmaker() as session:
        pid = await session.scalar(text("SELECT pg_backend_pid()"))
        opened = len(connects)
        assert await _terminate(database, pid) == 1
        # What ran before on that connection is gone: running the rest elsewhere would commit
        # half a transaction. It fails instead.
        with pytest.raises(DBAPIError) as lost:
            await session.execute(text("SELECT 1"))
        assert lost.value.connection_invalidated
        assert len(connects) == opened, "nothing was run again on a new connection"
        await session.rollback()
    async with database.sessionmaker() as session:  # the pool recovers
        assert await session.scalar(text("SELECT 1")) == 1


async def test_a_statement_s_own_error_is_not_run_again(
    app: FastAPI, connects: list[object], sent: list[str]
) -> None:
    database: Database = app.state.db
    async with database.sessionmaker() as session:
        await session.execute(text("SELECT 1"))
    opened = len(connects)
    sent.clear()
    async with database.sessionmaker() as session:
        with pytest.raises(DBAPIError) as failed:
            await session.execute(text("SELECT 1 / 0"))
        assert not failed.value.connection_invalidated
    assert sent == ["SELECT 1 / 0"]
    assert len(connects) == opened


async def test_an_executemany_is_run_again_only_inside_a_transaction(app: FastAPI) -> None:
    database: Database = app.state.db
    probe = "dead_connection_probe"
    async with database.engine.begin() as connection:
        await connection.execute(text(f"CREATE TABLE IF NOT EXISTS {probe} (n int)"))
        await connection.execute(text(f"TRUNCATE {probe}"))
    rows = [{"n": 1}, {"n": 2}]
    insert = text(f"INSERT INTO {probe} (n) VALUES (:n)")  # noqa: S608 (a constant name)
    try:
        await _terminate(database)
        async with database.engine.begin() as connection:  # undone with the dead connection
            await connection.execute(insert, rows)
        await _terminate(database)
        autocommit = database.engine.execution_options(isolation_level="AUTOCOMMIT")
        with pytest.raises(DBAPIError):  # part of it may have landed: not run again
            async with autocommit.connect() as connection:
                await connection.execute(insert, rows)
        async with database.engine.connect() as connection:
            count = text(f"SELECT count(*) FROM {probe}")  # noqa: S608 (a constant name)
            assert await connection.scalar(count) == 2
    finally:
        async with database.engine.begin() as connection:
            await connection.execute(text(f"DROP TABLE {probe}"))

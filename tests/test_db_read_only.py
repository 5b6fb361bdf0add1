"""Read-only requests: `@read_only` handlers read in autocommit and may not write."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select, update

from peal.db import Database
from peal.users.models import User

# These test the production session paths themselves (autocommit reads).
pytestmark = pytest.mark.committing


def _record_isolation() -> tuple[list[tuple[str, Any]], Any]:
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(
            (statement.split()[0].upper(), conn.get_execution_options().get("isolation_level"))
        )

    return seen, record


async def test_read_only_lists_run_in_autocommit_and_writes_do_not(
    app: FastAPI, client: httpx.AsyncClient, woman: Any
) -> None:
    engine = app.state.db.engine.sync_engine
    seen, record = _record_isolation()
    event.listen(engine, "before_cursor_execute", record)
    try:
        for path in ("/api/videos?limit=5", "/api/videos/trending", "/api/requests"):
            answer = await client.get(path, headers=woman.headers)
            assert answer.status_code == 200, answer.text
        assert seen and all(level == "AUTOCOMMIT" for _, level in seen), seen
        seen.clear()
        answer = await client.put(
            f"/api/users/{woman.id}", json={"bio": "hi"}, headers=woman.headers
        )
        assert answer.status_code == 200, answer.text
        assert seen and all(level != "AUTOCOMMIT" for _, level in seen), seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_a_read_only_session_refuses_writes(app: FastAPI, woman: Any) -> None:
    database: Database = app.state.db
    async with database.read_sessionmaker() as session:
        with pytest.raises(RuntimeError, match="must not write"):
            await session.execute(update(User).where(User.id == woman.id).values(bio="x"))
    async with database.read_sessionmaker() as session:
        user = (await session.execute(select(User).where(User.id == woman.id))).scalar_one()
        user.bio = "changed"
        with pytest.raises(RuntimeError, match="must not write"):
            await session.flush()
    async with database.sessionmaker() as session:
        assert await session.scalar(select(User.bio).where(User.id == woman.id)) != "changed"

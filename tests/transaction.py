"""One database transaction per test, rolled back at its end (see `app` in tests/conftest.py).

Every session the app or the test opens (`Database.sessionmaker`, `read_sessionmaker`) is bound
to one connection in an open transaction and joins it through a SAVEPOINT: its commit releases
the savepoint, its rollback rolls back to it, and nothing reaches the database for good.

One connection can carry one savepoint stack, not two interleaved ones: two sessions of
different tasks (an after-commit job while the test sends its next request) would release each
other's savepoints. `SessionGate` lets one task's sessions use the connection at a time, like
SQLite's single writer; a test whose sessions really run side by side
(races, locks) is `@pytest.mark.committing` instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from peal.db import READ_ONLY, Database

# How long a session waits for another task's session to end. Far above any test's own use of
# a session: past it, the test waits on something that waits on its own open session.
GATE_TIMEOUT_SECONDS = 30.0


class SessionGate:
    """One task at a time holds the test connection, from the opening of its first session to
    the close of its last: a session it opens meanwhile nests its savepoint in the open one.
    Another task's session (an after-commit job, even one started while the holder's session is
    open, as the holder may still write) waits for the holder to close its sessions."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._depth = 0

    async def enter(self) -> None:
        task = asyncio.current_task()
        if self._owner is task and self._depth > 0:
            self._depth += 1
            return
        try:
            await asyncio.wait_for(self._lock.acquire(), GATE_TIMEOUT_SECONDS)
        except TimeoutError:
            raise RuntimeError(
                "the test's database connection stayed held by another task's session: a test "
                "that waits on a job or request while its own session is open, or runs sessions "
                "side by side, needs @pytest.mark.committing"
            ) from None
        self._owner = task
        self._depth = 1

    def leave(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
            self._lock.release()


class GatedSession(AsyncSession):
    """An AsyncSession that holds the `SessionGate` from `async with` to its close."""

    gate: SessionGate

    async def __aenter__(self) -> GatedSession:
        await self.gate.enter()
        return self

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        try:
            await super().__aexit__(type_, value, traceback)
        finally:
            self.gate.leave()


@asynccontextmanager
async def rolled_back(db: Database) -> AsyncIterator[AsyncConnection]:
    """Point `db`'s session factories at one connection in a transaction, for the duration."""
    gate = SessionGate()
    session_class = type("TestSession", (GatedSession,), {"gate": gate})
    saved = db.sessionmaker, db.read_sessionmaker
    async with db.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # pysqlite begins a transaction only before a DML statement, so the first SAVEPOINT
            # would be the transaction and its RELEASE a COMMIT. Take the driver out of its
            # transaction handling and BEGIN ourselves (SQLAlchemy's pysqlite savepoint recipe).
            await connection.execution_options(isolation_level="AUTOCOMMIT")
        transaction = await connection.begin()
        if sqlite:
            await connection.exec_driver_sql("BEGIN")
        options: dict[str, Any] = {
            "bind": connection,
            "class_": session_class,
            "expire_on_commit": False,
            "join_transaction_mode": "create_savepoint",
        }
        db.sessionmaker = async_sessionmaker(**options)
        db.read_sessionmaker = async_sessionmaker(**options, info={READ_ONLY: True})
        try:
            yield connection
        finally:
            db.sessionmaker, db.read_sessionmaker = saved
            if sqlite:
                await connection.exec_driver_sql("ROLLBACK")
            await transaction.rollback()

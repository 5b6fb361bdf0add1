"""The per-test transaction (tests/transaction.py): commits inside it are undone at its end, and
sessions of two tasks never interleave their savepoints on its one connection."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select

from peal.config import Settings
from peal.db import Database
from peal.users.models import User
from tests.transaction import rolled_back

# Its own Database and transaction, not the test's one.
pytestmark = pytest.mark.committing


def _user() -> User:
    return User(
        email=f"tx-{uuid.uuid4().hex[:10]}@example.com",
        name="Tx",
        role="woman",
        password_hash="x",
    )


async def _count(db: Database, email: str) -> int:
    async with db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).where(User.email == email)) or 0)


async def test_commits_inside_are_seen_inside_and_gone_after(settings: Settings) -> None:
    db = Database(settings)
    try:
        user = _user()
        async with rolled_back(db):
            async with db.sessionmaker() as session:
                session.add(user)
                await session.commit()
            async with db.read_sessionmaker() as reader:
                found = await reader.scalar(select(User.id).where(User.email == user.email))
            assert found == user.id
            # A failed session undoes only its own savepoint.
            async with db.sessionmaker() as session:
                session.add(_user())
                await session.flush()
                await session.rollback()
            assert await _count(db, user.email) == 1
        assert await _count(db, user.email) == 0
    finally:
        await db.dispose()


async def test_another_tasks_session_waits_for_the_open_one(settings: Settings) -> None:
    db = Database(settings)
    order: list[str] = []
    try:
        async with rolled_back(db):

            async def other() -> None:
                async with db.sessionmaker() as session:
                    order.append("other opens")
                    session.add(_user())
                    await session.commit()

            async with db.sessionmaker() as session:
                order.append("first opens")
                session.add(_user())
                await session.flush()
                task = asyncio.create_task(other())
                await asyncio.sleep(0.05)  # `other` runs meanwhile, up to its session
                # A session the holder nests is not kept waiting.
                async with db.sessionmaker() as nested:
                    await nested.execute(select(1))
                await session.commit()
                order.append("first closes")
            await task
        assert order == ["first opens", "first closes", "other opens"]
    finally:
        await db.dispose()

"""Helpers of the users tests: direct database access for setup and for checking purges."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI

from peal.db import utcnow
from peal.users.models import User


class Sql:
    """Short transactions of their own, outside any request, for setup and checks."""

    def __init__(self, app: FastAPI) -> None:
        self._sessionmaker = app.state.db.sessionmaker

    async def scalar(self, statement: Any) -> Any:
        async with self._sessionmaker() as session:
            return (await session.execute(statement)).scalar()

    async def scalars(self, statement: Any) -> list[Any]:
        async with self._sessionmaker() as session:
            return list((await session.scalars(statement)).all())

    async def run(self, statement: Any) -> None:
        async with self._sessionmaker() as session:
            await session.execute(statement)
            await session.commit()

    async def add(self, *rows: Any) -> None:
        async with self._sessionmaker() as session:
            for row in rows:
                session.add(row)
                await session.flush()
            await session.commit()


@pytest.fixture
def sql(app: FastAPI) -> Sql:
    return Sql(app)


@pytest.fixture
def insert_users(app: FastAPI) -> Callable[..., Any]:
    """`await insert_users(n, **fields)` → ids of n users inserted in one transaction.

    Their `created_at` are one second apart, the last the newest, so the order is known.
    """

    async def insert(count: int, start: datetime | None = None, **fields: Any) -> list[uuid.UUID]:
        base = start or utcnow() - timedelta(days=1)
        users = []
        async with app.state.db.sessionmaker() as session:
            for index in range(count):
                tag = uuid.uuid4().hex[:8]
                values = {
                    "email": f"bulk-{tag}@example.com",
                    "name": f"Bulk {index}",
                    "role": "woman",
                    "password_hash": None,
                    "created_at": base + timedelta(seconds=index),
                    **fields,
                }
                users.append(User(**values))
            session.add_all(users)
            await session.commit()
        return [user.id for user in users]

    return insert

"""Helpers of the notifications tests: inbox rows and settings written straight to the database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from peal.db import commit, utcnow
from peal.notifications.models import Notification
from peal.settings.models import UserSettings

AddNotifications = Callable[..., Awaitable[list[uuid.UUID]]]


@pytest.fixture
def add_notifications(app: FastAPI) -> AddNotifications:
    """`await add_notifications(user_id, 3, read=False, start=..., step=timedelta(...))`.

    Rows are `step` apart, the last one newest; `step=timedelta(0)` makes ties on created_at.
    """

    async def add(
        user_id: uuid.UUID,
        count: int,
        *,
        read: bool = False,
        type: str = "like",
        start: datetime | None = None,
        step: timedelta = timedelta(seconds=1),
    ) -> list[uuid.UUID]:
        first = start or utcnow() - count * step
        rows = [
            Notification(
                id=uuid.uuid4(),
                user_id=user_id,
                type=type,
                title=f"Title {n}",
                message=f"Message {n}",
                data={"n": n},
                is_read=read,
                created_at=first + n * step,
            )
            for n in range(count)
        ]
        async with app.state.db.sessionmaker() as session:
            session.add_all(rows)
            await session.commit()
        return [row.id for row in rows]

    return add


@pytest.fixture
def set_preferences(app: FastAPI) -> Callable[..., Awaitable[None]]:
    """`await set_preferences(user_id, mentor_messages_notifications=False, language="es")`."""

    async def change(user_id: uuid.UUID, **values: Any) -> None:
        async with app.state.db.sessionmaker() as session:
            await session.execute(
                update(UserSettings).where(UserSettings.user_id == user_id).values(**values)
            )
            await session.commit()

    return change


@pytest.fixture
def stored(app: FastAPI) -> Callable[..., Awaitable[list[Notification]]]:
    """The notifications stored for a user, newest first."""

    async def read(user_id: uuid.UUID) -> list[Notification]:
        async with app.state.db.sessionmaker() as session:
            result = await session.scalars(
                select(Notification)
                .where(Notification.user_id == user_id)
                .order_by(Notification.created_at.desc(), Notification.id.desc())
            )
            return list(result.all())

    return read


@pytest.fixture
def count_notifications(app: FastAPI) -> Callable[[], Awaitable[int]]:
    async def count() -> int:
        async with app.state.db.sessionmaker() as session:
            return int(await session.scalar(select(func.count()).select_from(Notification)) or 0)

    return count


@pytest.fixture
def transaction(app: FastAPI) -> Callable[[], Any]:
    """`async with transaction() as session:` a service call committed as a request would be
    (after-commit jobs included)."""

    @asynccontextmanager
    async def open_session() -> AsyncIterator[AsyncSession]:
        async with app.state.db.sessionmaker() as session:
            yield session
            await commit(session)

    return open_session

"""`release_connection`: a request can hand its connection back before a long wait."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from peal.db import Database, release_connection
from peal.users.models import User


async def test_release_returns_the_connection_and_keeps_loaded_rows(
    app: FastAPI, woman: Any
) -> None:
    database: Database = app.state.db
    async with database.sessionmaker() as session:
        user = (await session.execute(select(User).where(User.id == woman.id))).scalar_one()
        assert session.in_transaction()
        await release_connection(session)
        assert not session.in_transaction()  # no connection checked out any more
        assert user.email == woman.email  # still loaded, no lazy load needed
        again = await session.scalar(select(User.name).where(User.id == woman.id))
        assert again == user.name  # the next query checks a connection out again


async def test_release_refuses_a_session_with_writes(app: FastAPI, woman: Any) -> None:
    database: Database = app.state.db
    async with database.sessionmaker() as session:
        user = await session.get(User, woman.id)
        assert user is not None
        user.bio = "changed"
        with pytest.raises(RuntimeError):
            await release_connection(session)  # dirty, not flushed
        await session.flush()
        with pytest.raises(RuntimeError):
            await release_connection(session)  # flushed but not committed
        await session.rollback()
        await release_connection(session)  # nothing unsaved any more

"""`peal.core.realtime`: what services send goes out after the commit, never after a rollback."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from peal.core import realtime
from peal.db import commit


class FakeSink:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    async def emit_to_users(self, event: str, payload: Any, user_ids: Iterable[uuid.UUID]) -> None:
        self.sent.append((event, (payload, list(user_ids))))

    async def publish_notification(self, user_id: uuid.UUID, payload: dict[str, Any]) -> None:
        self.sent.append(("notification", (payload, [user_id])))

    async def disconnect_user(self, user_id: uuid.UUID) -> None:
        self.sent.append(("disconnect", user_id))

    async def is_online(self, user_id: uuid.UUID) -> bool:
        return False


@pytest.fixture
def sink(app: FastAPI) -> Iterator[FakeSink]:
    fake = FakeSink()
    realtime.set_sink(fake)
    yield fake
    realtime.set_sink(app.state.realtime)


async def test_nothing_is_sent_for_a_rolled_back_write(app: FastAPI, sink: FakeSink) -> None:
    user_id = uuid.uuid4()
    async with app.state.db.sessionmaker() as session:
        realtime.emit_after_commit(session, "message_received", {"id": "x"}, [user_id])
        realtime.disconnect_after_commit(session, user_id)
        await session.rollback()
        session.info.pop("after_commit", None)  # what the session dependency does on failure
    assert sink.sent == []


async def test_events_go_out_after_the_commit(app: FastAPI, sink: FakeSink) -> None:
    user_id = uuid.uuid4()
    async with app.state.db.sessionmaker() as session:
        realtime.emit_after_commit(session, "conversation_read", {"c": 1}, [user_id, user_id])
        realtime.disconnect_after_commit(session, user_id)
        assert sink.sent == []
        await commit(session)
    assert sink.sent == [
        ("conversation_read", ({"c": 1}, [user_id])),
        ("disconnect", user_id),
    ]


async def test_without_a_sink_nobody_is_online_and_nothing_fails(app: FastAPI) -> None:
    realtime.set_sink(None)
    try:
        assert await realtime.is_online(uuid.uuid4()) is False
        async with app.state.db.sessionmaker() as session:
            realtime.emit_after_commit(session, "x", {}, [uuid.uuid4()])
            await commit(session)
    finally:
        realtime.set_sink(app.state.realtime)

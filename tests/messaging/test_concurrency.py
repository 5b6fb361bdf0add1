"""Concurrency on PostgreSQL: unread counters exact under parallel messages, one conversation
per pair when both start it at once. (SQLite serialises writers and is skipped.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from peal.messaging.models import Conversation
from tests.conftest import TARGET, AuthedUser
from tests.messaging.conftest import Start

pytestmark = [
    pytest.mark.committing,  # sessions race each other
    pytest.mark.skipif(TARGET != "postgres", reason="concurrency needs PostgreSQL"),
]


async def test_50_concurrent_messages_leave_unread_count_at_exactly_50(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, start: Start
) -> None:
    conversation = await start(sponsor, woman)
    url = f"/api/conversations/{conversation['id']}/messages"

    responses = await asyncio.gather(
        *(
            client.post(url, json={"content": f"message {n}"}, headers=sponsor.headers)
            for n in range(50)
        )
    )

    assert [r.status_code for r in responses] == [201] * 50, [r.text for r in responses[:3]]
    mine = (await client.get("/api/conversations", headers=woman.headers)).json()["data"][0]
    theirs = (await client.get("/api/conversations", headers=sponsor.headers)).json()["data"][0]
    assert mine["unreadCount"] == 50
    assert theirs["unreadCount"] == 0
    page = await client.get(url, params={"limit": 100}, headers=woman.headers)
    assert page.json()["pagination"]["total"] == 50
    # One notification for the burst, not fifty.
    inbox = (await client.get("/api/notifications", headers=woman.headers)).json()
    assert [n["type"] for n in inbox["data"]] == ["message"]


async def test_both_sides_starting_at_once_get_one_conversation(
    app: FastAPI, client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> None:
    pairs = [(await make_user("woman"), await make_user("sponsor")) for _ in range(5)]

    responses = await asyncio.gather(
        *(
            client.post("/api/conversations", json={"participantId": str(b.id)}, headers=a.headers)
            for a, b in pairs
            for _ in range(4)
        ),
        *(
            client.post("/api/conversations", json={"participantId": str(a.id)}, headers=b.headers)
            for a, b in pairs
            for _ in range(4)
        ),
    )

    assert {r.status_code for r in responses} <= {200, 201}, [r.text for r in responses[:3]]
    assert sum(r.status_code == 201 for r in responses) == 5
    async with app.state.db.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Conversation)) == 5


async def test_a_burst_of_first_messages_makes_one_request_and_one_notification(
    client: httpx.AsyncClient, make_user: Callable[..., Any], start: Start
) -> None:
    amara: AuthedUser = await make_user("woman", message_privacy="following")
    sofia: AuthedUser = await make_user("sponsor")
    conversation = await start(sofia, amara)
    url = f"/api/conversations/{conversation['id']}/messages"

    responses = await asyncio.gather(
        *(client.post(url, json={"content": f"hi {n}"}, headers=sofia.headers) for n in range(10))
    )

    assert sorted(r.status_code for r in responses) == [201] + [403] * 9
    assert {r.json()["code"] for r in responses if r.status_code == 403} == {
        "message_request_pending"
    }
    inbox = (await client.get("/api/notifications", headers=amara.headers)).json()
    assert [n["type"] for n in inbox["data"]] == ["message_request"]

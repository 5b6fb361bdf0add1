"""`peal seed`'s messaging step: demo conversations with messages, added once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from peal.messaging.models import Conversation, Message
from peal.seed import DEMO_CONVERSATIONS, seed_messages
from peal.users.models import User
from tests.conftest import AuthedUser

DEMO_EMAILS = {
    "amara@demo.peal.app": "woman",
    "lucia@demo.peal.app": "woman",
    "grace@demo.peal.app": "sponsor",
}


async def _count(app: FastAPI, model: Any) -> int:
    async with app.state.db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_seed_adds_the_demo_conversations_once(
    app: FastAPI, client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> None:
    people: dict[str, AuthedUser] = {
        email: await make_user(role, email=email) for email, role in DEMO_EMAILS.items()
    }
    for _ in range(2):
        async with app.state.db.sessionmaker() as session:
            users = {email: await session.get(User, p.id) for email, p in people.items()}
            await seed_messages(session, {k: v for k, v in users.items() if v is not None})

    assert await _count(app, Conversation) == len(DEMO_CONVERSATIONS)
    assert await _count(app, Message) == sum(len(lines) for *_, lines in DEMO_CONVERSATIONS)
    amara = people["amara@demo.peal.app"]
    listed = (await client.get("/api/messages", headers=amara.headers)).json()["data"]
    assert len(listed) == 2
    assert all(c["lastMessage"] is not None for c in listed)
    assert sum(c["unreadCount"] for c in listed) > 0

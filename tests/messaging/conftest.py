"""Helpers of the messaging tests: starting conversations and sending messages over HTTP."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.conftest import AuthedUser

Start = Callable[..., Awaitable[dict[str, Any]]]
Send = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def start(client: httpx.AsyncClient) -> Start:
    """`await start(me, other, content=None)` → the conversation (fails unless 200/201)."""

    async def open_conversation(
        me: AuthedUser, other: AuthedUser, content: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"participantId": str(other.id)}
        if content is not None:
            body["content"] = content
        response = await client.post("/api/conversations", json=body, headers=me.headers)
        assert response.status_code in (200, 201), response.text
        conversation: dict[str, Any] = response.json()["conversation"]
        return conversation

    return open_conversation


@pytest.fixture
def send(client: httpx.AsyncClient) -> Send:
    """`await send(me, conversation_id, "text")` → the message (fails unless 201)."""

    async def post(me: AuthedUser, conversation_id: str, content: str) -> dict[str, Any]:
        response = await client.post(
            f"/api/conversations/{conversation_id}/messages",
            json={"content": content},
            headers=me.headers,
        )
        assert response.status_code == 201, response.text
        message: dict[str, Any] = response.json()["message"]
        return message

    return post

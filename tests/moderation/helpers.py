"""Helpers of the moderation and admin tests: one piece of content of each reportable type,
reports and reviews through the API, notifications read straight from the database."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from peal.notifications.models import Notification
from tests.events.test_events import create_event
from tests.funding.helpers import create_request
from tests.stories.test_stories import create_story
from tests.uploads.helpers import insert_videos


async def make_content(
    client: httpx.AsyncClient, app: FastAPI, author: Any, content_type: str
) -> str:
    """One piece of `content_type` by `author`, visible to everyone; its id."""
    if content_type == "user":
        return str(author.id)
    if content_type == "video":
        [video_id] = await insert_videos(app, author.id, 1)
        return str(video_id)
    if content_type == "comment":
        [video_id] = await insert_videos(app, author.id, 1)
        response = await client.post(
            f"/api/videos/{video_id}/comments", json={"content": "Hello"}, headers=author.headers
        )
        assert response.status_code == 201, response.text
        return str(response.json()["comment"]["id"])
    if content_type == "request":
        return str((await create_request(client, author))["id"])
    if content_type == "story":
        return str((await create_story(client, author))["id"])
    if content_type == "event":
        return str((await create_event(client, author))["id"])
    raise AssertionError(content_type)


# How a reader fetches one piece of content (GET path) and a list that shows it.
def read_path(content_type: str, content_id: str, video_of_comment: str | None = None) -> str:
    return {
        "user": f"/api/users/{content_id}",
        "video": f"/api/videos/{content_id}",
        "request": f"/api/requests/{content_id}",
        "story": f"/api/stories/{content_id}",
        "event": f"/api/events/{content_id}",
        "comment": f"/api/videos/{video_of_comment}/comments",
    }[content_type]


async def report(
    client: httpx.AsyncClient,
    reporter: Any,
    content_type: str,
    content_id: Any,
    reason: str = "scam",
    expect: int = 201,
    **fields: Any,
) -> dict[str, Any]:
    response = await client.post(
        "/api/moderation/report",
        json={
            "contentType": content_type,
            "contentId": str(content_id),
            "reason": reason,
            **fields,
        },
        headers=reporter.headers,
    )
    assert response.status_code == expect, response.text
    body: dict[str, Any] = response.json()
    return body


async def review(
    client: httpx.AsyncClient,
    admin: Any,
    report_id: str,
    action: str,
    note: str | None = None,
    expect: int = 200,
) -> dict[str, Any]:
    body: dict[str, Any] = {"action": action}
    if note is not None:
        body["note"] = note
    response = await client.post(
        f"/api/moderation/{report_id}/review", json=body, headers=admin.headers
    )
    assert response.status_code == expect, response.text
    out: dict[str, Any] = response.json()
    return out


async def notifications_of(app: FastAPI, user_id: uuid.UUID) -> list[Notification]:
    async with app.state.db.sessionmaker() as session:
        rows = await session.scalars(
            select(Notification)
            .where(Notification.user_id == user_id)
            .order_by(Notification.created_at)
        )
        return list(rows.all())

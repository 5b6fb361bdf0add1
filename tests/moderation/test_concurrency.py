"""Moderation under real concurrency (PostgreSQL: many transactions at once)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from peal.moderation.models import ModerationReport
from tests.conftest import TARGET
from tests.moderation.helpers import notifications_of
from tests.uploads.helpers import insert_videos

pytestmark = [
    pytest.mark.committing,  # sessions race each other
    pytest.mark.skipif(
        TARGET != "postgres", reason="SQLite serialises writers: real concurrency needs PostgreSQL"
    ),
]


def _report(client: httpx.AsyncClient, user: Any, video_id: Any) -> Any:
    return client.post(
        "/api/moderation/report",
        json={"contentType": "video", "contentId": str(video_id), "reason": "spam"},
        headers=user.headers,
    )


async def test_one_open_report_per_person_at_once(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any
) -> None:
    [video_id] = await insert_videos(app, woman.id, 1)
    responses = await asyncio.gather(*(_report(client, sponsor, video_id) for _ in range(6)))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 5
    async with app.state.db.sessionmaker() as session:
        rows = await session.scalar(select(func.count()).select_from(ModerationReport))
    assert rows == 1


async def test_simultaneous_reporters_hide_once(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, make_user: Any
) -> None:
    [video_id] = await insert_videos(app, woman.id, 1)
    people = [await make_user("sponsor") for _ in range(8)]
    responses = await asyncio.gather(*(_report(client, p, video_id) for p in people))
    codes = sorted(r.status_code for r in responses)
    # The third report hides it: the later ones no longer see it.
    assert codes == [201] * 3 + [404] * 5
    told = [n for n in await notifications_of(app, woman.id) if n.type == "content_under_review"]
    assert len(told) == 1


async def test_two_admins_demoting_each_other_leave_one(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    first, second = await make_user("admin"), await make_user("admin")
    responses = await asyncio.gather(
        client.patch(
            f"/api/admin/users/{second.id}", json={"role": "woman"}, headers=first.headers
        ),
        client.patch(
            f"/api/admin/users/{first.id}", json={"role": "woman"}, headers=second.headers
        ),
    )
    assert sorted(r.status_code for r in responses) in ([200, 403], [200, 409])


async def test_one_review_wins(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any, admin: Any
) -> None:
    [video_id] = await insert_videos(app, woman.id, 1)
    created = (await _report(client, sponsor, video_id)).json()["report"]
    path = f"/api/moderation/{created['id']}/review"
    responses = await asyncio.gather(
        *(
            client.post(path, json={"action": action}, headers=admin.headers)
            for action in ("dismiss", "remove_content", "warn", "dismiss")
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409]


async def test_two_admins_banning_each_other_leave_one(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    first, second = await make_user("admin"), await make_user("admin")
    responses = await asyncio.gather(
        client.patch(
            f"/api/admin/users/{second.id}", json={"isBanned": True}, headers=first.headers
        ),
        client.patch(
            f"/api/admin/users/{first.id}", json={"isBanned": True}, headers=second.headers
        ),
    )
    assert sorted(r.status_code for r in responses) in ([200, 401], [200, 409])

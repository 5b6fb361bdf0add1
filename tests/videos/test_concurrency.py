"""Counters stay exact under real concurrency (PostgreSQL: many transactions at once)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from peal.videos.models import Video, VideoComment, VideoLike, VideoView
from tests.conftest import TARGET
from tests.uploads.helpers import insert_videos

pytestmark = [
    pytest.mark.committing,  # sessions race each other
    pytest.mark.skipif(
        TARGET != "postgres", reason="SQLite serialises writers: real concurrency needs PostgreSQL"
    ),
]


async def _video(app: FastAPI, video_id: Any) -> Video:
    async with app.state.db.sessionmaker() as session:
        video = await session.get(Video, video_id)
        assert video is not None
        return video


async def test_concurrent_likes_and_unlikes_keep_the_count_exact(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, make_user: Any
) -> None:
    [video_id] = await insert_videos(app, woman.id, 1)
    fans = [await make_user() for _ in range(30)]
    path = f"/api/videos/{video_id}/like"
    # Every fan likes three times at once: 90 requests, 30 likes.
    responses = await asyncio.gather(
        *(client.post(path, headers=fan.headers) for fan in fans for _ in range(3))
    )
    assert {r.status_code for r in responses} == {200}
    video = await _video(app, video_id)
    assert video.likes_count == 30
    # Half of them unlike twice while the others like again: 15 likes remain.
    responses = await asyncio.gather(
        *(client.delete(path, headers=fan.headers) for fan in fans[:15] for _ in range(2)),
        *(client.post(path, headers=fan.headers) for fan in fans[15:]),
    )
    assert {r.status_code for r in responses} == {200}
    async with app.state.db.sessionmaker() as session:
        rows = await session.scalar(
            select(func.count()).select_from(VideoLike).where(VideoLike.video_id == video_id)
        )
    assert rows == 15
    assert (await _video(app, video_id)).likes_count == 15


async def test_concurrent_views_count_once_per_viewer(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any
) -> None:
    [video_id] = await insert_videos(app, woman.id, 1)
    path = f"/api/videos/{video_id}/view"
    # Anonymous viewers are their IP: 20 addresses (each with rotating User-Agents).
    addresses = [
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(f"198.51.100.{i}", 4000)),
            base_url="http://testserver",
        )
        for i in range(20)
    ]
    responses = await asyncio.gather(
        *(client.post(path, headers=sponsor.headers) for _ in range(25)),
        *(addresses[i % 20].post(path, headers={"User-Agent": f"agent {i}"}) for i in range(60)),
    )
    for address in addresses:
        await address.aclose()
    assert {r.status_code for r in responses} == {200}
    assert sum(r.json()["counted"] for r in responses) == 21
    async with app.state.db.sessionmaker() as session:
        rows = await session.scalar(
            select(func.count()).select_from(VideoView).where(VideoView.video_id == video_id)
        )
    assert rows == 21
    assert (await _video(app, video_id)).views_count == 21


async def test_concurrent_shares_count_once_per_sharer(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any
) -> None:
    [video_id] = await insert_videos(app, woman.id, 1)
    path = f"/api/videos/{video_id}/share"
    responses = await asyncio.gather(
        *(client.post(path, headers=sponsor.headers) for _ in range(20)),
        *(client.post(path, headers={"User-Agent": f"agent {i}"}) for i in range(30)),
    )
    assert {r.status_code for r in responses} == {200}
    assert (await _video(app, video_id)).shares_count == 2


async def test_concurrent_comments_and_thread_deletions_keep_counts_exact(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, make_user: Any
) -> None:
    [video_id] = await insert_videos(app, woman.id, 1)
    users = [await make_user() for _ in range(10)]
    path = f"/api/videos/{video_id}/comments"
    root = (await client.post(path, json={"content": "root"}, headers=woman.headers)).json()
    root_id = root["comment"]["id"]
    # Replies pour in while the thread is deleted and other comments are added.
    responses = await asyncio.gather(
        *(
            client.post(path, json={"content": "reply", "parentId": root_id}, headers=u.headers)
            for u in users
        ),
        client.delete(f"{path}/{root_id}", headers=woman.headers),
        *(client.post(path, json={"content": "top"}, headers=u.headers) for u in users),
    )
    # A reply that lost the race to the deletion finds no parent (422), never a 500.
    assert {r.status_code for r in responses} <= {201, 204, 422}
    async with app.state.db.sessionmaker() as session:
        rows = await session.scalar(
            select(func.count()).select_from(VideoComment).where(VideoComment.video_id == video_id)
        )
    assert (await _video(app, video_id)).comments_count == rows
    assert rows is not None and rows >= 10

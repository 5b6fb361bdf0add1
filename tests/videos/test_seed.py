"""`peal seed`'s video step: real clips, processed, with likes, views and comments; once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from peal.seed import DEMO_VIDEOS, seed_videos
from peal.users.models import User
from peal.videos.models import Video, VideoComment
from tests.uploads.helpers import read_url


async def test_seed_videos_makes_a_living_feed_once(
    app: FastAPI, client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> None:
    people = {
        "amara@demo.peal.app": await make_user("woman", email="amara@demo.peal.app"),
        "lucia@demo.peal.app": await make_user("woman", email="lucia@demo.peal.app"),
        "grace@demo.peal.app": await make_user("sponsor", email="grace@demo.peal.app"),
    }
    for _ in range(2):
        async with app.state.db.sessionmaker() as session:
            users = {email: await session.get(User, person.id) for email, person in people.items()}
            await seed_videos(session, app.state.settings, users)

    async with app.state.db.sessionmaker() as session:
        videos = list(await session.scalars(select(Video)))
        comments = await session.scalar(select(func.count()).select_from(VideoComment))
    assert len(videos) == len(DEMO_VIDEOS)
    assert {v.status for v in videos} == {"ready"}
    assert all(v.video_duration == 2 and v.thumbnail_url for v in videos)
    assert sum(v.likes_count for v in videos) > 0 and all(v.views_count > 0 for v in videos)
    assert comments == 4
    feed = (await client.get("/api/videos/feed")).json()
    assert len(feed["data"]) == len(DEMO_VIDEOS)
    assert any(v["isTrending"] for v in feed["data"])
    clip = await read_url(client, feed["data"][0]["videoUrl"])
    assert clip.status_code == 200 and clip.content[4:8] == b"ftyp"

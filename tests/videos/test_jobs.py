"""The video jobs run directly: idempotent processing, the stuck-video sweeper, the fan-out in
batches, and the sweep of abandoned uploads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from peal.notifications.models import Notification
from peal.storage.base import staging_key
from peal.uploads.models import Upload
from peal.uploads.tasks import sweep_abandoned_uploads
from peal.users.models import UserFollow
from peal.videos import tasks
from peal.videos.models import Video
from tests.uploads.helpers import demo_mp4, drain_jobs, presign, publish, put_bytes


async def _video(app: FastAPI, video_id: Any) -> Video:
    async with app.state.db.sessionmaker() as session:
        video = await session.get(Video, uuid.UUID(str(video_id)))
        assert video is not None
        return video


async def _set_video(app: FastAPI, video_id: Any, **values: Any) -> None:
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(Video).where(Video.id == uuid.UUID(str(video_id))).values(**values)
        )
        await session.commit()


async def test_processing_is_idempotent(
    client: httpx.AsyncClient, app: FastAPI, woman: Any
) -> None:
    video = await publish(client, woman)
    ready = await _video(app, video["id"])
    assert ready.status == "ready" and ready.processing_attempts == 1
    assert await tasks.process_video_now(ready.id) == "skipped"
    again = await _video(app, video["id"])
    assert again.processing_attempts == 1 and again.thumbnail_url == ready.thumbnail_url
    assert await tasks.process_video_now(uuid.uuid4()) == "skipped"  # deleted meanwhile


async def test_sweeper_requeues_stuck_videos_then_gives_up(
    client: httpx.AsyncClient, app: FastAPI, woman: Any
) -> None:
    video = await publish(client, woman)
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    # As if the worker had died mid-way: still processing, started long ago.
    await _set_video(
        app, video["id"], status="processing", processing_started_at=long_ago, processing_attempts=1
    )
    recent = await publish(client, woman)
    await _set_video(
        app, recent["id"], status="processing", processing_started_at=datetime.now(UTC)
    )

    result = await tasks.sweep_stuck_videos()
    assert result.requeued == [uuid.UUID(video["id"])] and result.failed == []
    await drain_jobs()
    done = await _video(app, video["id"])
    assert done.status == "ready" and done.processing_attempts == 2
    assert (await _video(app, recent["id"])).status == "processing"  # not stuck yet

    await _set_video(app, recent["id"], processing_started_at=long_ago, processing_attempts=3)
    result = await tasks.sweep_stuck_videos()
    assert result.failed == [uuid.UUID(recent["id"])]
    assert (await _video(app, recent["id"])).status == "failed"
    async with app.state.db.sessionmaker() as session:
        told = await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == woman.id, Notification.type == "video_failed")
        )
    assert told == 1


async def test_followers_are_notified_in_batches(
    client: httpx.AsyncClient,
    app: FastAPI,
    woman: Any,
    make_user: Any,
    monkeypatch: pytest.MonkeyPatch,
    count_queries: Any,
) -> None:
    monkeypatch.setattr(tasks, "FAN_OUT_BATCH", 2)
    followers = [await make_user() for _ in range(5)]
    banned = await make_user(is_banned=True)
    async with app.state.db.sessionmaker() as session:
        for follower in [*followers, banned]:
            session.add(UserFollow(follower_id=follower.id, following_id=woman.id))
        await session.commit()
    count_queries.reset()
    await publish(client, woman)
    inserts = [
        s
        for s in count_queries.statements
        if s.lstrip().upper().startswith("INSERT INTO NOTIFICATIONS")
    ]
    # video_ready for the author, then one INSERT per batch of followers: 2 + 2 + 1.
    assert len(inserts) == 4
    async with app.state.db.sessionmaker() as session:
        notified = list(
            await session.scalars(
                select(Notification.user_id).where(Notification.type == "video_upload")
            )
        )
    assert sorted(map(str, notified)) == sorted(str(f.id) for f in followers)


async def test_abandoned_uploads_are_swept(
    client: httpx.AsyncClient, app: FastAPI, woman: Any
) -> None:
    stale = await presign(client, woman, "video/mp4")
    await put_bytes(client, stale["uploadUrl"], demo_mp4(), "video/mp4")
    fresh = await presign(client, woman, "video/mp4")
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(Upload)
            .where(Upload.key == stale["key"])
            .values(created_at=datetime.now(UTC) - timedelta(days=1))
        )
        await session.commit()
    assert await app.state.storage.size(staging_key(stale["key"])) is not None
    assert await sweep_abandoned_uploads() == 1
    assert await app.state.storage.size(staging_key(stale["key"])) is None
    async with app.state.db.sessionmaker() as session:
        keys = list(await session.scalars(select(Upload.key)))
    assert keys == [fresh["key"]]


@pytest.mark.committing  # its requests race each other
async def test_two_runs_at_once_publish_once(
    client: httpx.AsyncClient, app: FastAPI, woman: Any
) -> None:
    import asyncio

    video = await publish(client, woman, wait=False)  # its own job runs too: three runs
    outcomes = await asyncio.gather(
        tasks.process_video_now(uuid.UUID(video["id"])),
        tasks.process_video_now(uuid.UUID(video["id"])),
    )
    await drain_jobs()
    assert outcomes.count("ready") <= 1
    async with app.state.db.sessionmaker() as session:
        ready_notes = await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == woman.id, Notification.type == "video_ready")
        )
        thumbnails = list(await session.scalars(select(Upload.key).where(Upload.kind == "image")))
    assert ready_notes == 1
    stored = await _video(app, video["id"])
    assert thumbnails == [stored.thumbnail_key]
    files = sorted(p.name for p in app.state.storage.root.rglob("*.jpg"))
    assert files == [stored.thumbnail_key.rsplit("/", 1)[-1]]

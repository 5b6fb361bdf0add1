"""The whole flow with a real MP4, on the local backend and on S3 (moto): upload, create,
processing, ready (duration and thumbnail), notifications, deletion of the files."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from peal.config import Settings
from peal.notifications.models import Notification
from peal.storage.base import new_key, staging_key
from peal.uploads.models import Upload
from peal.uploads.service import register_stored_file
from peal.users.models import UserFollow
from tests.uploads.helpers import (
    MotoS3,
    demo_mp4,
    demo_webm,
    drain_jobs,
    publish,
    read_url,
    undecodable_mp4,
    upload,
    uploaded_url,
)


@pytest.fixture(params=["local", "s3"])
def settings(request: pytest.FixtureRequest, settings: Settings, moto_s3: MotoS3) -> Settings:
    if request.param == "s3":
        return moto_s3.settings(settings)
    return settings


async def _notifications(app: FastAPI, user_id: Any) -> list[Notification]:
    async with app.state.db.sessionmaker() as session:
        rows = await session.scalars(select(Notification).where(Notification.user_id == user_id))
        return list(rows)


async def test_upload_create_process_ready(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, make_user: Any
) -> None:
    follower = await make_user("sponsor")
    async with app.state.db.sessionmaker() as session:
        session.add(UserFollow(follower_id=follower.id, following_id=woman.id))
        await session.commit()

    video_url = await uploaded_url(client, woman, demo_mp4(), "video/mp4")
    created = await client.post(
        "/api/videos",
        json={
            "videoUrl": video_url,
            "title": "<b>My bakery</b>",
            "description": "Three years, two ovens.",
            "category": "Entrepreneurship",
            "tags": ["#Baking", " small   business ", "baking", ""],
        },
        headers=woman.headers,
    )
    assert created.status_code == 201, created.text
    video = created.json()["video"]
    assert video["status"] == "processing"
    assert video["title"] == "My bakery"
    assert video["category"] == "entrepreneurship"
    assert video["tags"] == ["baking", "small business"]
    assert video["videoUrl"] == video_url
    # The web client's video modal shows the author's location.
    assert video["author"] == {
        "id": str(woman.id),
        "name": woman.name,
        "avatarUrl": None,
        "location": None,
    }
    assert video["videoDuration"] is None and video["thumbnailUrl"] is None
    assert video["createdAt"].endswith("Z")

    await drain_jobs()
    ready = (await client.get(f"/api/videos/{video['id']}")).json()["video"]
    assert ready["status"] == "ready"
    assert ready["videoDuration"] == 2
    thumbnail = await read_url(client, ready["thumbnailUrl"])
    assert thumbnail.status_code == 200
    assert thumbnail.content.startswith(b"\xff\xd8\xff")
    assert set(ready) == {
        "id", "title", "description", "thumbnailUrl", "videoUrl", "videoDuration", "category",
        "tags", "status", "authorId", "author", "viewsCount", "likesCount", "commentsCount",
        "sharesCount", "isTrending", "likedByMe", "createdAt", "updatedAt",
    }  # fmt: skip
    # What plays is a clean copy (remuxed without metadata); the original is gone.
    assert ready["videoUrl"] != video_url
    played = await read_url(client, ready["videoUrl"])
    assert played.status_code == 200 and played.content[4:8] == b"ftyp"
    assert (await read_url(client, video_url)).status_code in (403, 404)

    assert [n.type for n in await _notifications(app, woman.id)] == ["video_ready"]
    fanned = await _notifications(app, follower.id)
    assert [n.type for n in fanned] == ["video_upload"]
    assert fanned[0].data == {"videoId": video["id"], "authorId": str(woman.id)}

    # Deleting the video removes its stored files (video and generated thumbnail).
    deleted = await client.delete(f"/api/videos/{video['id']}", headers=woman.headers)
    assert deleted.status_code == 204
    await drain_jobs()
    assert (await read_url(client, ready["videoUrl"])).status_code in (403, 404)
    assert (await read_url(client, ready["thumbnailUrl"])).status_code in (403, 404)
    async with app.state.db.sessionmaker() as session:
        assert (await session.scalars(select(Upload))).all() == []


async def test_webm_video_is_processed_too(client: httpx.AsyncClient, woman: Any) -> None:
    url = await uploaded_url(client, woman, demo_webm(), "video/webm")
    video = await publish(client, woman, videoUrl=url)
    ready = (await client.get(f"/api/videos/{video['id']}", headers=woman.headers)).json()
    assert ready["video"]["status"] == "ready"
    assert ready["video"]["videoDuration"] == 1


async def test_undecodable_file_is_refused_at_completion(
    client: httpx.AsyncClient, app: FastAPI, woman: Any
) -> None:
    response = await upload(client, woman, undecodable_mp4(), "video/mp4")
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "file"
    async with app.state.db.sessionmaker() as session:
        (key,) = (await session.scalars(select(Upload.key))).all()
    assert await app.state.storage.size(staging_key(key)) is None
    assert await app.state.storage.size(key) is None


async def test_undecodable_file_fails_and_the_author_is_told(
    client: httpx.AsyncClient, app: FastAPI, woman: Any
) -> None:
    # A file the server stored itself (not checked on completion) that FFmpeg cannot read.
    storage = app.state.storage
    key = new_key(woman.id, "mp4")
    await storage.write(key, undecodable_mp4(), "video/mp4")
    async with app.state.db.sessionmaker() as session:
        stored = await register_stored_file(
            session,
            owner_id=woman.id,
            key=key,
            kind="video",
            content_type="video/mp4",
            size=len(undecodable_mp4()),
            url=storage.public_url(key),
            in_use=False,
        )
        url = stored.url
        await session.commit()
    video = await publish(client, woman, videoUrl=url)
    failed = (await client.get(f"/api/videos/{video['id']}", headers=woman.headers)).json()
    assert failed["video"]["status"] == "failed"
    assert (await client.get(f"/api/videos/{video['id']}")).status_code == 404
    notes = await _notifications(app, woman.id)
    assert [n.type for n in notes] == ["video_failed"]


async def test_a_given_thumbnail_is_kept(client: httpx.AsyncClient, woman: Any) -> None:
    from tests.uploads.helpers import jpeg_with_gps

    thumbnail = await uploaded_url(client, woman, jpeg_with_gps(), "image/jpeg")
    video = await publish(client, woman, thumbnailUrl=thumbnail)
    ready = (await client.get(f"/api/videos/{video['id']}")).json()["video"]
    assert ready["thumbnailUrl"] == thumbnail
    assert ready["videoDuration"] == 2

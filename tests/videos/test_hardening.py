"""Videos' files under attack: thumbnails deleted from under a video, completed uploads never
used, location metadata in the container."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update

from peal.db import utcnow
from peal.storage.base import staging_key
from peal.uploads.models import Upload
from peal.uploads.tasks import sweep_unattached_uploads
from tests.uploads.helpers import (
    demo_mp4,
    drain_jobs,
    jpeg_with_gps,
    publish,
    uploaded_url,
)


def _key(url: str) -> str:
    return url.split("/media/", 1)[1]


async def test_a_thumbnail_in_use_cannot_be_deleted(client: httpx.AsyncClient, woman: Any) -> None:
    thumbnail = await uploaded_url(client, woman, jpeg_with_gps(), "image/jpeg")
    video = await publish(client, woman, thumbnailUrl=thumbnail)
    refused = await client.delete(f"/api/uploads/{_key(thumbnail)}", headers=woman.headers)
    assert refused.status_code == 409
    assert refused.json()["code"] == "upload_in_use"
    served = await client.get(f"/media/{_key(thumbnail)}")
    assert served.status_code == 200

    # A thumbnail set later is in use too.
    later = await uploaded_url(client, woman, jpeg_with_gps(), "image/jpeg")
    changed = await client.put(
        f"/api/videos/{video['id']}", json={"thumbnailUrl": later}, headers=woman.headers
    )
    assert changed.status_code == 200, changed.text
    refused = await client.delete(f"/api/uploads/{_key(later)}", headers=woman.headers)
    assert refused.status_code == 409


async def test_completed_videos_never_attached_are_swept(
    client: httpx.AsyncClient, app: FastAPI, woman: Any
) -> None:
    created = await publish(client, woman)
    used = (await client.get(f"/api/videos/{created['id']}")).json()["video"]
    unused_old = await uploaded_url(client, woman, demo_mp4(), "video/mp4")
    unused_new = await uploaded_url(client, woman, demo_mp4(), "video/mp4")
    image = await uploaded_url(client, woman, jpeg_with_gps(), "image/jpeg")
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(Upload)
            .where(Upload.key != _key(unused_new))
            .values(completed_at=utcnow() - timedelta(days=2))
        )
        await session.commit()
    assert await sweep_unattached_uploads() == 1
    await drain_jobs()
    storage = app.state.storage
    assert await storage.size(_key(unused_old)) is None
    assert await storage.size(staging_key(_key(unused_old))) is None
    for kept in (unused_new, image, used["videoUrl"]):
        assert await storage.size(_key(kept)) is not None
    async with app.state.db.sessionmaker() as session:
        keys = set(await session.scalars(select(Upload.key)))
    assert _key(unused_old) not in keys
    assert {_key(unused_new), _key(image), _key(used["videoUrl"])} <= keys
    assert await sweep_unattached_uploads() == 0

"""Helpers shared by the storage, uploads and videos tests: real media files, the upload
flow over HTTP (to the app or to a moto S3 server), direct rows, and job draining."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import cache
from io import BytesIO
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx
from fastapi import FastAPI
from moto.server import ThreadedMotoServer
from PIL import Image

from peal.config import Settings
from peal.jobs import broker, wait_for_jobs
from peal.videos.media import make_demo_clip
from peal.videos.models import Video, VideoTag
from peal.videos.service import search_text_of

GPS_LATITUDE = (48.0, 51.0, 29.0)


@cache
def demo_mp4() -> bytes:
    """A real 2-second H.264 MP4 made with PyAV (cached: the same bytes for every test)."""
    return make_demo_clip(seconds=2.0, container_format="mp4")


@cache
def demo_webm() -> bytes:
    return make_demo_clip(seconds=1.0, container_format="webm")


def png_bytes() -> bytes:
    out = BytesIO()
    Image.new("RGB", (8, 8), "blue").save(out, "PNG")
    return out.getvalue()


def jpeg_with_gps(size: tuple[int, int] = (40, 20)) -> bytes:
    """A JPEG whose EXIF holds a camera model, a GPS position and orientation 6 (rotate)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x0110] = "SecretPhone 12"
    exif[0x8825] = {1: "N", 2: GPS_LATITUDE, 3: "E", 4: (2.0, 17.0, 40.0)}
    out = BytesIO()
    Image.new("RGB", size, "red").save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def undecodable_mp4() -> bytes:
    """Starts like an MP4 (passes the type check) but FFmpeg cannot decode it."""
    return b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x13\x37" * 2000


async def drain_jobs() -> None:
    """Wait for in-process jobs, including the ones jobs enqueue (fan-out chains)."""
    for _ in range(100):
        await wait_for_jobs()
        await asyncio.sleep(0)  # a finished job leaves the set in a done-callback: let it run
        if not any(not job.done() for job in getattr(broker, "_running_tasks", ())):
            return
    raise AssertionError("jobs kept enqueuing jobs")


async def put_bytes(
    client: httpx.AsyncClient, url: str, data: bytes, content_type: str
) -> httpx.Response:
    """PUT to an upload URL: the app's own route through the ASGI client, anything else
    (moto's S3) over real HTTP, as a browser would."""
    parts = urlsplit(url)
    if parts.path.startswith("/api/uploads/local/"):
        return await client.put(
            f"{parts.path}?{parts.query}", content=data, headers={"Content-Type": content_type}
        )
    async with httpx.AsyncClient() as http:
        return await http.put(url, content=data, headers={"Content-Type": content_type})


async def read_url(client: httpx.AsyncClient, url: str) -> httpx.Response:
    parts = urlsplit(url)
    if parts.path.startswith("/media/"):
        return await client.get(parts.path)
    async with httpx.AsyncClient() as http:
        return await http.get(url)


async def presign(
    client: httpx.AsyncClient, user: Any, content_type: str, file_name: str = "file"
) -> dict[str, Any]:
    response = await client.post(
        "/api/uploads/presigned-url",
        json={"fileName": file_name, "contentType": content_type},
        headers=user.headers,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def upload(
    client: httpx.AsyncClient,
    user: Any,
    data: bytes,
    content_type: str,
    *,
    file_name: str = "file",
    sent_type: str | None = None,
) -> httpx.Response:
    """Presign, PUT, complete: the answer of `complete`."""
    target = await presign(client, user, content_type, file_name)
    put = await put_bytes(client, target["uploadUrl"], data, sent_type or content_type)
    assert put.status_code == 200, put.text
    return await client.post(
        "/api/uploads/complete", json={"key": target["key"]}, headers=user.headers
    )


async def uploaded_url(client: httpx.AsyncClient, user: Any, data: bytes, content_type: str) -> str:
    response = await upload(client, user, data, content_type)
    assert response.status_code == 200, response.text
    url: str = response.json()["url"]
    return url


async def publish(
    client: httpx.AsyncClient, user: Any, *, wait: bool = True, **fields: Any
) -> dict[str, Any]:
    """Upload the demo MP4 and create a video from it (processed unless `wait=False`)."""
    body = {"title": "My first pitch", **fields}
    body.setdefault("videoUrl", await uploaded_url(client, user, demo_mp4(), "video/mp4"))
    response = await client.post("/api/videos", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    video: dict[str, Any] = response.json()["video"]
    if wait:
        await drain_jobs()
    return video


_VIDEO_FIELDS = {"title", "description", "category", "trending_score"}


async def insert_videos(
    app: FastAPI,
    author_id: uuid.UUID,
    count: int,
    *,
    status: str = "ready",
    tags: tuple[str, ...] = (),
    start: datetime | None = None,
    **fields: Any,
) -> list[uuid.UUID]:
    """Ready videos straight in the database (for lists and counts), one second apart.
    `fields`: `title`, `description`, `category`, `trending_score` (anything else is refused,
    so a test never believes it set a field the helper dropped)."""
    if unknown := set(fields) - _VIDEO_FIELDS:
        raise TypeError(f"insert_videos() does not set {sorted(unknown)}")
    start = start or datetime.now(UTC) - timedelta(hours=1)
    ids = []
    async with app.state.db.sessionmaker() as session:
        for index in range(count):
            video = Video(
                id=uuid.uuid4(),
                title=fields.get("title", f"Video {index}"),
                description=fields.get("description"),
                category=fields.get("category"),
                video_url=f"https://cdn.example.com/{uuid.uuid4().hex}.mp4",
                thumbnail_url=None,
                video_duration=30,
                status=status,
                author_id=author_id,
                trending_score=fields.get("trending_score", 0.0),
                created_at=start + timedelta(seconds=index),
                updated_at=start + timedelta(seconds=index),
            )
            video.search_text = search_text_of(video.title, video.description, tags)
            session.add(video)
            for tag in tags:
                session.add(VideoTag(video_id=video.id, tag=tag, video_created_at=video.created_at))
            ids.append(video.id)
        await session.commit()
    return ids


# --- a moto S3 server on loopback ----------------------------------------------------------


class MotoS3:
    def __init__(self, server: ThreadedMotoServer) -> None:
        host, port = server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="test-key",
            aws_secret_access_key="test-secret",
            region_name="us-east-1",
        )

    def new_bucket(self) -> str:
        """A bucket set up as in production: `u/*` (checked files) readable by anyone,
        `staging/*` (not yet checked) private."""
        name = f"peal-test-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(Bucket=name)
        public_read = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{name}/u/*",
                }
            ],
        }
        self.client.put_bucket_policy(Bucket=name, Policy=json.dumps(public_read))
        return name

    def settings(self, base: Settings, **changes: Any) -> Settings:
        return base.model_copy(
            update={
                "storage_backend": "s3",
                "storage_endpoint_url": self.endpoint,
                "storage_bucket": self.new_bucket(),
                "storage_access_key": "test-key",
                "storage_secret_key": "test-secret",
                "storage_region": "us-east-1",
                **changes,
            }
        )

    def keys(self, bucket: str) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=bucket)
        return sorted(item["Key"] for item in listing.get("Contents", []))


@contextmanager
def moto_server() -> Iterator[MotoS3]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield MotoS3(server)
    finally:
        server.stop()

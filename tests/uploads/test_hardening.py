"""Uploads under attack: stalled bodies, parallel completes, connections held during waits,
quotas, files that only pretend to be videos, and error messages that leak nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from peal.db import utcnow
from peal.main import create_app
from peal.storage.base import staging_key
from peal.uploads import service
from peal.uploads.models import Upload
from tests.uploads.helpers import demo_mp4, jpeg_with_gps, presign, put_bytes, upload


def _checked_out(app: FastAPI) -> int:
    """Connections of the app's pool lent out right now."""
    return int(app.state.db.engine.pool.checkedout())


@pytest.mark.committing  # watches the pool; the test transaction holds a connection
async def test_a_stalled_upload_body_holds_no_database_connection(
    app: FastAPI, client: httpx.AsyncClient, woman: Any
) -> None:
    target = await presign(client, woman, "video/mp4")
    data = demo_mp4()
    stalled = asyncio.Event()
    resume = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield data[:12]
        stalled.set()  # the route asks for more: it is streaming, and we make it wait
        await resume.wait()
        yield data[12:]

    parts = urlsplit(target["uploadUrl"])
    put = asyncio.create_task(
        client.put(
            f"{parts.path}?{parts.query}", content=body(), headers={"Content-Type": "video/mp4"}
        )
    )
    await asyncio.wait_for(stalled.wait(), 30)
    assert _checked_out(app) == 0
    resume.set()
    response = await put
    assert response.status_code == 200, response.text
    assert response.json()["size"] == len(data)


@asynccontextmanager
async def _client_with(make_settings: Any, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app with some settings changed (same database as the `app` fixture)."""
    app = create_app(make_settings(**changes))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            http.app = app  # type: ignore[attr-defined]
            yield http


@pytest.mark.committing
async def test_a_stalled_upload_body_is_cut_off(make_settings: Any, woman: Any) -> None:
    async with _client_with(make_settings, upload_idle_timeout=0.05) as http:
        target = await presign(http, woman, "video/mp4")
        never = asyncio.Event()

        async def body() -> AsyncIterator[bytes]:
            yield demo_mp4()[:12]
            await never.wait()
            yield b""

        parts = urlsplit(target["uploadUrl"])
        response = await http.put(
            f"{parts.path}?{parts.query}", content=body(), headers={"Content-Type": "video/mp4"}
        )
        assert response.status_code == 408
        assert response.json()["code"] == "upload_timeout"
        storage = http.app.state.storage  # type: ignore[attr-defined]
        assert await storage.size(staging_key(target["key"])) is None


async def test_an_undecodable_image_is_refused_with_a_plain_message(
    client: httpx.AsyncClient, woman: Any
) -> None:
    fake_png = b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 64  # the magic bytes, then nothing
    response = await upload(client, woman, fake_png, "image/png")
    assert response.status_code == 422
    message = response.json()["details"][0]["message"]
    assert message == "The image cannot be decoded: the file is damaged or not an image"
    assert "0x" not in response.text and "BytesIO" not in response.text


@pytest.mark.committing  # watches the pool; the test transaction holds a connection
async def test_complete_holds_no_connection_while_files_are_checked(
    app: FastAPI, client: httpx.AsyncClient, woman: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, int]] = []
    real_image, real_video = service.sanitize_image, service.check_video_decodes

    def image_spy(*args: Any) -> bytes:
        seen.append(("image", _checked_out(app)))
        return real_image(*args)

    def video_spy(*args: Any) -> None:
        seen.append(("video", _checked_out(app)))
        real_video(*args)

    monkeypatch.setattr(service, "sanitize_image", image_spy)
    monkeypatch.setattr(service, "check_video_decodes", video_spy)
    assert (await upload(client, woman, jpeg_with_gps(), "image/jpeg")).status_code == 200
    assert (await upload(client, woman, demo_mp4(), "video/mp4")).status_code == 200
    assert seen == [("image", 0), ("video", 0)]


@pytest.mark.parametrize(
    ("content_type", "data"),
    [("video/mp4", demo_mp4), ("image/jpeg", jpeg_with_gps)],
    ids=["video", "image"],
)
@pytest.mark.committing
async def test_parallel_completes_of_one_upload_all_answer_it(
    app: FastAPI, client: httpx.AsyncClient, woman: Any, content_type: str, data: Any
) -> None:
    target = await presign(client, woman, content_type)
    assert (await put_bytes(client, target["uploadUrl"], data(), content_type)).status_code == 200
    responses = await asyncio.gather(
        *(
            client.post("/api/uploads/complete", json={"key": target["key"]}, headers=woman.headers)
            for _ in range(10)
        )
    )
    assert [r.status_code for r in responses] == [200] * 10, [r.text for r in responses]
    assert len({(r.json()["url"], r.json()["size"]) for r in responses}) == 1
    served = await client.get(urlsplit(responses[0].json()["url"]).path)
    assert served.status_code == 200 and len(served.content) == responses[0].json()["size"]
    assert await app.state.storage.size(staging_key(target["key"])) is None
    async with app.state.db.sessionmaker() as session:
        rows = (await session.scalars(select(Upload))).all()
    assert [(row.status, row.size) for row in rows] == [("completed", len(served.content))]


async def test_zeros_behind_a_video_header_are_refused_and_never_served(
    app: FastAPI, client: httpx.AsyncClient, woman: Any
) -> None:
    fake = b"\x00\x00\x00\x0cftypisom" + b"\x00" * (3 * 1024 * 1024)
    target = await presign(client, woman, "video/mp4")
    assert (await put_bytes(client, target["uploadUrl"], fake, "video/mp4")).status_code == 200
    response = await client.post(
        "/api/uploads/complete", json={"key": target["key"]}, headers=woman.headers
    )
    assert response.status_code == 422
    assert response.json()["details"] == [
        {
            "field": "file",
            "message": "The video cannot be decoded: the file is damaged or not a video",
        }
    ]
    assert (await client.get(urlsplit(target["fileUrl"]).path)).status_code == 404
    assert await app.state.storage.size(staging_key(target["key"])) is None


@pytest.mark.committing
async def test_storage_quota(make_settings: Any, woman: Any) -> None:
    size = len(demo_mp4())
    async with _client_with(make_settings, storage_quota_bytes=size + 10) as http:
        assert (await upload(http, woman, demo_mp4(), "video/mp4")).status_code == 200
        over = await upload(http, woman, demo_mp4(), "video/mp4")
        assert over.status_code == 413
        assert over.json()["code"] == "storage_quota_exceeded"
    async with _client_with(make_settings, storage_quota_bytes=size) as http:
        full = await http.post(
            "/api/uploads/presigned-url",
            json={"fileName": "a.mp4", "contentType": "video/mp4"},
            headers=woman.headers,
        )
        assert full.status_code == 413
        assert full.json()["code"] == "storage_quota_exceeded"


@pytest.mark.committing
async def test_daily_upload_volume(make_settings: Any, app: FastAPI, woman: Any) -> None:
    size = len(demo_mp4())
    async with _client_with(make_settings, daily_upload_bytes=size + size // 2) as http:
        assert (await upload(http, woman, demo_mp4(), "video/mp4")).status_code == 200
        over = await upload(http, woman, demo_mp4(), "video/mp4")
        assert over.status_code == 429
        assert over.json()["code"] == "daily_upload_limit"
        async with app.state.db.sessionmaker() as session:
            await session.execute(
                update(Upload)
                .where(Upload.status == "completed")
                .values(completed_at=utcnow() - timedelta(days=2))
            )
            await session.commit()
        assert (await upload(http, woman, demo_mp4(), "video/mp4")).status_code == 200


async def test_a_client_that_disconnects_mid_body_leaves_nothing(
    app: FastAPI, client: httpx.AsyncClient, woman: Any
) -> None:
    target = await presign(client, woman, "video/mp4")
    parts = urlsplit(target["uploadUrl"])
    messages = iter(
        [
            {"type": "http.request", "body": demo_mp4()[:12], "more_body": True},
            {"type": "http.disconnect"},
        ]
    )
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PUT",
        "scheme": "http",
        "path": parts.path,
        "raw_path": parts.path.encode(),
        "query_string": parts.query.encode(),
        "headers": [(b"host", b"testserver"), (b"content-type", b"video/mp4")],
        "client": ("203.0.113.10", 50000),
        "server": ("testserver", 80),
        "root_path": "",
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 400
    assert b"upload_interrupted" in sent[1]["body"]
    assert await app.state.storage.size(staging_key(target["key"])) is None

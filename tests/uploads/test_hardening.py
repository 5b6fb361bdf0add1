"""Uploads under attack: stalled bodies, parallel completes, connections held during waits,
quotas, files that only pretend to be videos, and error messages that leak nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI

from peal.storage.base import staging_key
from tests.uploads.helpers import demo_mp4, presign, upload


def _checked_out(app: FastAPI) -> int:
    """Connections of the app's pool lent out right now."""
    return int(app.state.db.engine.pool.checkedout())


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


async def test_a_stalled_upload_body_is_cut_off(make_settings: Any, woman: Any) -> None:
    from peal.main import create_app

    app = create_app(make_settings(upload_idle_timeout=0.05))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            target = await presign(http, woman, "video/mp4")
            never = asyncio.Event()

            async def body() -> AsyncIterator[bytes]:
                yield demo_mp4()[:12]
                await never.wait()
                yield b""

            parts = urlsplit(target["uploadUrl"])
            response = await http.put(
                f"{parts.path}?{parts.query}",
                content=body(),
                headers={"Content-Type": "video/mp4"},
            )
            assert response.status_code == 408
            assert response.json()["code"] == "upload_timeout"
            assert await app.state.storage.size(staging_key(target["key"])) is None


async def test_an_undecodable_image_is_refused_with_a_plain_message(
    client: httpx.AsyncClient, woman: Any
) -> None:
    fake_png = b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 64  # the magic bytes, then nothing
    response = await upload(client, woman, fake_png, "image/png")
    assert response.status_code == 422
    message = response.json()["details"][0]["message"]
    assert message == "The image cannot be decoded: the file is damaged or not an image"
    assert "0x" not in response.text and "BytesIO" not in response.text

"""PUBLIC_URL follows PORT when it isn't set: a server on another port hands out upload URLs
that reach it (`PORT=3999 make run` once gave URLs on port 3000, and every upload failed)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from peal.config import Settings
from peal.main import create_app
from tests.uploads.helpers import png_bytes


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_public_url_defaults_to_the_port() -> None:
    assert Settings(port=3999).public_url == "http://localhost:3999"
    assert Settings(port=3999, public_url="https://api.peal.app").public_url == (
        "https://api.peal.app"
    )


@pytest.fixture
async def served(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[str, Any]]:
    """The app under real uvicorn on a free loopback port, PUBLIC_URL left unset."""
    port = _free_port()
    settings = Settings(
        database_url=database_url,
        port=port,
        email_file_path=tmp_path / "mail",
        storage_local_path=tmp_path / "uploads",
    )
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.02)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}", settings
    finally:
        server.should_exit = True
        await task


@pytest.mark.committing
async def test_an_upload_goes_through_the_url_the_server_gave(
    served: tuple[str, Any], make_user: Any
) -> None:
    base_url, settings = served
    assert settings.public_url == f"http://localhost:{settings.port}"
    user = await make_user("woman")
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        presigned = await http.post(
            "/api/uploads/presigned-url",
            json={"fileName": "cover.png", "contentType": "image/png"},
            headers=user.headers,
        )
        assert presigned.status_code == 200, presigned.text
        target = presigned.json()
        assert target["uploadUrl"].startswith(f"http://localhost:{settings.port}/")

        # Exactly the URL handed out, as the web client uses it.
        put = await http.put(
            target["uploadUrl"], content=png_bytes(), headers={"Content-Type": "image/png"}
        )
        assert put.status_code == 200, put.text

        completed = await http.post(
            "/api/uploads/complete", json={"key": target["key"]}, headers=user.headers
        )
        assert completed.status_code == 200, completed.text
        url = completed.json()["url"]
        assert url.startswith(f"http://localhost:{settings.port}/media/")
        image = await http.get(url)
        assert image.status_code == 200
        assert image.headers["content-type"] == "image/png"

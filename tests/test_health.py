"""/health reports each service (and never hangs); /metrics speaks Prometheus."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from peal.config import Settings
from peal.main import create_app
from peal.ops import service
from tests.conftest import REDIS_URL

MakeSettings = Callable[..., Settings]


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.20", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield app, http


def assert_timestamp(value: str) -> None:
    assert value.endswith("Z")
    assert datetime.fromisoformat(value).utcoffset() == timedelta(0)


async def test_healthy(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    # Without REDIS_URL there is no Redis to report on.
    assert body["services"] == {"database": "up", "storage": "up"}
    assert_timestamp(body["timestamp"])
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.committing
async def test_healthy_creates_the_storage_directory(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    directory = tmp_path / "not" / "yet" / "there"
    async with serve(make_settings(storage_local_path=directory)) as (_app, http):
        response = await http.get("/health")
    assert response.status_code == 200
    assert response.json()["services"]["storage"] == "up"
    assert directory.is_dir()
    assert list(directory.iterdir()) == []  # the probe file is gone


@pytest.mark.committing
@pytest.mark.skipif(REDIS_URL is None, reason="needs the PostgreSQL + Redis run")
async def test_healthy_with_redis(make_settings: MakeSettings) -> None:
    async with serve(make_settings(redis_url=REDIS_URL)) as (_app, http):
        response = await http.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"
    assert response.json()["services"] == {"database": "up", "storage": "up", "redis": "up"}


@pytest.mark.parametrize(
    "database_url",
    [
        "sqlite+aiosqlite:///{tmp}/no-such-directory/peal.db",
        "postgresql+asyncpg://postgres@127.0.0.1:1/peal",  # nothing listens on port 1
    ],
    ids=["sqlite-missing-directory", "postgres-closed-port"],
)
@pytest.mark.committing
async def test_degraded_when_the_database_is_unreachable(
    make_settings: MakeSettings, tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(database_url=database_url.format(tmp=tmp_path))
    async with serve(settings) as (_app, http):
        response = await http.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["services"] == {"database": "down", "storage": "up"}
    assert_timestamp(body["timestamp"])
    # The reason is logged, never told to the world.
    assert "Connect" not in response.text and "sqlite" not in response.text


@pytest.mark.committing
async def test_degraded_when_redis_is_configured_but_down(make_settings: MakeSettings) -> None:
    async with serve(make_settings(redis_url="redis://127.0.0.1:1/0")) as (_app, http):
        response = await http.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["services"] == {"database": "up", "storage": "up", "redis": "down"}


@pytest.mark.committing
async def test_degraded_when_storage_is_not_writable(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    async with serve(make_settings(storage_local_path=blocker / "uploads")) as (_app, http):
        response = await http.get("/health")
    assert response.status_code == 503
    assert response.json()["services"] == {"database": "up", "storage": "down"}


@pytest.mark.committing
async def test_a_hanging_check_is_cut_off(
    make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "CHECK_TIMEOUT_SECONDS", 0.05)
    never = asyncio.Event()

    async def hangs() -> None:
        await never.wait()

    async with serve(make_settings()) as (app, http):
        # The storage service installs its own probe here; this one never answers.
        app.state.storage_check = hangs
        response = await http.get("/health")
    assert response.status_code == 503
    assert response.json()["services"] == {"database": "up", "storage": "down"}


@pytest.mark.committing
async def test_a_failing_storage_probe_is_reported(make_settings: MakeSettings) -> None:
    async def fails() -> None:
        raise RuntimeError("bucket gone")

    async with serve(make_settings()) as (app, http):
        app.state.storage_check = fails
        response = await http.get("/health")
    assert response.status_code == 503
    assert response.json()["services"]["storage"] == "down"
    assert "bucket gone" not in response.text


async def test_metrics_in_prometheus_text(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/api/no-such-route")).status_code == 404
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert "# TYPE peal_http_requests_total counter" in text
    assert 'peal_http_requests_total{method="GET",route="/health",status="200"}' in text
    assert 'peal_http_requests_total{method="GET",route="unmatched",status="404"}' in text
    assert "# TYPE peal_http_request_duration_seconds histogram" in text
    assert 'peal_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/health"}' in (
        text
    )


async def test_metrics_in_openmetrics_when_asked(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")
    assert "peal_http_requests" in response.text


async def test_openapi_documents_health_and_metrics(client: httpx.AsyncClient) -> None:
    spec: dict[str, Any] = (await client.get("/openapi.json")).json()
    health = spec["paths"]["/health"]["get"]
    assert set(health["responses"]) >= {"200", "503"}
    schema_ref = health["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert schema["examples"][0]["status"] == "healthy"
    assert set(schema["properties"]) == {"status", "timestamp", "services"}
    metrics = spec["paths"]["/metrics"]["get"]
    assert "text/plain" in metrics["responses"]["200"]["content"]

"""Two API processes sharing Redis: an event raised in one reaches sockets and SSE streams
held by the other. Runs when the suite has Redis (the PostgreSQL + Redis run)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from peal.realtime.hub import ExternalPublisher
from tests.conftest import REDIS_URL, AuthedUser
from tests.realtime.conftest import EVENT_WAIT, Connect, free_socket
from tests.realtime.test_live import SSE

pytestmark = [
    pytest.mark.committing,  # API processes read what the test wrote
    pytest.mark.skipif(REDIS_URL is None, reason="cross-process fan-out needs Redis"),
    pytest.mark.timeout(300),
]


def _start_process(port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "REDIS_URL": str(REDIS_URL), "PORT": str(port)}
    return subprocess.Popen(  # noqa: S603 - this interpreter, a fixed module
        [
            sys.executable,
            "-m",
            "uvicorn",
            "peal.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )


async def _wait_until_serving(url: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=5.0) as http:
        for _ in range(240):
            assert process.poll() is None, "the API process exited"
            try:
                await http.get("/health")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.5)
    raise AssertionError(f"{url} did not start")


@pytest.fixture
def two_ports() -> list[int]:
    ports = []
    for _ in range(2):
        sock = free_socket()
        ports.append(sock.getsockname()[1])
        sock.close()
    return ports


@pytest.fixture
async def processes(app: Any, two_ports: list[int]) -> AsyncIterator[list[str]]:
    """Two API processes on the test database and Redis (the `app` fixture migrated it)."""
    started = [_start_process(port) for port in two_ports]
    try:
        urls = [f"http://127.0.0.1:{port}" for port in two_ports]
        for url, process in zip(urls, started, strict=True):
            await _wait_until_serving(url, process)
        yield urls
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=EVENT_WAIT)
            except subprocess.TimeoutExpired:
                process.kill()


async def test_a_socket_on_one_process_receives_a_message_posted_through_the_other(
    processes: list[str],
    connect: Connect,
    woman: AuthedUser,
    sponsor: AuthedUser,
    make_user: Callable[..., Any],
) -> None:
    one, two = processes
    a = await connect(woman, url=one)
    async with httpx.AsyncClient(base_url=two, timeout=EVENT_WAIT) as http:
        started = await http.post(
            "/api/conversations", json={"participantId": str(woman.id)}, headers=sponsor.headers
        )
        assert started.status_code == 201, started.text
        cid = started.json()["conversation"]["id"]

        posted = await http.post(
            f"/api/conversations/{cid}/messages",
            json={"content": "across processes"},
            headers=sponsor.headers,
        )

        assert posted.status_code == 201
        assert await a.next("message_received") == posted.json()["message"]
        # She is online (on process one): process two knew it and stored no notification.
        inbox = await http.get("/api/notifications", headers=woman.headers)
        assert inbox.json()["data"] == []

        # A notification raised on process two reaches her socket and SSE stream on process one.
        async with (
            httpx.AsyncClient(base_url=one, timeout=EVENT_WAIT) as http_one,
            http_one.stream("GET", "/api/notifications/stream", headers=woman.headers) as stream,
        ):
            follower: AuthedUser = await make_user("sponsor")
            followed = await http.post(f"/api/users/{woman.id}/follow", headers=follower.headers)
            assert followed.status_code == 200
            on_socket = await a.next("notification")
            on_stream = await SSE(stream).next_event()
        assert json.loads(on_stream["data"]) == on_socket

        # Deleting the account through process two closes her socket on process one.
        deleted = await http.delete(f"/api/users/{woman.id}", headers=woman.headers)
        assert deleted.status_code == 204
        await asyncio.wait_for(a.disconnected.wait(), EVENT_WAIT)


async def test_the_job_worker_publishes_to_sockets_held_by_an_api_process(
    processes: list[str], connect: Connect, woman: AuthedUser
) -> None:
    a = await connect(woman, url=processes[0])
    publisher = ExternalPublisher(str(REDIS_URL))
    try:
        assert await publisher.is_online(woman.id)
        await publisher.publish_notification(woman.id, {"id": "from-a-job", "type": "video_ready"})
        assert await a.next("notification") == {"id": "from-a-job", "type": "video_ready"}
        await publisher.disconnect_user(woman.id)
        await asyncio.wait_for(a.disconnected.wait(), EVENT_WAIT)
    finally:
        await publisher.close()

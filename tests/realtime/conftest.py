"""A real server for the real-time tests: uvicorn on a free loopback port serving the test app,
and python-socketio clients that record what they receive.

Waits are generous (the suite shares a small loaded machine); nothing asserts on timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import socketio
import uvicorn
from fastapi import FastAPI

from tests.conftest import AuthedUser

# How long a test waits for an event that must come. Never a pass/fail threshold on speed.
EVENT_WAIT = 30.0


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
async def live_url(app: FastAPI) -> AsyncIterator[str]:
    """The app (whose lifespan the `app` fixture already runs) served over real TCP."""
    sock = free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning", ws="auto")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(600):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, EVENT_WAIT)
        sock.close()


class Recorder:
    """A Socket.IO client and, per event name, the payloads it received, in order."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: dict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)
        self.disconnected = asyncio.Event()
        for name in ("message_received", "user_typing", "notification", "conversation_read"):
            self.client.on(name, self._recorder(name))
        self.client.on("error", self._recorder("error"))
        self.client.on("disconnect", self._on_disconnect)

    def _recorder(self, name: str) -> Callable[..., Awaitable[None]]:
        async def record(data: Any = None) -> None:
            await self.events[name].put(data)

        return record

    async def _on_disconnect(self, *_args: Any) -> None:
        self.disconnected.set()

    async def next(self, name: str) -> Any:
        return await asyncio.wait_for(self.events[name].get(), EVENT_WAIT)

    def pending(self, name: str) -> list[Any]:
        queue = self.events[name]
        found = []
        while not queue.empty():
            found.append(queue.get_nowait())
        return found

    async def call(self, event: str, data: Any) -> Any:
        return await self.client.call(event, data, timeout=EVENT_WAIT)


Connect = Callable[..., Awaitable[Recorder]]


@pytest.fixture
async def connect(live_url: str) -> AsyncIterator[Connect]:
    """`await connect(user)` → a Recorder connected with the user's access token."""
    opened: list[Recorder] = []

    async def open_socket(
        user: AuthedUser | None = None, *, token: str | None = None, url: str | None = None
    ) -> Recorder:
        """With `token` (no user) the handshake carries that token as it is."""
        recorder = Recorder()
        opened.append(recorder)
        sent = user.token if user is not None else token
        auth = {"token": sent} if sent is not None else None
        await recorder.client.connect(
            url or live_url,
            auth=auth,
            transports=["websocket"],
            socketio_path="socket.io",
            wait_timeout=EVENT_WAIT,
        )
        return recorder

    yield open_socket
    for recorder in opened:
        with contextlib.suppress(Exception):
            await recorder.client.disconnect()

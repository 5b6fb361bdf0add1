"""The production topology on one machine: two `peal serve` processes, one `peal worker`, one
`peal scheduler`, PostgreSQL and a Redis of the test's own (so it can be stopped and started).

It shows that the processes make one system: the rate limit is shared, a job queued by an API
process runs once in the worker, a periodic job runs once per period, a Socket.IO event raised
by one API process reaches a socket held by the other, no job is lost while Redis is down (the
outbox), an API process starts and serves while Redis is down, and killed database connections
cost no failed request. Each `peal serve` runs its default number of workers.
Runs in the PostgreSQL + Redis pass only.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from tests.conftest import REDIS_URL, TEST_PASSWORD, AuthedUser
from tests.helpers import terminate_backends
from tests.realtime.conftest import EVENT_WAIT, Recorder

pytestmark = [
    pytest.mark.committing,  # API and worker processes read what the test wrote
    pytest.mark.skipif(
        REDIS_URL is None or shutil.which("redis-server") is None,
        reason="needs PostgreSQL, Redis and the redis-server binary",
    ),
]

WAIT_SECONDS = 60.0
RATE_LIMIT = 100
PEAL = [sys.executable, "-m", "peal.cli"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@dataclass
class Topology:
    api: list[str]
    redis_port: int
    queue: str
    mail_dir: Path
    logs: Path
    database_url: str
    processes: dict[str, subprocess.Popen[bytes]]
    env: dict[str, str]

    def start_api(self) -> str:
        """One more `peal serve` (its default worker count: one per core with Redis)."""
        port = _free_port()
        name = f"api{len(self.api) + 1}"
        self.processes[name] = _spawn(
            self.logs / f"{name}.log",
            [*PEAL, "serve", "--host", "127.0.0.1", "--port", str(port)],
            self.env,
        )
        url = f"http://127.0.0.1:{port}"
        self.api.append(url)
        return url

    def start_redis(self) -> None:
        self.processes["redis"] = _spawn(
            self.logs / "redis.log",
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            env=dict(os.environ),
        )
        _wait_for_port(self.redis_port)

    def stop_redis(self) -> None:
        _stop(self.processes.pop("redis"))

    def log_tail(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.logs.glob("*.log"))
        )


def _spawn(log_path: Path, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:  # the child keeps its own handle
        return subprocess.Popen(  # noqa: S603 - our own commands
            command,
            env=env,
            cwd=log_path.parent,  # no stray .env file
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port}")


def _wait_healthy(url: str, logs: str, *, statuses: tuple[int, ...] = (200,)) -> httpx.Response:
    """The first /health answer with one of `statuses` (503: serving, but `degraded`)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{url}/health", timeout=2)
            if answer.status_code in statuses:
                return answer
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never became healthy\n{logs}")


@pytest.fixture
def topology(database_url: str, tmp_path: Path, app: object) -> Iterator[Topology]:
    """Everything started as production starts it; `app` has migrated and will clean up."""
    redis_port = _free_port()
    queue = f"peal:topology:{uuid.uuid4().hex}"
    env = {
        **os.environ,
        "NODE_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "JOBS_BACKEND": "redis",
        "PEAL_JOBS_QUEUE": queue,
        "EMAIL_BACKEND": "file",
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
        "STORAGE_LOCAL_PATH": str(tmp_path / "uploads"),
        "RATE_LIMIT_ENABLED": "true",
        "RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
        "OUTBOX_RELAY_SECONDS": "1",
        "LOG_LEVEL": "INFO",
    }
    topo = Topology(
        api=[],
        redis_port=redis_port,
        queue=queue,
        mail_dir=tmp_path / "mail",
        logs=tmp_path,
        database_url=database_url,
        processes={},
        env=env,
    )
    topo.start_redis()
    try:
        for _ in (1, 2):
            topo.start_api()
        topo.processes["worker"] = _spawn(
            tmp_path / "worker.log", [*PEAL, "worker", "--workers", "1"], env
        )
        topo.processes["scheduler"] = _spawn(tmp_path / "scheduler.log", [*PEAL, "scheduler"], env)
        for url in topo.api:
            _wait_healthy(url, topo.log_tail())
        yield topo
    finally:
        for process in topo.processes.values():
            _stop(process)


async def _eventually(check: object, what: str, topo: Topology) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"{what} did not happen in {WAIT_SECONDS} s\n{topo.log_tail()}")


def _mails_to(topo: Topology, address: str) -> list[Path]:
    if not topo.mail_dir.exists():
        return []
    return [
        path for path in topo.mail_dir.glob("*.eml") if address in path.read_text(errors="replace")
    ]


async def _register(http: httpx.AsyncClient, url: str, address: str) -> None:
    answer = await http.post(
        f"{url}/api/auth/register",
        json={"name": "Topology Test", "email": address, "password": TEST_PASSWORD},
    )
    assert answer.status_code == 201, answer.text


async def test_the_processes_make_one_system(topology: Topology) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        # A job queued by API process 2 runs once, in the worker.
        address = f"one-{uuid.uuid4().hex[:8]}@example.com"
        await _register(http, topology.api[1], address)

        async def mailed() -> bool:
            return len(_mails_to(topology, address)) >= 1

        await _eventually(mailed, "the verification email", topology)
        await asyncio.sleep(2)  # a second delivery would show up by now
        assert len(_mails_to(topology, address)) == 1

        # The rate limit is one budget across both processes (the memory store would give
        # each process its own 100): with the registration above, request 101 is refused.
        answers = []
        for index in range(RATE_LIMIT):
            answer = await http.get(f"{topology.api[index % 2]}/api/videos?limit=1")
            answers.append(answer.status_code)
        assert answers == [200] * (RATE_LIMIT - 1) + [429], answers

        # A periodic job runs once per period, not once per process.
        redis = Redis(port=topology.redis_port)
        pattern = f"{topology.queue}:heartbeats:*"
        try:

            async def beat() -> bool:
                return bool([key async for key in redis.scan_iter(match=pattern)])

            await _eventually(beat, "a scheduled heartbeat", topology)
            await asyncio.sleep(2)
            counts = [
                int(await redis.get(key) or 0) async for key in redis.scan_iter(match=pattern)
            ]
            assert counts and all(count == 1 for count in counts), counts
        finally:
            await redis.aclose()


async def test_no_job_is_lost_while_redis_is_down(topology: Topology) -> None:
    url = topology.api[0]
    address = f"outage-{uuid.uuid4().hex[:8]}@example.com"
    topology.stop_redis()
    async with httpx.AsyncClient(timeout=30) as http:
        # Rate limits fail open while Redis is down (README, "Redis"): the API keeps serving.
        await _register(http, url, address)
        connection = await asyncpg.connect(_plain_dsn(topology.database_url))
        try:
            waiting = await connection.fetchval("SELECT count(*) FROM job_outbox")
        finally:
            await connection.close()
        assert waiting >= 1
        assert _mails_to(topology, address) == []

        topology.start_redis()

        async def mailed() -> bool:
            return len(_mails_to(topology, address)) == 1

        await _eventually(mailed, "the email queued while Redis was down", topology)


async def test_an_api_process_starts_and_serves_while_redis_is_down(topology: Topology) -> None:
    """A process (re)started during a Redis outage serves; its jobs wait in the outbox and
    run once Redis is back."""
    topology.stop_redis()
    url = topology.start_api()
    health = _wait_healthy(url, topology.log_tail(), statuses=(200, 503)).json()
    assert health["status"] == "degraded", health
    assert health["services"]["redis"] == "down", health
    address = f"late-{uuid.uuid4().hex[:8]}@example.com"
    async with httpx.AsyncClient(timeout=30) as http:
        assert (await http.get(f"{url}/api/videos?limit=1")).status_code == 200
        await _register(http, url, address)
    assert _mails_to(topology, address) == []

    topology.start_redis()

    async def mailed() -> bool:
        return len(_mails_to(topology, address)) == 1

    await _eventually(mailed, "the email queued by the process started without Redis", topology)

    async def healthy() -> bool:
        async with httpx.AsyncClient(timeout=5) as http:
            return (await http.get(f"{url}/health")).status_code == 200

    await _eventually(healthy, "the late process seeing Redis again", topology)


async def test_a_socket_event_raised_by_one_api_process_reaches_the_other(
    topology: Topology, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    one, two = topology.api
    socket = Recorder()
    await socket.client.connect(
        one,
        auth={"token": woman.token},
        transports=["websocket"],
        socketio_path="socket.io",
        wait_timeout=EVENT_WAIT,
    )
    try:
        async with httpx.AsyncClient(base_url=two, timeout=EVENT_WAIT) as http:
            started = await http.post(
                "/api/conversations",
                json={"participantId": str(woman.id)},
                headers=sponsor.headers,
            )
            assert started.status_code == 201, started.text
            cid = started.json()["conversation"]["id"]
            posted = await http.post(
                f"/api/conversations/{cid}/messages",
                json={"content": "from process two"},
                headers=sponsor.headers,
            )
            assert posted.status_code == 201, posted.text
        assert await socket.next("message_received") == posted.json()["message"]
    finally:
        await socket.client.disconnect()


async def test_killed_database_connections_cost_no_failed_request(topology: Topology) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        for url in topology.api:  # every process holds pooled connections now
            assert (await http.get(f"{url}/api/videos?limit=1")).status_code == 200
        assert await terminate_backends(topology.database_url) >= 2
        statuses = [
            (await http.get(f"{topology.api[index % 2]}/api/videos?limit=1")).status_code
            for index in range(10)
        ]
        assert statuses == [200] * 10


def _plain_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

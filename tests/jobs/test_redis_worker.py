"""A separate `peal worker` process runs the jobs queued on Redis (the PostgreSQL + Redis run).

The test queues an email and a ping on a queue of its own, starts the worker as production
does (`python -m peal.cli worker`), and waits (bounded) for the `.eml` file and the pong.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from taskiq import AsyncBroker

from peal.config import Settings
from peal.email.tasks import send_email_task
from peal.jobs import create_broker, ping
from tests.conftest import REDIS_URL

pytestmark = [
    pytest.mark.committing,  # a worker process reads what the test wrote
    pytest.mark.skipif(REDIS_URL is None, reason="needs PEAL_TEST_REDIS_URL"),
]

WAIT_SECONDS = 90.0  # a loaded machine takes long to import the worker


@pytest.fixture
def queue() -> str:
    return f"peal:test-jobs:{uuid.uuid4().hex}"


@pytest.fixture
async def redis(queue: str) -> AsyncIterator[Redis]:
    assert REDIS_URL is not None
    client = Redis.from_url(REDIS_URL)
    yield client
    keys = [key async for key in client.scan_iter(match=f"{queue}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def producer(queue: str) -> AsyncIterator[AsyncBroker]:
    """This process's side: a Redis broker on the test's own queue."""
    settings = Settings(redis_url=REDIS_URL, jobs_backend="redis", jobs_queue=queue)
    broker = create_broker(settings)
    await broker.startup()
    yield broker
    await broker.shutdown()


@pytest.fixture
def start_worker(
    queue: str, database_url: str, tmp_path: Path
) -> Iterator[Callable[[Path], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(mail_dir: Path) -> subprocess.Popen[bytes]:
        assert REDIS_URL is not None
        env = {
            **os.environ,
            "NODE_ENV": "test",
            "REDIS_URL": REDIS_URL,
            "JOBS_BACKEND": "redis",
            "PEAL_JOBS_QUEUE": queue,
            "DATABASE_URL": database_url,
            "EMAIL_BACKEND": "file",
            "EMAIL_FILE_PATH": str(mail_dir),
            "LOG_LEVEL": "INFO",
        }
        with (tmp_path / "worker.log").open("wb") as log:  # the child keeps its own handle
            process = subprocess.Popen(
                [sys.executable, "-m", "peal.cli", "worker", "--workers", "1"],
                env=env,
                cwd=tmp_path,  # no stray .env file
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as a whole below
            )
        started.append(process)
        return process

    yield start

    for process in started:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


async def test_a_separate_worker_runs_the_jobs_queued_on_redis(
    producer: AsyncBroker,
    redis: Redis,
    queue: str,
    start_worker: Callable[[Path], subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    mail_dir = tmp_path / "mail"
    token = uuid.uuid4().hex
    # Queued before the worker exists: the stream keeps them until a consumer reads them.
    await (
        send_email_task.kicker()
        .with_broker(producer)
        .kiq(
            to="amara@example.com",
            template="notification",
            language="fr",
            context={"name": "Amara", "type": "donation", "title": "Don reçu", "message": "Merci"},
        )
    )
    await ping.kicker().with_broker(producer).kiq(token)

    worker = start_worker(mail_dir)

    pong_key = f"{queue}:pong:{token}"
    for _ in range(int(WAIT_SECONDS / 0.25)):
        if worker.poll() is not None:
            break
        if list(mail_dir.glob("*.eml")) and await redis.exists(pong_key):
            break
        await asyncio.sleep(0.25)
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert worker.poll() is None, f"the worker exited early:\n{log}"

    emails = list(mail_dir.glob("*.eml"))
    assert len(emails) == 1, f"no email from the worker:\n{log}"
    message = email.message_from_bytes(emails[0].read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "Du nouveau sur PEAL : Don reçu"
    assert message["Content-Language"] == "fr"
    pong = await redis.get(pong_key)
    assert pong is not None, f"no pong from the worker:\n{log}"
    assert json.loads(pong)["pid"] != os.getpid()  # run by another process

    _stop(worker)
    assert worker.returncode is not None

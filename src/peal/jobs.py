"""Background jobs (taskiq): in-process in the embedded default, a Redis stream in production.

Tasks find the database and the other services through `runtime()`, which the web app sets
up in its lifespan and `peal worker` sets up at worker start. Every task is idempotent: it may
run twice (a retry, a re-queue by a sweeper) and must then do nothing the second time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from taskiq import AsyncBroker, InMemoryBroker, TaskiqEvents, TaskiqState
from taskiq_redis import RedisStreamBroker

from peal.config import Settings, get_settings
from peal.db import Database

JOBS_QUEUE = os.environ.get("PEAL_JOBS_QUEUE", "peal:jobs")


def create_broker(settings: Settings) -> AsyncBroker:
    if settings.uses_redis_jobs:
        if not settings.redis_url:
            raise RuntimeError("JOBS_BACKEND=redis needs REDIS_URL")
        # consumer_id "0": a new consumer group also takes the jobs queued before it existed.
        return RedisStreamBroker(
            settings.redis_url, queue_name=JOBS_QUEUE, consumer_id="0", maxlen=100_000
        )
    return InMemoryBroker()


broker: AsyncBroker = create_broker(get_settings())


@dataclass
class Runtime:
    settings: Settings
    db: Database
    owns_db: bool


_runtime: Runtime | None = None


def set_runtime(settings: Settings, db: Database | None = None) -> Runtime:
    """Install the services tasks use; the web app passes its own database."""
    global _runtime
    _runtime = Runtime(settings=settings, db=db or Database(settings), owns_db=db is None)
    return _runtime


def runtime() -> Runtime:
    if _runtime is None:
        return set_runtime(get_settings())
    return _runtime


async def close_runtime() -> None:
    global _runtime
    if _runtime is not None and _runtime.owns_db:
        await _runtime.db.dispose()
    _runtime = None


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def _worker_startup(_state: TaskiqState) -> None:
    from peal.core.logging import configure_logging

    if _runtime is not None:  # in-process broker inside the web app: the app set it up
        return
    settings = get_settings()
    configure_logging(settings)
    set_runtime(settings)


@broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
async def _worker_shutdown(_state: TaskiqState) -> None:
    await close_runtime()


def is_in_process() -> bool:
    return isinstance(broker, InMemoryBroker)


async def start_client() -> None:
    """Connect the app (a job producer) to the broker; the in-process one needs nothing."""
    if not is_in_process():
        await broker.startup()


async def stop_client() -> None:
    if is_in_process():
        await wait_for_jobs()
    else:
        await broker.shutdown()


async def wait_for_jobs() -> None:
    """Wait until in-process jobs finish (tests, CLI commands). A no-op with Redis."""
    if isinstance(broker, InMemoryBroker):
        await broker.wait_all()


def task_modules() -> list[str]:
    """Modules that declare tasks: the worker imports them all."""
    return ["peal.email.tasks"]


def describe() -> dict[str, Any]:
    return {"broker": type(broker).__name__, "queue": JOBS_QUEUE}

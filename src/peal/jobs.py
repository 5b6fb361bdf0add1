"""Background jobs (taskiq): in-process in the embedded default, a Redis stream in production.

Tasks find the database and the other services through `runtime()`, which the web app sets
up in its lifespan and `peal worker` sets up at worker start. Every task is idempotent: it may
run twice (a retry, a re-queue by a sweeper) and must then do nothing the second time.

Processes (with Redis): `peal serve` queues jobs, `peal worker` runs them (as many as you like),
and `peal scheduler` (exactly ONE per deployment) queues the periodic ones: a task becomes
periodic with a `schedule` label, e.g. `@broker.task(schedule=[{"cron": "0 8 * * 1"}])`.
Without Redis, jobs run inside the web process and there are no periodic jobs.

A task declared with `retry_on_error=True` is retried (`max_retries` attempts in all) after a
growing delay; every failure is logged, and none ever reaches the request that queued the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from redis.exceptions import RedisError
from sqlalchemy import text
from taskiq import (
    AsyncBroker,
    InMemoryBroker,
    SmartRetryMiddleware,
    TaskiqEvents,
    TaskiqMessage,
    TaskiqMiddleware,
    TaskiqResult,
    TaskiqScheduler,
    TaskiqState,
)
from taskiq.exceptions import NoResultError
from taskiq.kicker import AsyncKicker
from taskiq.schedule_sources import LabelScheduleSource
from taskiq_redis import RedisStreamBroker

from peal.config import Settings, get_settings
from peal.core.redis_client import create_redis
from peal.db import Database

log = structlog.get_logger("peal.jobs")

# Retries wait 5 s, then 10 s, ... (plus up to 1 s of jitter), never more than a minute.
RETRY_DELAY_SECONDS = 5.0
MAX_RETRY_DELAY_SECONDS = 60.0
DEFAULT_MAX_RETRIES = 3
PONG_TTL_SECONDS = 300


class DelayedRetryMiddleware(SmartRetryMiddleware):
    """Retries a failed task after a delay, on every broker.

    taskiq's SmartRetryMiddleware only delays through a schedule source (and a running
    scheduler); without one it re-queues at once with a `delay` label nothing reads. This one
    waits in the worker before re-queueing: the failed message is acknowledged only after the
    retry is queued, so if the worker dies meanwhile the stream hands the message to another.
    """

    async def on_send(
        self, kicker: AsyncKicker[Any, Any], message: TaskiqMessage, delay: float
    ) -> None:
        await asyncio.sleep(delay)
        await kicker.kiq(*message.args, **message.kwargs)


class JobFailureLog(TaskiqMiddleware):
    """Logs every failed attempt with the task's name: failures never pass silently."""

    async def on_error(
        self, message: TaskiqMessage, result: TaskiqResult[Any], exception: BaseException
    ) -> None:
        if isinstance(exception, NoResultError):
            return
        log.warning(
            "job_failed",
            task=message.task_name,
            task_id=message.task_id,
            attempt=int(message.labels.get("_retries", 0)) + 1,
            max_attempts=int(message.labels.get("max_retries", DEFAULT_MAX_RETRIES)),
            error=f"{type(exception).__name__}: {exception}",
        )


def create_broker(settings: Settings, *, queue_name: str | None = None) -> AsyncBroker:
    """The broker `settings` ask for, with retries and failure logs installed."""
    new_broker: AsyncBroker
    if settings.uses_redis_jobs:
        if not settings.redis_url:
            raise RuntimeError("JOBS_BACKEND=redis needs REDIS_URL")
        # consumer_id "0": a new consumer group also takes the jobs queued before it existed.
        new_broker = RedisStreamBroker(
            settings.redis_url,
            queue_name=queue_name or settings.jobs_queue,
            consumer_id="0",
            maxlen=100_000,
        )
    else:
        new_broker = InMemoryBroker()
    # retry_on_error=True on a task does nothing unless a retry middleware is installed.
    new_broker.add_middlewares(
        DelayedRetryMiddleware(
            default_retry_count=DEFAULT_MAX_RETRIES,
            default_delay=RETRY_DELAY_SECONDS,
            use_jitter=True,
            use_delay_exponent=True,
            max_delay_exponent=MAX_RETRY_DELAY_SECONDS,
        ),
        JobFailureLog(),
    )
    return new_broker


broker: AsyncBroker = create_broker(get_settings())

# Periodic jobs: the `schedule` labels of the tasks. Run by `peal scheduler` (one instance).
scheduler = TaskiqScheduler(broker=broker, sources=[LabelScheduleSource(broker)])


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


# While Redis is away at start-up: how long one attempt to reach it may take, and how often
# the app tries again in the background.
BROKER_CONNECT_TIMEOUT_SECONDS = 5.0
BROKER_RETRY_SECONDS = 2.0
_broker_starting: asyncio.Task[None] | None = None


async def _start_broker() -> bool:
    try:
        await asyncio.wait_for(broker.startup(), BROKER_CONNECT_TIMEOUT_SECONDS)
    except (OSError, TimeoutError, RedisError) as error:
        log.warning("broker_unavailable", error=f"{type(error).__name__}: {error}")
        return False
    return True


async def _keep_starting_broker(interval: float) -> None:
    while True:
        if await _start_broker():
            log.info("broker_connected")
            return
        await asyncio.sleep(interval)


async def start_client(*, retry_seconds: float = BROKER_RETRY_SECONDS) -> None:
    """Connect the app (a job producer) to the broker; the in-process one needs nothing.

    Redis down does not stop the app from starting: the jobs wait in the outbox (the relay
    hands them over once Redis answers), /health says `degraded`, and the broker's own
    start-up (declaring the stream's consumer group) is retried in the background.
    """
    global _broker_starting
    if is_in_process() or await _start_broker():
        return
    _broker_starting = asyncio.create_task(_keep_starting_broker(retry_seconds))


async def stop_client() -> None:
    global _broker_starting
    if is_in_process():
        await wait_for_jobs()
        return
    if _broker_starting is not None:
        _broker_starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await _broker_starting
        _broker_starting = None
    await broker.shutdown()


async def wait_for_jobs() -> None:
    """Wait until in-process jobs finish, retries included (tests, CLI). A no-op with Redis."""
    if not isinstance(broker, InMemoryBroker):
        return
    # wait_all() awaits the jobs running when it is called; a job (or a retry) may queue
    # another meanwhile, so drain until none is left. A finished job leaves the set only in a
    # later loop iteration (a done-callback): look at the unfinished ones.
    while any(not job.done() for job in broker._running_tasks):
        await broker.wait_all()


@broker.task(task_name="jobs.ping")
async def ping(token: str) -> None:
    """Proves that a worker consumes the queue and reaches the database.

    With Redis, records `<queue>:pong:<token>` = {"pid": ...} for five minutes: queue a ping,
    then look for the key (a deployment check, and the worker test).
    """
    settings = runtime().settings
    async with runtime().db.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
    redis = create_redis(settings)
    if redis is None:
        log.info("jobs_pong", token=token)
        return
    try:
        key = f"{settings.jobs_queue}:pong:{token[:64]}"
        await redis.set(key, json.dumps({"pid": os.getpid()}), ex=PONG_TTL_SECONDS)
    finally:
        await redis.aclose()


HEARTBEAT_KEEP_SECONDS = 3600


@broker.task(task_name="jobs.heartbeat", schedule=[{"cron": "* * * * *"}])
async def heartbeat() -> None:
    """Once a minute, queued by the one scheduler and run by a worker: both are alive.

    With Redis, records `<queue>:heartbeat` = {"at", "pid"} (a deployment check) and counts
    the runs of each minute in `<queue>:heartbeats:<YYYYMMDDHHMM>` (kept an hour): more than
    one in a minute means more than one scheduler is running.
    """
    settings = runtime().settings
    redis = create_redis(settings)
    if redis is None:
        return
    now = datetime.now(UTC)
    try:
        await redis.set(
            f"{settings.jobs_queue}:heartbeat",
            json.dumps({"at": now.isoformat(), "pid": os.getpid()}),
        )
        minute_key = f"{settings.jobs_queue}:heartbeats:{now:%Y%m%d%H%M}"
        await redis.incr(minute_key)
        await redis.expire(minute_key, HEARTBEAT_KEEP_SECONDS)
    finally:
        await redis.aclose()


def task_modules() -> list[str]:
    """Modules that declare tasks: the worker and the scheduler import them all."""
    return [
        "peal.email.tasks",
        "peal.auth.tasks",
        "peal.uploads.tasks",
        "peal.videos.tasks",
        "peal.funding.tasks",
        "peal.payments.tasks",
        "peal.safety.tasks",
        "peal.realtime.tasks",
    ]


def describe() -> dict[str, Any]:
    return {"broker": type(broker).__name__, "queue": get_settings().jobs_queue}

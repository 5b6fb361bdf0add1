"""The job broker: retries installed and working, in-process draining, worker and scheduler."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from taskiq import InMemoryBroker, SmartRetryMiddleware, TaskiqMessage
from taskiq.schedule_sources import LabelScheduleSource
from taskiq_redis import RedisStreamBroker

from peal import cli, jobs
from peal.config import Settings
from peal.jobs import DelayedRetryMiddleware, JobFailureLog, create_broker

MEMORY = {"jobs_backend": "memory", "redis_url": None}
REDIS = {"jobs_backend": "redis", "redis_url": "redis://127.0.0.1:1/0"}  # never connected here


@pytest.mark.parametrize(
    ("changes", "kind"), [(MEMORY, InMemoryBroker), (REDIS, RedisStreamBroker)]
)
async def test_every_broker_has_retries_and_failure_logs(
    make_settings: Callable[..., Settings], changes: dict[str, Any], kind: type
) -> None:
    broker = create_broker(make_settings(**changes))

    assert isinstance(broker, kind)
    kinds = [type(m) for m in broker.middlewares]
    # retry_on_error=True on a task is a no-op without a retry middleware on its broker.
    assert any(issubclass(k, SmartRetryMiddleware) for k in kinds)
    assert JobFailureLog in kinds
    for middleware in broker.middlewares:
        assert middleware.broker is broker


def test_the_app_broker_is_the_in_process_one_in_tests() -> None:
    assert isinstance(jobs.broker, InMemoryBroker)
    assert any(isinstance(m, DelayedRetryMiddleware) for m in jobs.broker.middlewares)


async def drain(broker: InMemoryBroker) -> None:
    while any(not job.done() for job in broker._running_tasks):
        await broker.wait_all()


@pytest.fixture
def memory_broker(make_settings: Callable[..., Settings]) -> InMemoryBroker:
    broker = create_broker(make_settings(**MEMORY))
    assert isinstance(broker, InMemoryBroker)
    for middleware in broker.middlewares:
        if isinstance(middleware, DelayedRetryMiddleware):
            middleware.default_delay = 0.0
            middleware.use_jitter = False
    return broker


async def test_a_failing_task_is_retried_until_it_succeeds(memory_broker: InMemoryBroker) -> None:
    calls: list[int] = []

    @memory_broker.task(task_name="test.flaky", retry_on_error=True, max_retries=3)
    async def flaky() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("not yet")

    await flaky.kiq()
    await drain(memory_broker)

    assert len(calls) == 3


async def test_retries_stop_at_max_retries_and_each_failure_is_logged(
    app: FastAPI,  # configures the logging as in production (structlog through stdlib)
    memory_broker: InMemoryBroker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    @memory_broker.task(task_name="test.broken", retry_on_error=True, max_retries=2)
    async def broken() -> None:
        calls.append(1)
        raise RuntimeError("always")

    @memory_broker.task(task_name="test.once")
    async def once() -> None:
        calls.append(10)
        raise RuntimeError("no retry asked")

    await broken.kiq()
    await once.kiq()
    await drain(memory_broker)

    assert sorted(calls) == [1, 1, 10]
    failures = [
        r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg["event"] == "job_failed"
    ]
    assert sorted((f["task"], f["attempt"]) for f in failures) == [
        ("test.broken", 1),
        ("test.broken", 2),
        ("test.once", 1),
    ]


async def test_a_retry_waits_longer_each_time(
    memory_broker: InMemoryBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    (retry,) = [m for m in memory_broker.middlewares if isinstance(m, DelayedRetryMiddleware)]
    retry.default_delay = jobs.RETRY_DELAY_SECONDS
    waits: list[float] = []

    async def record(delay: float) -> None:
        waits.append(delay)

    monkeypatch.setattr(jobs, "asyncio", SimpleNamespace(sleep=record))

    @memory_broker.task(task_name="test.later", retry_on_error=True, max_retries=4)
    async def later() -> None:
        raise RuntimeError("fails")

    await later.kiq()
    await drain(memory_broker)

    assert waits == [5.0, 10.0, 15.0]  # before the 2nd, 3rd and 4th attempts
    assert retry.make_delay(_message(), 100) == jobs.MAX_RETRY_DELAY_SECONDS


def _message() -> TaskiqMessage:
    return TaskiqMessage(task_id="t", task_name="x", labels={}, args=[], kwargs={})


async def test_wait_for_jobs_drains_the_in_process_broker(app: FastAPI) -> None:
    await jobs.ping.kiq("in-process")
    await jobs.wait_for_jobs()
    assert isinstance(jobs.broker, InMemoryBroker)
    assert all(job.done() for job in jobs.broker._running_tasks)


def test_the_scheduler_reads_the_schedule_labels_of_the_app_broker() -> None:
    assert jobs.scheduler.broker is jobs.broker
    (source,) = jobs.scheduler.sources
    assert isinstance(source, LabelScheduleSource)
    assert source.broker is jobs.broker


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["worker", "--workers", "3"], ["worker", "peal.jobs:broker", "*", "--workers", "3"]),
        (["scheduler"], ["scheduler", "peal.jobs:scheduler", "*"]),
    ],
)
def test_worker_and_scheduler_commands_start_taskiq(
    monkeypatch: pytest.MonkeyPatch,
    make_settings: Callable[..., Settings],
    command: list[str],
    expected: list[str],
) -> None:
    executed: list[list[str]] = []
    monkeypatch.setattr(os, "execv", lambda _path, argv: executed.append(list(argv)))
    monkeypatch.setattr(cli, "get_settings", lambda: make_settings(**REDIS))

    assert cli.main(command) == 0
    modules = jobs.task_modules()
    assert "peal.email.tasks" in modules
    star = expected.index("*")
    expected[star : star + 1] = modules  # every module that declares tasks
    assert executed == [[sys.executable, "-m", "taskiq", *expected]]


@pytest.mark.parametrize("command", [["worker"], ["scheduler"]])
def test_worker_and_scheduler_refuse_to_start_without_redis(
    monkeypatch: pytest.MonkeyPatch,
    make_settings: Callable[..., Settings],
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    monkeypatch.setattr(os, "execv", lambda *_: pytest.fail("must not start taskiq"))
    monkeypatch.setattr(cli, "get_settings", lambda: make_settings(**MEMORY))

    assert cli.main(command) == 2
    assert "needs Redis" in capsys.readouterr().err

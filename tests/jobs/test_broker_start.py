"""An API process starts while the broker (Redis) is unreachable: start-up is retried in the
background instead of failing the process (the outbox keeps the jobs meanwhile)."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from peal import jobs


async def test_start_client_survives_an_unreachable_broker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attempts = 0
    stopped = asyncio.Event()

    async def startup() -> None:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise RedisConnectionError("Connection refused")

    async def shutdown() -> None:
        stopped.set()

    monkeypatch.setattr(jobs, "is_in_process", lambda: False)
    monkeypatch.setattr(jobs.broker, "startup", startup)
    monkeypatch.setattr(jobs.broker, "shutdown", shutdown)

    await jobs.start_client(retry_seconds=0.01)  # does not raise
    assert attempts == 1
    for _ in range(500):
        if attempts >= 3:
            break
        await asyncio.sleep(0.01)
    assert attempts == 3  # tried again until it answered, then stopped trying
    await asyncio.sleep(0.05)
    assert attempts == 3
    await jobs.stop_client()
    assert stopped.is_set()


async def test_stopping_cancels_the_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    async def startup() -> None:
        raise OSError("unreachable")

    async def shutdown() -> None:
        return None

    monkeypatch.setattr(jobs, "is_in_process", lambda: False)
    monkeypatch.setattr(jobs.broker, "startup", startup)
    monkeypatch.setattr(jobs.broker, "shutdown", shutdown)

    await jobs.start_client(retry_seconds=0.01)
    retrying = jobs._broker_starting
    assert retrying is not None and not retrying.done()
    await jobs.stop_client()
    assert retrying.cancelled()
    assert jobs._broker_starting is None

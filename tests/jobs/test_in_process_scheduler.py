"""The embedded default runs periodic jobs itself: due tasks are kicked on the minute."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from peal.config import Settings
from peal.scheduling import kick_due, periodic_tasks


def test_every_scheduled_task_is_found_with_its_cron() -> None:
    schedule = dict(periodic_tasks())
    assert schedule["funding.expire_requests"] == "0 * * * *"
    assert schedule["videos.sweep_stuck"] == "*/5 * * * *"


async def test_only_due_tasks_are_kicked(monkeypatch: pytest.MonkeyPatch) -> None:
    schedule = [("funding.expire_requests", "0 * * * *"), ("videos.sweep_stuck", "*/5 * * * *")]
    kicked: list[str] = []

    class FakeTask:
        def __init__(self, name: str) -> None:
            self.name = name

        async def kiq(self) -> None:
            kicked.append(self.name)

    monkeypatch.setattr("peal.scheduling.broker.find_task", FakeTask)
    at_ten_past = datetime(2026, 11, 25, 14, 10, tzinfo=UTC)
    assert await kick_due(at_ten_past, schedule) == ["videos.sweep_stuck"]
    on_the_hour = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    assert await kick_due(on_the_hour, schedule) == schedule_names(schedule)
    at_seven_past = datetime(2026, 11, 25, 15, 7, tzinfo=UTC)
    assert await kick_due(at_seven_past, schedule) == []
    assert kicked == ["videos.sweep_stuck", "funding.expire_requests", "videos.sweep_stuck"]


def schedule_names(schedule: list[tuple[str, str]]) -> list[str]:
    return [name for name, _ in schedule]


def test_scheduler_runs_in_process_only_without_redis() -> None:
    dev = Settings(environment="development", redis_url=None, jobs_backend=None)
    assert dev.runs_in_process_scheduler
    assert not Settings(environment="test", jobs_backend=None).runs_in_process_scheduler
    with_redis = Settings(
        environment="development", redis_url="redis://127.0.0.1:6379/0", jobs_backend=None
    )
    assert not with_redis.runs_in_process_scheduler
    assert Settings(environment="test", in_process_scheduler=True).runs_in_process_scheduler

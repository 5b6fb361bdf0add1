"""Periodic jobs inside the web process, for the embedded default (no Redis, no `peal scheduler`).

With Redis, `peal scheduler` (one per deployment) queues periodic jobs for the workers. Without
it, nothing would ever expire a funding request or re-queue a stuck video: this loop reads the
same `schedule` labels and kicks due tasks on the in-process broker once a minute.
"""

from __future__ import annotations

import asyncio
import importlib
from contextlib import suppress
from datetime import datetime

import pycron
import structlog

from peal.db import utcnow
from peal.jobs import broker, task_modules

log = structlog.get_logger("peal.scheduling")


def periodic_tasks() -> list[tuple[str, str]]:
    """(task name, cron) for every task with a `schedule` label."""
    for module in task_modules():
        importlib.import_module(module)
    found = []
    for task in broker.get_all_tasks().values():
        for entry in task.labels.get("schedule", []) or []:
            cron = entry.get("cron") if isinstance(entry, dict) else None
            if cron:
                found.append((task.task_name, str(cron)))
    return sorted(found)


async def kick_due(now: datetime, schedule: list[tuple[str, str]]) -> list[str]:
    """Queue every task whose cron matches `now` (to the minute); answers their names."""
    kicked = []
    for name, cron in schedule:
        if not pycron.is_now(cron, now):
            continue
        task = broker.find_task(name)
        if task is None:
            continue
        try:
            await task.kiq()
            kicked.append(name)
        except Exception:
            log.exception("periodic_job_not_queued", task=name)
    return kicked


async def run_forever() -> None:
    schedule = periodic_tasks()
    log.info("in_process_scheduler_started", tasks=[name for name, _ in schedule])
    while True:
        now = utcnow()
        # Wake just after each minute boundary, so every cron minute is seen exactly once.
        await asyncio.sleep(60 - now.second - now.microsecond / 1_000_000 + 0.05)
        await kick_due(utcnow().replace(second=0, microsecond=0), schedule)


class InProcessScheduler:
    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(run_forever(), name="peal-in-process-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None

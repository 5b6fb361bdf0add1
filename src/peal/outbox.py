"""The job outbox: a job is written in the transaction that causes it, so no job is ever lost.

Queuing a job straight to the broker after the commit loses it when the broker (Redis) is
down at that moment: the change is kept, its email, refund or video processing never happens.
`enqueue_job` writes a row of `job_outbox` in the request's own transaction instead. After the
commit it hands the job to the broker at once and deletes the row; if that fails, the row stays
and `relay_pending` (a loop in every `peal serve` process) hands it over later, with retries,
once the broker answers again.

A job may so reach the broker twice (handed over, then the process dies before the row is
deleted): every task is idempotent already (see peal.jobs), which makes the effect exactly once.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import JSON, Index, String, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from taskiq import AsyncTaskiqDecoratedTask

from peal.db import Base, CreatedAt, Database, UUIDPrimaryKey, after_commit, utcnow
from peal.jobs import broker, runtime

log = structlog.get_logger("peal.outbox")

# The relay leaves a fresh row alone this long: its own request is handing it over right now.
HANDOVER_GRACE = timedelta(seconds=30)
RELAY_BATCH = 100
MAX_RETRY_DELAY = timedelta(minutes=5)


class OutboxJob(UUIDPrimaryKey, CreatedAt, Base):
    """A job not yet handed to the broker."""

    __tablename__ = "job_outbox"
    __table_args__ = (Index("ix_job_outbox_next_attempt_at", "next_attempt_at"),)

    task_name: Mapped[str] = mapped_column(String(200))
    args: Mapped[list[Any]] = mapped_column(JSON)
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime]


def enqueue_job(
    session: AsyncSession, task: AsyncTaskiqDecoratedTask[Any, Any], *args: Any, **kwargs: Any
) -> None:
    """Queue `task(*args, **kwargs)` as part of the session's transaction.

    Nothing runs if the transaction rolls back; once it commits, the job runs even if the
    broker is down at that moment. Arguments must be JSON-serialisable (they are anyway: they
    travel through the broker).
    """
    job = OutboxJob(
        id=uuid.uuid4(),
        task_name=task.task_name,
        args=list(args),
        kwargs=kwargs,
        next_attempt_at=utcnow() + HANDOVER_GRACE,
    )
    session.add(job)

    async def hand_over() -> None:
        await _hand_over(runtime().db, job.id, task.task_name, job.args, job.kwargs)

    after_commit(session, hand_over)


async def _hand_over(
    db: Database, job_id: uuid.UUID, task_name: str, args: list[Any], kwargs: dict[str, Any]
) -> bool:
    """Give one job to the broker, then forget it; on failure the row stays for the relay."""
    task = broker.find_task(task_name)
    if task is None:  # a job of a task this version no longer has: keep it, say so
        log.error("outbox_unknown_task", task=task_name, job_id=str(job_id))
        return False
    try:
        await task.kiq(*args, **kwargs)
    except Exception as error:
        log.warning("outbox_handover_failed", task=task_name, job_id=str(job_id), error=repr(error))
        return False
    async with db.sessionmaker() as session:
        await session.execute(delete(OutboxJob).where(OutboxJob.id == job_id))
        await session.commit()
    return True


def _retry_delay(attempts: int) -> timedelta:
    return min(timedelta(seconds=5 * 2 ** min(attempts, 10)), MAX_RETRY_DELAY)


async def relay_pending(db: Database, *, now: datetime | None = None) -> int:
    """Hand every due job to the broker; answers how many went. Safe in many processes.

    Each due row is claimed by pushing its next attempt into the future in a short transaction
    (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so two relays never take the same row), then
    handed over with no transaction open.
    """
    now = now or utcnow()
    async with db.sessionmaker() as session:
        due = (
            await session.execute(
                select(OutboxJob)
                .where(OutboxJob.next_attempt_at <= now)
                .order_by(OutboxJob.next_attempt_at)
                .limit(RELAY_BATCH)
                .with_for_update(skip_locked=True)
            )
        ).scalars()
        claimed = [(job.id, job.task_name, job.args, job.kwargs, job.attempts) for job in due]
        for job_id, _name, _args, _kwargs, attempts in claimed:
            await session.execute(
                update(OutboxJob)
                .where(OutboxJob.id == job_id)
                .values(attempts=attempts + 1, next_attempt_at=now + _retry_delay(attempts))
            )
        await session.commit()
    sent = 0
    for job_id, name, args, kwargs, _attempts in claimed:
        if await _hand_over(db, job_id, name, args, kwargs):
            sent += 1
    if claimed:
        log.info("outbox_relayed", due=len(claimed), sent=sent)
    return sent


class OutboxRelay:
    """The relay loop of one `peal serve` process."""

    def __init__(self, db: Database, interval_seconds: float) -> None:
        self._db = db
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="peal-outbox-relay")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await relay_pending(self._db)
            except Exception:  # the database is down too: try again next round
                log.exception("outbox_relay_failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None

"""The job outbox: a job is kept with the change that causes it, and reaches the broker later
if the broker refused it at commit time (e.g. Redis down)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from peal.db import Database, commit, utcnow
from peal.email.tasks import send_email_task
from peal.jobs import wait_for_jobs
from peal.outbox import HANDOVER_GRACE, OutboxJob, enqueue_job, relay_pending


async def _outbox_rows(database: Database) -> list[OutboxJob]:
    async with database.sessionmaker() as session:
        return list((await session.scalars(select(OutboxJob))).all())


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What reached the broker for the email task (the task itself is not run)."""
    calls: list[dict[str, Any]] = []

    async def record(*args: Any, **kwargs: Any) -> None:
        calls.append(kwargs)

    monkeypatch.setattr(send_email_task, "kiq", record)
    return calls


def _email(session: Any, to: str) -> None:
    enqueue_job(session, send_email_task, to=to, template="notification", language="en", context={})


async def test_a_job_reaches_the_broker_after_commit_and_leaves_no_row(
    app: FastAPI, sent: list[dict[str, Any]]
) -> None:
    database: Database = app.state.db
    async with database.sessionmaker() as session:
        _email(session, "a@example.com")
        assert sent == []  # nothing before the commit
        await commit(session)
    assert [call["to"] for call in sent] == ["a@example.com"]
    assert await _outbox_rows(database) == []


async def test_a_rolled_back_change_queues_nothing(
    app: FastAPI, sent: list[dict[str, Any]]
) -> None:
    database: Database = app.state.db
    async with database.sessionmaker() as session:
        _email(session, "a@example.com")
        await session.flush()
        await session.rollback()
    assert sent == []
    assert await _outbox_rows(database) == []


async def test_a_job_the_broker_refused_stays_and_the_relay_hands_it_over(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    database: Database = app.state.db
    delivered: list[str] = []

    async def broker_down(*_args: Any, **_kwargs: Any) -> None:
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(send_email_task, "kiq", broker_down)
    async with database.sessionmaker() as session:
        _email(session, "kept@example.com")
        await commit(session)  # the commit stands; the job waits in the outbox
    [row] = await _outbox_rows(database)
    assert row.kwargs["to"] == "kept@example.com"

    # A fresh row is its own request's to hand over: the relay leaves it alone...
    assert await relay_pending(database) == 0
    # ...and while the broker is still down, a due row stays, with its next attempt later.
    later = utcnow() + HANDOVER_GRACE + timedelta(seconds=1)
    assert await relay_pending(database, now=later) == 0
    [row] = await _outbox_rows(database)
    assert row.attempts == 1
    assert row.next_attempt_at > later

    async def broker_back(*_args: Any, **kwargs: Any) -> None:
        delivered.append(kwargs["to"])

    monkeypatch.setattr(send_email_task, "kiq", broker_back)
    assert await relay_pending(database, now=row.next_attempt_at) == 1
    assert delivered == ["kept@example.com"]
    assert await _outbox_rows(database) == []


async def test_registration_keeps_its_email_job_when_the_broker_is_down(
    app: FastAPI, client: Any, monkeypatch: pytest.MonkeyPatch, mailbox: Any
) -> None:
    """The reported failure: 201, then a verification email that was never sent."""

    async def broker_down(*_args: Any, **_kwargs: Any) -> None:
        raise ConnectionError("Redis is down")

    original = send_email_task.kiq
    monkeypatch.setattr(send_email_task, "kiq", broker_down)
    answer = await client.post(
        "/api/auth/register",
        json={"name": "Ama", "email": "ama@example.com", "password": "Correct-Horse-Battery-9"},
    )
    assert answer.status_code == 201
    database: Database = app.state.db
    async with database.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxJob)) == 1

    monkeypatch.setattr(send_email_task, "kiq", original)
    assert await relay_pending(database, now=utcnow() + HANDOVER_GRACE * 2) == 1
    await wait_for_jobs()
    assert len(mailbox.to("ama@example.com")) == 1

"""Delivery through a real SMTP server (aiosmtpd on loopback): queue_email → job → aiosmtplib.

A relay that fails makes the job retry; a relay that keeps failing is logged, never raised into
the code that queued the email.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI

from peal import jobs
from peal.config import Settings
from peal.db import commit
from peal.email.service import queue_email
from peal.jobs import DelayedRetryMiddleware, wait_for_jobs
from peal.notifications.service import notify
from tests.conftest import AuthedUser


class SmtpSink:
    """An SMTP server's handler that keeps what it accepts; it can refuse the first attempts."""

    def __init__(self) -> None:
        self.port = 0
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.attempts = 0
        self.message_ids: list[str] = []
        self.refusals_left = 0
        self.refusal = "451 4.3.0 Try again later"
        self._lock = threading.Lock()

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.attempts += 1
            self.message_ids.append(str(message["Message-ID"]))
            if self.refusals_left > 0:
                self.refusals_left -= 1
                return self.refusal
            self.messages.append(message)
            self.recipients.append(list(envelope.rcpt_tos))
        return "250 2.0.0 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def settings(settings: Settings, smtp_server: SmtpSink) -> Settings:
    """The app of these tests sends through the SMTP server above."""
    return settings.model_copy(
        update={
            "email_backend": "smtp",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_server.port,
            "smtp_timeout": 5.0,
        }
    )


@pytest.fixture
def no_retry_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    (retry,) = [m for m in jobs.broker.middlewares if isinstance(m, DelayedRetryMiddleware)]
    monkeypatch.setattr(retry, "default_delay", 0.0)
    monkeypatch.setattr(retry, "use_jitter", False)


async def send_one(app: FastAPI, to: str, **context: Any) -> None:
    async with app.state.db.sessionmaker() as session:
        queue_email(
            session,
            to=to,
            template="notification",
            language="pt",
            context={"name": "Ana", "type": "like", "title": "Oi", "message": "M", **context},
        )
        await commit(session)
    await wait_for_jobs()


def event_names(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.msg["event"] for r in caplog.records if isinstance(r.msg, dict)]


async def test_a_notification_email_goes_through_smtp(
    app: FastAPI, woman: AuthedUser, sponsor: AuthedUser, smtp_server: SmtpSink
) -> None:
    async with app.state.db.sessionmaker() as session:
        await notify(
            session,
            woman.id,
            "mentor_accepted",
            "Your mentor said yes",
            "<i>Sofia</i> accepted your request",
            actor_id=sponsor.id,
            email=True,
        )
        await commit(session)
    await wait_for_jobs()

    (message,) = smtp_server.messages
    assert smtp_server.recipients == [[woman.email]]
    assert message["To"] == woman.email
    assert message["Subject"] == "New on PEAL: Your mentor said yes"
    assert message.get_content_type() == "multipart/alternative"
    html = message.get_body(("html",))
    assert html is not None
    assert "&lt;i&gt;Sofia&lt;/i&gt;" in html.get_content()


async def test_a_refused_send_is_retried_with_the_same_message_id(
    app: FastAPI,
    smtp_server: SmtpSink,
    no_retry_delay: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    smtp_server.refusals_left = 1

    await send_one(app, "ana@example.com")

    assert smtp_server.attempts == 2
    first, second = smtp_server.message_ids
    assert first == second  # the same email, not a second one
    # On the sender's domain, though the request that queued it read no settings.
    assert first.endswith("@" + app.state.settings.email_from.rsplit("@", 1)[1] + ">")
    (message,) = smtp_server.messages
    assert message["Subject"] == "Novidades no PEAL: Oi"
    assert event_names(caplog).count("email_send_failed") == 1


async def test_a_relay_that_keeps_failing_is_logged_not_raised(
    app: FastAPI,
    smtp_server: SmtpSink,
    no_retry_delay: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    smtp_server.refusals_left = 100
    smtp_server.refusal = "554 5.7.1 Rejected"

    await send_one(app, "ana@example.com")  # neither the commit nor the wait raises

    assert smtp_server.attempts == 3  # max_retries of the email task, in all
    assert smtp_server.messages == []
    names = event_names(caplog)
    assert names.count("email_send_failed") == 3
    assert names.count("job_failed") == 3


async def test_an_unreachable_relay_is_retried_and_logged(
    app: FastAPI,
    make_settings: Callable[..., Settings],
    no_retry_delay: None,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    closed_port = free_port()  # nothing listens there
    monkeypatch.setattr(jobs.runtime(), "settings", make_settings(smtp_port=closed_port))

    await send_one(app, "ana@example.com")

    assert event_names(caplog).count("email_send_failed") == 3


async def test_a_broken_template_is_logged_and_not_retried(
    app: FastAPI, smtp_server: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    async with app.state.db.sessionmaker() as session:
        # `name` and the others are missing: the template cannot render.
        queue_email(
            session, to="ana@example.com", template="notification", language="en", context={}
        )
        await commit(session)
    await wait_for_jobs()

    assert smtp_server.attempts == 0
    names = event_names(caplog)
    assert names.count("email_render_failed") == 1
    assert "job_failed" not in names


async def test_a_failing_relay_never_fails_the_request_that_sent_the_email(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    smtp_server: SmtpSink,
    no_retry_delay: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    smtp_server.refusals_left = 100
    smtp_server.refusal = "421 4.3.2 Service not available"

    response = await client.post("/api/auth/forgot-password", json={"email": woman.email})
    await wait_for_jobs()

    assert response.status_code == 202
    assert smtp_server.attempts == 3  # the reset email was tried, and retried
    assert event_names(caplog).count("email_send_failed") == 3

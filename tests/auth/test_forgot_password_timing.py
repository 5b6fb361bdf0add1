"""Issue 8 item 14: forgot-password answers before any look-up, so its timing cannot tell
whether an account exists; the look-up and the email run in a job."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from peal.auth import router as auth_router
from tests.auth.conftest import new_email
from tests.auth.test_password_reset import ANSWER
from tests.conftest import Mailbox
from tests.helpers import ok


async def test_the_answer_does_no_database_work_for_either_kind_of_email(
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    count_queries: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user = await make_user()
    queued: list[str] = []

    async def kiq(email: str) -> None:
        queued.append(email)

    monkeypatch.setattr(auth_router.send_password_reset, "kiq", kiq)
    unknown = new_email()
    count_queries.reset()

    answers = [
        await client.post("/api/auth/forgot-password", json={"email": email})
        for email in (user.email, unknown)
    ]

    assert count_queries.count == 0  # no look-up inside the request: nothing to time
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json() == answers[1].json() == ANSWER
    assert answers[0].headers.keys() == answers[1].headers.keys()
    assert queued == [user.email, unknown]  # both queued alike; the job tells them apart


async def test_the_job_mails_the_existing_account_only(
    client: httpx.AsyncClient, make_user: Callable[..., Any], mailbox: Mailbox
) -> None:
    user = await make_user()
    banned = await make_user(is_banned=True)
    for email in (user.email, banned.email, new_email()):
        await ok(client.post("/api/auth/forgot-password", json={"email": email}))
    await mailbox.wait()

    assert len(mailbox.to(user.email)) == 1
    assert mailbox.to(banned.email) == []
    assert len(mailbox.messages()) == 1

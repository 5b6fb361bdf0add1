"""Auth jobs: the password reset email, looked up and sent outside the request."""

from __future__ import annotations

from peal.auth.service import request_password_reset
from peal.db import commit
from peal.jobs import broker, runtime


@broker.task(task_name="auth.send_password_reset")
async def send_password_reset(email: str) -> None:
    """Look the account up and email it a reset link. Queued by `POST /forgot-password`, which
    answers at once and alike whether or not the account exists: its timing says nothing.
    Run twice, it sends a second link that retires the first (harmless)."""
    state = runtime()
    async with state.db.sessionmaker() as session:
        await request_password_reset(session, state.settings, email)
        await commit(session)

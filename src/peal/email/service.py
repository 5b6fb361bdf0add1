"""What other domains call to send an email: queued as a job once the transaction commits."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from peal.email.tasks import send_email_task
from peal.outbox import enqueue_job


def queue_email(
    session: AsyncSession,
    *,
    to: str,
    template: str,
    language: str | None,
    context: dict[str, Any],
) -> None:
    """Send `template` (a folder name under email/templates/<lang>/) to `to` after commit.

    `context` must be JSON-serialisable: it travels through the job queue. Templates also get
    `app_url` (the web client's address, for links) and `language`. Nothing is sent if the
    transaction rolls back; a failure to send is logged and retried by the job, never raised
    into the request.
    """
    enqueue_job(
        session,
        send_email_task,
        to=to,
        template=template,
        language=language,
        context=context,
        # Chosen now, so that a retried job sends the same message (receivers may deduplicate);
        # the job puts it on the sender's domain.
        message_key=uuid.uuid4().hex,
    )

"""The email job: render and send one message. Emails never go out inside a request."""

from __future__ import annotations

from typing import Any

import structlog
from jinja2 import TemplateError

from peal.email.rendering import new_message_id, render_email
from peal.email.senders import create_sender, mask_address
from peal.jobs import broker, runtime

log = structlog.get_logger("peal.email")


@broker.task(task_name="email.send", retry_on_error=True, max_retries=3)
async def send_email_task(
    to: str,
    template: str,
    language: str | None,
    context: dict[str, Any],
    message_id: str | None = None,
    message_key: str | None = None,
) -> None:
    """Render `template` and send it. A relay failure raises, so the job is retried; a
    template failure is a bug that retrying cannot fix, so it is logged and dropped. (A job of
    another domain awaits it directly when part of its email is known only when it is sent.)

    `message_key` (chosen at queueing) makes the Message-ID, the same on every retry; a
    `message_id` comes from jobs queued before the key existed."""
    settings = runtime().settings
    message_id = message_id or new_message_id(settings.email_from, message_key)
    try:
        message = render_email(
            sender=settings.email_from,
            to=to,
            template=template,
            language=language,
            context=context,
            app_url=settings.frontend_url,
            message_id=message_id,
        )
    except (TemplateError, ValueError) as exc:
        log.error("email_render_failed", template=template, language=language, error=str(exc))
        return
    try:
        await create_sender(settings).send(message)
    except Exception as exc:
        log.warning(
            "email_send_failed",
            template=template,
            to=mask_address(to),
            message_id=message_id,
            error=f"{type(exc).__name__}: {exc}",
        )
        raise

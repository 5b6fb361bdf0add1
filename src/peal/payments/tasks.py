"""Background jobs of the payments plumbing: forgetting expired idempotency keys."""

from __future__ import annotations

import structlog

from peal.core.idempotency import purge_expired_keys
from peal.db import commit
from peal.jobs import broker, runtime

log = structlog.get_logger("peal.payments.tasks")


@broker.task(task_name="payments.purge_idempotency_keys", schedule=[{"cron": "40 3 * * *"}])
async def purge_idempotency_keys() -> None:
    """Daily: keys past IDEMPOTENCY_KEY_TTL (at least 24 h) are deleted."""
    async with runtime().db.sessionmaker() as session:
        count = await purge_expired_keys(session, runtime().settings.idempotency_key_ttl)
        await commit(session)
    if count:
        log.info("idempotency_keys_purged", count=count)

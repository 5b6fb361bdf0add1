"""Upload jobs: removing stored files, and sweeping uploads that were never completed or
never used."""

from __future__ import annotations

import uuid
from datetime import timedelta

import structlog
from sqlalchemy import delete

from peal.db import commit, utcnow
from peal.jobs import broker, runtime
from peal.storage.base import staging_key
from peal.storage.local import LocalStorage
from peal.storage.service import storage_for
from peal.uploads.models import Upload
from peal.uploads.service import abandoned_uploads, forget_unattached, unattached_videos

log = structlog.get_logger("peal.uploads")

# An upload URL that expired this long ago will not be completed any more.
ABANDONED_GRACE = timedelta(hours=1)
SWEEP_BATCH = 500


@broker.task(task_name="uploads.delete_files", retry_on_error=True, max_retries=3)
async def delete_stored_files(keys: list[str]) -> None:
    """Remove stored objects; a missing one is fine, so running twice does no harm."""
    storage = storage_for(runtime().settings)
    for key in keys:
        await storage.delete(key)


@broker.task(task_name="uploads.delete_owner_files", retry_on_error=True, max_retries=3)
async def delete_owner_files(owner_id: str) -> int:
    """Remove everything stored for one person (account deletion); idempotent."""
    storage = storage_for(runtime().settings)
    removed = await storage.delete_owner_files(uuid.UUID(owner_id))
    log.info("owner_files_deleted", count=removed)
    return removed


async def sweep_abandoned_uploads() -> int:
    """Delete pending uploads (and whatever was PUT for them) past their URL's expiry.

    Callable directly (tests, CLI); the scheduler runs it through the task below.
    """
    rt = runtime()
    storage = storage_for(rt.settings)
    cutoff = utcnow() - timedelta(seconds=rt.settings.upload_url_expiry) - ABANDONED_GRACE
    removed = 0
    while True:
        async with rt.db.sessionmaker() as session:
            uploads = await abandoned_uploads(session, cutoff, SWEEP_BATCH)
            if not uploads:
                break
            for upload in uploads:
                await storage.delete(staging_key(upload.key))
                await storage.delete(upload.key)
            ids = [upload.id for upload in uploads]
            await session.execute(
                delete(Upload).where(Upload.id.in_(ids), Upload.status == "pending")
            )
            await session.commit()
            removed += len(uploads)
        if len(uploads) < SWEEP_BATCH:
            break
    if isinstance(storage, LocalStorage):
        await storage.clear_temporary_files(int(ABANDONED_GRACE.total_seconds()))
    if removed:
        log.info("abandoned_uploads_removed", count=removed)
    return removed


@broker.task(task_name="uploads.sweep_abandoned", schedule=[{"cron": "17 * * * *"}])
async def sweep_abandoned_uploads_task() -> int:
    return await sweep_abandoned_uploads()


async def sweep_unattached_uploads() -> int:
    """Delete completed video uploads no video took within UNATTACHED_UPLOAD_TTL.

    Without it, completing uploads and never using them fills the disk (each up to 500 MB).
    Callable directly (tests, CLI); the scheduler runs it through the task below.
    """
    rt = runtime()
    cutoff = utcnow() - timedelta(seconds=rt.settings.unattached_upload_ttl)
    removed = 0
    while True:
        async with rt.db.sessionmaker() as session:
            ids = await unattached_videos(session, cutoff, SWEEP_BATCH)
            removed += len(await forget_unattached(session, ids))
            await commit(session)  # the files go in a job after the rows
        if len(ids) < SWEEP_BATCH:
            break
    if removed:
        log.info("unattached_uploads_removed", count=removed)
    return removed


@broker.task(task_name="uploads.sweep_unattached", schedule=[{"cron": "47 * * * *"}])
async def sweep_unattached_uploads_task() -> int:
    return await sweep_unattached_uploads()

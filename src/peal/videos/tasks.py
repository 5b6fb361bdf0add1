"""Video jobs: processing (duration, thumbnail), follower fan-out, the stuck-video sweeper and
the trending recompute. Each periodic job is also a plain function tests and the CLI can call.
"""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Literal

import anyio
import structlog
from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from peal.core.pagination import after_cursor
from peal.core.schemas import decode_cursor, encode_cursor
from peal.db import after_commit, commit, utcnow
from peal.jobs import broker, runtime
from peal.notifications.service import notify, notify_many
from peal.storage.base import Storage, new_key
from peal.storage.media import EXTENSION_TYPES
from peal.storage.service import storage_for
from peal.uploads.service import forget_files, register_stored_file
from peal.users.models import User, UserFollow
from peal.users.policy import profile_visible
from peal.videos.media import UndecodableVideo, VideoProbe, probe_video, remux_without_metadata
from peal.videos.models import Video
from peal.videos.ranking import recompute_trending

log = structlog.get_logger("peal.videos")

FAN_OUT_BATCH = 500
SWEEP_BATCH = 100

Outcome = Literal["ready", "failed", "skipped", "retry"]

_ffmpeg_limiter: anyio.CapacityLimiter | None = None


def _limiter(concurrency: int) -> anyio.CapacityLimiter:
    global _ffmpeg_limiter
    if _ffmpeg_limiter is None:
        _ffmpeg_limiter = anyio.CapacityLimiter(concurrency)
    return _ffmpeg_limiter


@dataclass(frozen=True)
class _Claim:
    author_id: uuid.UUID
    title: str
    video_key: str | None
    wants_thumbnail: bool


async def _claim(session: AsyncSession, video_id: uuid.UUID) -> _Claim | None:
    """Count an attempt on a video still `processing`; None when there is nothing to do."""
    row = (
        await session.execute(
            update(Video)
            .where(Video.id == video_id, Video.status == "processing")
            .values(
                processing_attempts=Video.processing_attempts + 1,
                processing_started_at=utcnow(),
                updated_at=Video.updated_at,
            )
            .returning(Video.author_id, Video.title, Video.video_key, Video.thumbnail_url)
        )
    ).first()
    if row is None:
        return None
    return _Claim(row.author_id, row.title, row.video_key, row.thumbnail_url is None)


async def _mark_failed(session: AsyncSession, video_id: uuid.UUID, reason: str) -> bool:
    """`processing` → `failed`, and tell the author. False if it was no longer processing."""
    row = (
        await session.execute(
            update(Video)
            .where(Video.id == video_id, Video.status == "processing")
            .values(status="failed", processed_at=utcnow(), updated_at=utcnow())
            .returning(Video.author_id, Video.title)
        )
    ).first()
    if row is None:
        return False
    log.warning("video_failed", video_id=str(video_id), reason=reason)
    await notify(
        session,
        row.author_id,
        "video_failed",
        "Your video could not be processed",
        f"We could not read \u201c{row.title}\u201d. Please upload it again as MP4, WebM or "
        "QuickTime.",
        {"videoId": video_id},
    )
    return True


async def _publish(
    session: AsyncSession,
    video_id: uuid.UUID,
    duration: int,
    clean_key: str,
    thumbnail_key: str | None,
    storage: Storage,
) -> tuple[str, str | None] | None:
    """`processing` → `ready` in one conditional UPDATE (atomic on both databases): of two
    runs, only one gets a row back. The video now points at its clean copy. Our thumbnail is
    used only if the video has none; the SET expressions read the row as it was. Answers
    (title, thumbnail key kept) or None."""
    values: dict[str, Any] = {
        "status": "ready",
        "video_duration": duration,
        "video_key": clean_key,
        "video_url": storage.public_url(clean_key),
        "processed_at": utcnow(),
        "updated_at": utcnow(),
    }
    if thumbnail_key is not None:
        has_none = Video.thumbnail_url.is_(None)
        values["thumbnail_url"] = case(
            (has_none, storage.public_url(thumbnail_key)), else_=Video.thumbnail_url
        )
        values["thumbnail_key"] = case((has_none, thumbnail_key), else_=Video.thumbnail_key)
    row = (
        await session.execute(
            update(Video)
            .where(Video.id == video_id, Video.status == "processing")
            .values(values)
            .returning(Video.title, Video.thumbnail_key)
        )
    ).first()
    return None if row is None else (row.title, row.thumbnail_key)


def _probe_and_clean(
    source: Path, clean: Path, extension: str, *, with_thumbnail: bool
) -> VideoProbe:
    probe = probe_video(source, with_thumbnail=with_thumbnail)
    remux_without_metadata(source, clean, extension)
    return probe


async def process_video_now(video_id: uuid.UUID) -> Outcome:
    """Read the video's duration, make a thumbnail if it has none, and publish it.

    What is published is a clean copy under a new key (the streams remuxed without any
    metadata, so no phone's GPS position in the container reaches viewers); the uploaded
    original is deleted once the video points at the copy.

    Idempotent: a video that is no longer `processing` (done, failed, deleted) is left alone,
    and of two runs at once only the first to finish publishes. An undecodable file fails
    the video; a storage outage leaves it `processing` for the sweeper to retry.
    """
    rt = runtime()
    storage = storage_for(rt.settings)
    async with rt.db.sessionmaker() as session:
        claim = await _claim(session, video_id)
        await session.commit()
    if claim is None:
        return "skipped"
    if claim.video_key is None:
        async with rt.db.sessionmaker() as session:
            await _mark_failed(session, video_id, "no stored file")
            await commit(session)
        return "failed"
    extension = claim.video_key.rsplit(".", 1)[-1]
    content_type = EXTENSION_TYPES.get(extension, "video/mp4")
    clean_key = new_key(claim.author_id, extension)
    try:
        async with storage.local_copy(claim.video_key) as path:
            with tempfile.TemporaryDirectory(prefix="peal-clean-") as directory:
                clean_path = Path(directory) / f"clean.{extension}"
                probe = await anyio.to_thread.run_sync(
                    partial(
                        _probe_and_clean,
                        path,
                        clean_path,
                        extension,
                        with_thumbnail=claim.wants_thumbnail,
                    ),
                    limiter=_limiter(rt.settings.video_processing_concurrency),
                )
                clean_size = clean_path.stat().st_size
                await storage.write_file(clean_key, clean_path, content_type)
    except (UndecodableVideo, FileNotFoundError) as exc:
        async with rt.db.sessionmaker() as session:
            await _mark_failed(session, video_id, str(exc))
            await commit(session)
        return "failed"
    except Exception:
        log.exception("video_processing_error", video_id=str(video_id))
        return "retry"

    thumbnail_key = None
    if probe.thumbnail_jpeg is not None:
        thumbnail_key = new_key(claim.author_id, "jpg")
        await storage.write(thumbnail_key, probe.thumbnail_jpeg, "image/jpeg")

    async with rt.db.sessionmaker() as session:
        published = await _publish(
            session, video_id, probe.duration_seconds, clean_key, thumbnail_key, storage
        )
        if published is None:  # another run finished first, or the video was deleted
            await session.rollback()
            for key in (clean_key, thumbnail_key):
                if key:
                    await storage.delete(key)
            return "skipped"
        title, kept_thumbnail = published
        await register_stored_file(
            session,
            owner_id=claim.author_id,
            key=clean_key,
            kind="video",
            content_type=content_type,
            size=clean_size,
            url=storage.public_url(clean_key),
        )
        await forget_files(session, [claim.video_key])  # the original, metadata and all
        if thumbnail_key and probe.thumbnail_jpeg is not None:
            if kept_thumbnail == thumbnail_key:
                await register_stored_file(
                    session,
                    owner_id=claim.author_id,
                    key=thumbnail_key,
                    kind="image",
                    content_type="image/jpeg",
                    size=len(probe.thumbnail_jpeg),
                    url=storage.public_url(thumbnail_key),
                )
            else:  # the author chose a thumbnail meanwhile
                await storage.delete(thumbnail_key)
        await notify(
            session,
            claim.author_id,
            "video_ready",
            "Your video is live",
            f"\u201c{title}\u201d is ready and visible to everyone who can see your profile.",
            {"videoId": video_id},
        )

        async def fan_out() -> None:
            await fan_out_video_upload.kiq(str(video_id), None)

        after_commit(session, fan_out)
        await commit(session)
    log.info("video_ready", video_id=str(video_id), duration=probe.duration_seconds)
    return "ready"


@broker.task(task_name="videos.process")
async def process_video(video_id: str) -> str:
    return await process_video_now(uuid.UUID(video_id))


async def fan_out_batch(video_id: uuid.UUID, after: str | None) -> str | None:
    """Notify one batch of the author's followers (one INSERT); the cursor of the next batch.

    Nothing goes out for a video no longer ready or an author others cannot see (private,
    banned): their followers would get a link to a 404.
    """
    rt = runtime()
    async with rt.db.sessionmaker() as session:
        row = (
            await session.execute(
                select(Video.title, User.id, User.name)
                .join(User, User.id == Video.author_id)
                .where(Video.id == video_id, Video.status == "ready", profile_visible(None))
            )
        ).first()
        if row is None:
            return None
        title, author_id, author_name = row
        query = (
            select(UserFollow.follower_id, UserFollow.created_at, UserFollow.id)
            .join(User, User.id == UserFollow.follower_id)
            .where(
                UserFollow.following_id == author_id,
                User.is_banned.is_(False),
                User.deleted_at.is_(None),
            )
            .order_by(UserFollow.created_at, UserFollow.id)
            .limit(FAN_OUT_BATCH)
        )
        if after is not None:
            position = decode_cursor(after)
            query = query.where(
                after_cursor(UserFollow.created_at, UserFollow.id, position, ascending=True)
            )
        followers = (await session.execute(query)).all()
        if followers:
            await notify_many(
                session,
                [follower.follower_id for follower in followers],
                "video_upload",
                f"{author_name} posted a new video",
                f"\u201c{title}\u201d",
                {"videoId": video_id, "authorId": author_id},
                actor_id=author_id,
            )
        await session.commit()
    if len(followers) < FAN_OUT_BATCH:
        return None
    last = followers[-1]
    return encode_cursor(last.created_at, last.id)


@broker.task(task_name="videos.fan_out_upload", retry_on_error=True, max_retries=3)
async def fan_out_video_upload(video_id: str, after: str | None) -> None:
    """One batch per job, each in its own transaction; the next batch is its own job."""
    next_after = await fan_out_batch(uuid.UUID(video_id), after)
    if next_after is not None:
        await fan_out_video_upload.kiq(video_id, next_after)


@dataclass(frozen=True)
class SweepResult:
    requeued: list[uuid.UUID]
    failed: list[uuid.UUID]


async def sweep_stuck_videos(now: datetime | None = None) -> SweepResult:
    """Re-queue videos `processing` for longer than VIDEO_PROCESSING_TIMEOUT (a lost job, a
    crashed worker); after VIDEO_PROCESSING_MAX_ATTEMPTS the video fails instead."""
    rt = runtime()
    settings = rt.settings
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(seconds=settings.video_processing_timeout)
    async with rt.db.sessionmaker() as session:
        stuck = (
            await session.execute(
                select(Video.id, Video.processing_attempts)
                .where(
                    Video.status == "processing",
                    or_(
                        Video.processing_started_at < cutoff,
                        and_(Video.processing_started_at.is_(None), Video.created_at < cutoff),
                    ),
                )
                .order_by(Video.created_at)
                .limit(SWEEP_BATCH)
                .with_for_update(skip_locked=True)
            )
        ).all()
        requeue = [
            row.id
            for row in stuck
            if row.processing_attempts < settings.video_processing_max_attempts
        ]
        failed = []
        for row in stuck:
            if row.id not in requeue and await _mark_failed(
                session, row.id, f"gave up after {row.processing_attempts} attempts"
            ):
                failed.append(row.id)
        if requeue:
            # Restart the clock, so the next sweep waits for this attempt instead of queueing
            # the same video again while the worker is merely busy.
            await session.execute(
                update(Video)
                .where(Video.id.in_(requeue))
                .values(processing_started_at=now, updated_at=Video.updated_at)
            )

            async def enqueue() -> None:
                for video_id in requeue:
                    await process_video.kiq(str(video_id))

            after_commit(session, enqueue)
        await commit(session)
    if requeue or failed:
        log.info("stuck_videos_swept", requeued=len(requeue), failed=len(failed))
    return SweepResult(requeue, failed)


@broker.task(task_name="videos.sweep_stuck", schedule=[{"cron": "*/5 * * * *"}])
async def sweep_stuck_videos_task() -> None:
    await sweep_stuck_videos()


async def recompute_trending_now(now: datetime | None = None) -> int:
    rt = runtime()
    async with rt.db.sessionmaker() as session:
        result = await recompute_trending(session, rt.settings, now)
        await session.commit()
    return result.trending


@broker.task(task_name="videos.recompute_trending", schedule=[{"cron": "*/10 * * * *"}])
async def recompute_trending_task() -> None:
    await recompute_trending_now()

"""The rules of uploads: server-chosen keys, checks on completion, ownership of stored files."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import anyio
import structlog
from sqlalchemy import case, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from peal.config import Settings
from peal.core.errors import AppError, Conflict, NotFound, PayloadTooLarge, ValidationFailed
from peal.core.export import row_dict
from peal.core.sql import NO_SYNC
from peal.db import release_connection, utcnow
from peal.outbox import enqueue_job
from peal.storage.base import (
    KEY_PATTERN,
    Storage,
    UploadTarget,
    is_valid_key,
    new_key,
    staging_key,
)
from peal.storage.media import (
    SNIFF_BYTES,
    MediaKind,
    detect_content_type,
    extension_of,
    kind_of,
    same_format,
)
from peal.uploads.images import ImageRejected, sanitize_image
from peal.uploads.models import Upload, UploadStatus
from peal.uploads.videos import VideoRejected, check_video_decodes

log = structlog.get_logger("peal.uploads")

# Pillow re-encodes at most this many images at once per process (each may take ~200 MB).
_image_limiter: anyio.CapacityLimiter | None = None
# FFmpeg checks of uploaded videos at once per process (VIDEO_PROCESSING_CONCURRENCY).
_ffmpeg_limiter: anyio.CapacityLimiter | None = None

_KEY_AT_END = re.compile(rf"(?:^|/)({KEY_PATTERN.pattern})$")

_TYPE_NAMES = {
    "image/jpeg": "a JPEG image",
    "image/png": "a PNG image",
    "image/gif": "a GIF image",
    "image/webp": "a WebP image",
    "video/mp4": "an MP4 video",
    "video/quicktime": "a QuickTime video",
    "video/webm": "a WebM video",
}


def _limiter() -> anyio.CapacityLimiter:
    global _image_limiter
    if _image_limiter is None:
        _image_limiter = anyio.CapacityLimiter(2)
    return _image_limiter


class UploadStalled(AppError):
    status_code = 408
    code = "upload_timeout"
    message = "The upload stalled: send the file again"


async def within_deadlines(
    chunks: AsyncIterable[bytes], *, idle_seconds: float, total_seconds: float
) -> AsyncIterator[bytes]:
    """The chunks of a request body, or 408 when the client stalls.

    uvicorn bounds neither the wait between two body reads nor a whole body's duration: a
    client sending 12 bytes and then nothing would keep the request (and its file handle)
    forever. Each read may wait `idle_seconds`, the whole body `total_seconds`.
    """
    deadline = anyio.current_time() + total_seconds
    iterator = aiter(chunks)
    while True:
        wait = max(0.0, min(idle_seconds, deadline - anyio.current_time()))
        try:
            with anyio.fail_after(wait):
                chunk = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise UploadStalled() from None
        yield chunk


def _video_limiter(settings: Settings) -> anyio.CapacityLimiter:
    global _ffmpeg_limiter
    if _ffmpeg_limiter is None:
        _ffmpeg_limiter = anyio.CapacityLimiter(settings.video_processing_concurrency)
    return _ffmpeg_limiter


def max_size_for(settings: Settings, kind: MediaKind) -> int:
    return settings.max_image_upload_bytes if kind == "image" else settings.max_video_upload_bytes


@dataclass(frozen=True)
class NewUpload:
    upload: Upload
    target: UploadTarget
    file_url: str
    max_size: int


async def start_upload(
    session: AsyncSession,
    storage: Storage,
    settings: Settings,
    owner_id: uuid.UUID,
    *,
    content_type: str,
    file_name: str | None,
) -> NewUpload:
    """Reserve a key in the owner's namespace and sign a URL to PUT its bytes to."""
    kind = kind_of(content_type)
    if kind is None:
        raise ValidationFailed("contentType", "This file type is not accepted")
    check_quota(settings, await storage_usage(session, owner_id))
    key = new_key(owner_id, extension_of(content_type))
    max_size = max_size_for(settings, kind)
    expires_at = utcnow() + timedelta(seconds=settings.upload_url_expiry)
    upload = Upload(
        key=key,
        owner_id=owner_id,
        kind=kind,
        declared_content_type=content_type,
        file_name=file_name,
        status="pending",
    )
    session.add(upload)
    await session.flush()
    target = await storage.upload_target(
        staging_key(key),
        content_type=content_type,
        max_size=max_size,
        owner_id=owner_id,
        expires_at=expires_at,
    )
    return NewUpload(upload, target, storage.public_url(key), max_size)


async def _owned_upload(
    session: AsyncSession, key: str, owner_id: uuid.UUID, *, lock: bool = False
) -> Upload:
    if not is_valid_key(key):
        raise NotFound("Upload not found")
    query = select(Upload).where(Upload.key == key, Upload.owner_id == owner_id)
    if lock:
        query = query.with_for_update()
    upload = await session.scalar(query)
    if upload is None:
        raise NotFound("Upload not found")
    return upload


async def find_pending_upload(session: AsyncSession, key: str) -> Upload | None:
    """The pending upload of `key` (the local PUT route writes only to those)."""
    upload: Upload | None = await session.scalar(
        select(Upload).where(Upload.key == key, Upload.status == "pending")
    )
    return upload


async def _reject(storage: Storage, stored_key: str, error: Exception) -> Exception:
    """Delete a refused file at once (it was never served) and hand back the error."""
    await storage.delete(stored_key)
    return error


@dataclass(frozen=True)
class StorageUsage:
    """What an owner's completed uploads take: in all, and completed in the last day."""

    total_bytes: int
    last_day_bytes: int


async def storage_usage(session: AsyncSession, owner_id: uuid.UUID) -> StorageUsage:
    """One query over the owner's uploads (the `owner_id, created_at` index)."""
    since = utcnow() - timedelta(days=1)
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(Upload.size), 0),
                func.coalesce(
                    func.sum(case((Upload.completed_at >= since, Upload.size), else_=0)), 0
                ),
            ).where(Upload.owner_id == owner_id, Upload.status == "completed")
        )
    ).one()
    return StorageUsage(int(row[0]), int(row[1]))


class StorageQuotaExceeded(AppError):
    status_code = 413
    code = "storage_quota_exceeded"
    message = "Your storage is full: delete some files first"


class DailyUploadLimit(AppError):
    status_code = 429
    code = "daily_upload_limit"
    message = "You have uploaded as much as a day allows: try again tomorrow"


def check_quota(settings: Settings, usage: StorageUsage, adding: int = 0) -> None:
    """Refuse what would take the owner past STORAGE_QUOTA_BYTES or DAILY_UPLOAD_BYTES.

    `adding=0` (a new upload URL) refuses only an owner already at a limit.
    """
    if usage.total_bytes + adding > settings.storage_quota_bytes or (
        adding == 0 and usage.total_bytes >= settings.storage_quota_bytes
    ):
        raise StorageQuotaExceeded()
    if usage.last_day_bytes + adding > settings.daily_upload_bytes or (
        adding == 0 and usage.last_day_bytes >= settings.daily_upload_bytes
    ):
        raise DailyUploadLimit(headers={"Retry-After": "3600"})


@dataclass(frozen=True)
class _Published:
    content_type: str
    size: int


async def complete_upload(
    session: AsyncSession, storage: Storage, settings: Settings, owner_id: uuid.UUID, key: str
) -> Upload:
    """Check what was PUT for `key` and publish it, or delete it and say why.

    The real type comes from the bytes; it must be of the family declared when the URL was
    made, within that family's size limit and the owner's quotas. An image is decoded and
    re-encoded without its metadata before it is published; a video must decode.

    No database connection is held while the store, Pillow or FFmpeg work: the reads come
    first, the connection goes back to the pool, and one guarded UPDATE (`WHERE status =
    'pending'`) records the result. Completing twice, even at the same moment and on SQLite
    (no row locks), answers the same upload: every step is safe to repeat, and of parallel
    runs only one UPDATE finds the row pending, the others read what it wrote.
    """
    upload = await _owned_upload(session, key, owner_id)
    if upload.status == "completed":
        return upload
    usage = await storage_usage(session, owner_id)
    await release_connection(session)
    kind: MediaKind = "image" if upload.kind == "image" else "video"
    try:
        published = await _check_and_publish(storage, settings, upload, kind, usage)
    except FileNotFoundError:
        # The staged copy went away under us: a parallel complete of this upload moved it.
        found = await _published_copy(storage, key)
        if found is None:
            raise Conflict("Nothing was uploaded for this key yet", code="upload_missing") from None
        published = found
    done: Upload | None = await session.scalar(
        update(Upload)
        .where(Upload.id == upload.id, Upload.status == "pending")
        .values(
            status="completed",
            content_type=published.content_type,
            size=published.size,
            url=storage.public_url(key),
            completed_at=utcnow(),
        )
        .returning(Upload),
        execution_options={"populate_existing": True},
    )
    if done is None:  # completed by a parallel request, or deleted meanwhile
        done = await session.scalar(
            select(Upload).where(Upload.id == upload.id).execution_options(populate_existing=True)
        )
        if done is None:
            await storage.delete(key)
            raise NotFound("Upload not found")
        return done
    log.info(
        "upload_completed",
        key=key,
        kind=kind,
        size=published.size,
        content_type=published.content_type,
    )
    return done


async def _published_copy(storage: Storage, key: str) -> _Published | None:
    """The file a parallel complete published for `key`, if there is one."""
    size = await storage.size(key)
    if size is None:
        return None
    detected = detect_content_type(await storage.read_head(key, SNIFF_BYTES))
    return _Published(detected or "application/octet-stream", size)


async def _check_and_publish(
    storage: Storage,
    settings: Settings,
    upload: Upload,
    kind: MediaKind,
    usage: StorageUsage,
) -> _Published:
    """The checks and the move to the public key. FileNotFoundError if the staged copy is
    missing (or vanishes midway): the caller tells "never uploaded" from "done in parallel"."""
    key = upload.key
    staged = staging_key(key)
    size = await storage.size(staged)
    if size is None:
        raise FileNotFoundError(staged)
    limit = max_size_for(settings, kind)
    if size > limit:
        raise await _reject(
            storage,
            staged,
            PayloadTooLarge(
                f"The file is {size} bytes; the limit for {kind}s is {limit} bytes",
                code="file_too_large",
            ),
        )
    try:
        check_quota(settings, usage, size)
    except AppError as exc:
        raise await _reject(storage, staged, exc) from None
    declared = upload.declared_content_type
    detected = detect_content_type(await storage.read_head(staged, SNIFF_BYTES))
    if detected is None or not same_format(declared, detected):
        found = _TYPE_NAMES.get(detected or "", "not a supported image or video")
        raise await _reject(
            storage,
            staged,
            ValidationFailed("contentType", f"The file is {found}, not {declared}"),
        )
    if kind == "image":
        original = await storage.read(staged)
        try:
            clean = await anyio.to_thread.run_sync(
                sanitize_image, original, declared, limiter=_limiter()
            )
        except ImageRejected as exc:
            raise await _reject(
                storage,
                staged,
                ValidationFailed("file", f"The image cannot be decoded: {exc}"),
            ) from exc
        await storage.write(key, clean, declared)
        await storage.delete(staged)
        return _Published(detected, len(clean))
    try:
        async with storage.local_copy(staged) as path:
            await anyio.to_thread.run_sync(
                check_video_decodes, path, limiter=_video_limiter(settings)
            )
    except VideoRejected as exc:
        if await storage.size(staged) is None:  # moved by a parallel complete as we opened it
            raise FileNotFoundError(staged) from exc
        raise await _reject(
            storage, staged, ValidationFailed("file", f"The video cannot be decoded: {exc}")
        ) from exc
    await storage.promote(staged, key, declared)
    return _Published(detected, size)


async def delete_upload(session: AsyncSession, owner_id: uuid.UUID, key: str) -> None:
    """Forget the caller's own upload; its files are removed by a job after commit."""
    upload = await _owned_upload(session, key, owner_id, lock=True)
    if upload.in_use:
        raise Conflict(
            "This file belongs to a video: delete the video instead", code="upload_in_use"
        )
    await session.delete(upload)
    await session.flush()
    delete_files_after_commit(session, [key])


def key_of_reference(reference: str) -> str | None:
    """The storage key at the end of a file URL (or a bare key), or None."""
    if is_valid_key(reference):
        return reference
    match = _KEY_AT_END.search(urlsplit(reference).path)
    return match.group(1) if match else None


async def resolve_owned_upload(
    session: AsyncSession,
    url: str,
    owner_id: uuid.UUID,
    kind: MediaKind,
    *,
    field: str = "url",
) -> Upload:
    """The caller's completed upload of `kind` that `url` (its file URL, or its key) names.

    Anything else (a URL elsewhere, another user's file, a pending or refused upload, the
    wrong kind) is a 422 on `field`. Store `upload.url` (canonical), not the string sent.
    """
    key = key_of_reference(url)
    upload = None
    if key is not None:
        upload = await session.scalar(
            select(Upload).where(
                Upload.key == key,
                Upload.owner_id == owner_id,
                Upload.kind == kind,
                Upload.status == "completed",
            )
        )
    if upload is None or url not in (upload.key, upload.url):
        raise ValidationFailed(field, f"must be the URL of an {kind} you uploaded")
    return upload


def _on_allowed_host(url: str, hosts: Collection[str]) -> bool:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and port is None
        and parts.username is None
        and parts.password is None
        and (parts.hostname or "") in hosts
        and not any(char.isspace() or ord(char) < 32 for char in url)
    )


async def resolve_image_url(
    session: AsyncSession,
    url: str,
    owner_id: uuid.UUID,
    external_hosts: Collection[str],
    *,
    field: str,
) -> str:
    """The URL to store for an image a profile or event shows: the owner's own completed image
    upload (its canonical URL, now marked in use) or an https URL on one of `external_hosts`
    (setting EXTERNAL_IMAGE_HOSTS). Anything else is a 422 on `field`: every viewer's browser
    fetches it, so an address of the owner's choosing would hand her their IPs (or point at
    an internal service)."""
    if _on_allowed_host(url, external_hosts):
        return url
    upload = await resolve_owned_upload(session, url, owner_id, "image", field=field)
    await mark_in_use(session, [upload.id])
    return upload.url or url


async def mark_in_use(session: AsyncSession, upload_ids: Sequence[uuid.UUID]) -> None:
    """Attach uploads to a resource: their owner can no longer delete them on their own."""
    if upload_ids:
        await session.execute(update(Upload).where(Upload.id.in_(upload_ids)).values(in_use=True))


async def register_stored_file(
    session: AsyncSession,
    *,
    owner_id: uuid.UUID,
    key: str,
    kind: MediaKind,
    content_type: str,
    size: int,
    url: str,
    in_use: bool = True,
) -> Upload:
    """Record a file the server stored itself (a generated thumbnail, demo media)."""
    now = utcnow()
    upload = Upload(
        key=key,
        owner_id=owner_id,
        kind=kind,
        declared_content_type=content_type,
        content_type=content_type,
        size=size,
        status="completed",
        url=url,
        in_use=in_use,
        completed_at=now,
    )
    session.add(upload)
    await session.flush()
    return upload


async def forget_files(session: AsyncSession, keys: Sequence[str]) -> None:
    """Drop the upload rows of `keys` and remove their files once the transaction commits."""
    present = [key for key in keys if key]
    if not present:
        return
    await session.execute(delete(Upload).where(Upload.key.in_(present)))
    delete_files_after_commit(session, present)


def delete_files_after_commit(session: AsyncSession, keys: Sequence[str]) -> None:
    from peal.uploads.tasks import delete_stored_files

    enqueue_job(session, delete_stored_files, [*keys, *(staging_key(key) for key in keys)])


async def abandoned_uploads(
    session: AsyncSession, older_than: datetime, limit: int
) -> list[Upload]:
    """Pending uploads whose URL expired long ago: never completed, safe to remove."""
    rows = await session.scalars(
        select(Upload)
        .where(Upload.status == "pending", Upload.created_at < older_than)
        .order_by(Upload.created_at)
        .limit(limit)
    )
    return list(rows)


async def unattached_videos(
    session: AsyncSession, completed_before: datetime, limit: int
) -> list[uuid.UUID]:
    """Completed video uploads never attached to a video, completed before the cutoff.

    Images are left alone: profiles and events still take image URLs without marking the
    upload in use, so an unattached image may be someone's avatar.
    """
    rows = await session.scalars(
        select(Upload.id)
        .where(
            Upload.status == "completed",
            Upload.kind == "video",
            Upload.in_use.is_(False),
            Upload.completed_at < completed_before,
        )
        .order_by(Upload.completed_at)
        .limit(limit)
    )
    return list(rows)


async def forget_unattached(session: AsyncSession, upload_ids: Sequence[uuid.UUID]) -> list[str]:
    """Delete those of `upload_ids` still unattached (one guarded DELETE: a video that took
    one meanwhile keeps it) and remove their files after commit. Answers the keys removed."""
    if not upload_ids:
        return []
    keys = list(
        await session.scalars(
            delete(Upload)
            .where(
                Upload.id.in_(upload_ids),
                Upload.status == "completed",
                Upload.in_use.is_(False),
            )
            .returning(Upload.key)
        )
    )
    if keys:
        delete_files_after_commit(session, keys)
    return keys


# --- account deletion and export -----------------------------------------------------------


async def purge_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Forget every upload row of the person; once the transaction commits, a job deletes
    everything stored under her prefixes (published, staged, exported)."""
    from peal.uploads.tasks import delete_owner_files

    await session.execute(
        delete(Upload).where(Upload.owner_id == user_id),
        execution_options=NO_SYNC,
    )
    enqueue_job(session, delete_owner_files, str(user_id))


async def export_user(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    """Her completed uploads (the files themselves go in the ZIP's `files/`)."""
    uploads = await session.scalars(
        select(Upload)
        .where(Upload.owner_id == user_id, Upload.status == UploadStatus.COMPLETED)
        .order_by(Upload.created_at)
    )
    return {"uploads": [row_dict(upload) for upload in uploads.all()]}


async def files_of(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    """Keys of her completed uploads, oldest first."""
    keys = await session.scalars(
        select(Upload.key)
        .where(Upload.owner_id == user_id, Upload.status == UploadStatus.COMPLETED)
        .order_by(Upload.created_at)
    )
    return list(keys.all())

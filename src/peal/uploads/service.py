"""The rules of uploads: server-chosen keys, checks on completion, ownership of stored files."""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import anyio
import structlog
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from peal.config import Settings
from peal.core.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from peal.db import after_commit, utcnow
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
from peal.uploads.models import Upload

log = structlog.get_logger("peal.uploads")

# Pillow re-encodes at most this many images at once per process (each may take ~200 MB).
_image_limiter: anyio.CapacityLimiter | None = None

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


async def complete_upload(
    session: AsyncSession, storage: Storage, settings: Settings, owner_id: uuid.UUID, key: str
) -> Upload:
    """Check what was PUT for `key` and publish it, or delete it and say why.

    The real type comes from the bytes; it must be of the family declared when the URL was
    made, and within that family's size limit. An image is decoded and re-encoded without
    its metadata before it is published. Completing twice answers the same upload.
    """
    upload = await _owned_upload(session, key, owner_id, lock=True)
    if upload.status == "completed":
        return upload
    staged = staging_key(key)
    size = await storage.size(staged)
    if size is None:
        raise Conflict("Nothing was uploaded for this key yet", code="upload_missing")
    kind: MediaKind = "image" if upload.kind == "image" else "video"
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
        size = len(clean)
    else:
        await storage.promote(staged, key, declared)
    upload.status = "completed"
    upload.content_type = detected
    upload.size = size
    upload.url = storage.public_url(key)
    upload.completed_at = utcnow()
    await session.flush()
    log.info("upload_completed", key=key, kind=kind, size=size, content_type=detected)
    return upload


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

    files = [*keys, *(staging_key(key) for key in keys)]

    async def enqueue() -> None:
        await delete_stored_files.kiq(files)

    after_commit(session, enqueue)


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

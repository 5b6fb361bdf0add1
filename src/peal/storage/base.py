"""What every storage backend offers, and the rules of the keys it stores files under."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

# Every key is chosen by the server: `u/<owner uuid>/<random hex>.<ext>`. Nothing a client
# sends becomes part of a path, and the owner's namespace is in the key itself.
KEY_PATTERN = re.compile(
    r"u/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/[0-9a-f]{32}"
    r"\.(?:jpg|png|gif|webp|mp4|webm|mov)"
)
# Uploads land under this prefix first and are never served from there: a file becomes
# public only once `complete` has checked it (and stripped an image's metadata).
STAGING_PREFIX = "staging/"


# A person's data export (a ZIP): never public, read only through a signed download link.
EXPORT_KEY_PATTERN = re.compile(
    r"exports/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/[0-9a-f]{32}\.zip"
)


def is_valid_key(key: str) -> bool:
    return KEY_PATTERN.fullmatch(key) is not None


def is_export_key(key: str) -> bool:
    return EXPORT_KEY_PATTERN.fullmatch(key) is not None


def export_key(owner_id: uuid.UUID) -> str:
    return f"exports/{owner_id}/{uuid.uuid4().hex}.zip"


def owner_prefixes(owner_id: uuid.UUID) -> list[str]:
    """Every prefix a person's files live under: published, staged, exported."""
    published = f"u/{owner_id}/"
    return [published, STAGING_PREFIX + published, f"exports/{owner_id}/"]


def new_key(owner_id: uuid.UUID, extension: str) -> str:
    return f"u/{owner_id}/{uuid.uuid4().hex}.{extension}"


def owner_of_key(key: str) -> uuid.UUID | None:
    if not is_valid_key(key):
        return None
    return uuid.UUID(key.split("/", 2)[1])


def staging_key(key: str) -> str:
    return STAGING_PREFIX + key


@dataclass(frozen=True)
class UploadTarget:
    """Where and how a client sends the bytes of one upload."""

    url: str
    expires_at: datetime
    headers: dict[str, str]


class StorageError(Exception):
    """The store failed (unreachable, refused): a server-side problem, not the client's."""


class Storage(Protocol):
    """A place for files, addressed by key. Every method is safe to call from the event loop."""

    name: str

    async def upload_target(
        self,
        key: str,
        *,
        content_type: str,
        max_size: int,
        owner_id: uuid.UUID,
        expires_at: datetime,
    ) -> UploadTarget:
        """A URL the client PUTs the bytes of `key` to (they land in its staging copy)."""
        ...

    def public_url(self, key: str) -> str:
        """The address a stored, checked file is read from."""
        ...

    async def size(self, key: str) -> int | None:
        """Size in bytes, or None when there is no such object."""
        ...

    async def read_head(self, key: str, length: int) -> bytes:
        """The first `length` bytes (fewer if the file is shorter)."""
        ...

    async def read(self, key: str) -> bytes:
        """The whole object (only for files small enough to hold in memory)."""
        ...

    async def write(self, key: str, data: bytes, content_type: str) -> None: ...

    async def write_file(self, key: str, path: Path, content_type: str) -> None:
        """Store the file at `path` under `key` (streamed: videos reach 500 MB)."""
        ...

    async def promote(self, source: str, target: str, content_type: str) -> None:
        """Move `source` to `target` (a rename locally, a server-side copy on S3)."""
        ...

    async def delete(self, key: str) -> None:
        """Remove `key`; a missing object is not an error."""
        ...

    async def delete_owner_files(self, owner_id: uuid.UUID) -> int:
        """Remove everything of this owner (`owner_prefixes`); answers how many objects went."""
        ...

    async def download_url(self, key: str, *, expires_in: int, file_name: str) -> str | None:
        """A short-lived URL the client can fetch a private object from, or None when the
        app must serve the bytes itself (local storage: `local_copy`)."""
        ...

    def local_copy(self, key: str) -> AbstractAsyncContextManager[Path]:
        """A filesystem path holding the object for the duration of the block (for FFmpeg)."""
        ...

    async def check(self) -> None:
        """Raise unless the store can be written to (the /health probe)."""
        ...


AsyncPathContext = AsyncIterator[Path]

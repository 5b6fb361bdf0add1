"""The local filesystem backend: signed upload URLs served by the app, files under one root."""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

import anyio

from peal.config import Settings
from peal.core.errors import Forbidden, PayloadTooLarge, UnsupportedMediaType
from peal.core.security import constant_time_equals
from peal.storage.base import (
    STAGING_PREFIX,
    UploadTarget,
    is_export_key,
    is_valid_key,
    owner_of_key,
    owner_prefixes,
    staging_key,
)
from peal.storage.media import normalize_content_type

UPLOAD_ROUTE = "/api/uploads/local/"
MEDIA_ROUTE = "/media/"
# Received bytes are written in blocks of this size, each in a worker thread.
_WRITE_BLOCK = 1024 * 1024


def signing_key(settings: Settings) -> bytes:
    """The HMAC key of upload signatures: its own secret, or one derived from JWT_SECRET."""
    if settings.storage_signing_secret:
        return settings.storage_signing_secret.encode()
    return hmac.new(settings.jwt_secret.encode(), b"peal:storage-upload:v1", "sha256").digest()


def upload_signature(
    key_bytes: bytes, *, key: str, content_type: str, max_size: int, expires: int
) -> str:
    """HMAC-SHA256 over everything the upload route enforces; the owner is part of the key."""
    owner = owner_of_key(key)
    message = f"{key}\n{owner}\n{content_type}\n{max_size}\n{expires}".encode()
    return hmac.new(key_bytes, message, hashlib.sha256).hexdigest()


class InvalidUploadSignature(Forbidden):
    code = "invalid_signature"
    message = "The upload URL is invalid or has been tampered with"


class UploadUrlExpired(Forbidden):
    code = "upload_url_expired"
    message = "The upload URL has expired: ask for a new one"


def _write_probe(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    # A real write, not os.access: it also catches a full disk or a read-only remount.
    with tempfile.NamedTemporaryFile(dir=directory, prefix=".health-") as probe:
        probe.write(b"ok")
        probe.flush()


class LocalStorage:
    """Files under `STORAGE_LOCAL_PATH`; uploads through `PUT /api/uploads/local/{key}`."""

    name = "local"

    def __init__(self, settings: Settings) -> None:
        self.root = settings.storage_local_path.resolve()
        self._api_base = settings.public_url.rstrip("/")
        self._files_base = (settings.storage_public_url or self._api_base + "/media").rstrip("/")
        self._signing_key = signing_key(settings)

    # --- paths ---------------------------------------------------------------------------

    def path_of(self, key: str) -> Path:
        """The file of a key. Only server-made keys (and their staging copies) are accepted,
        so no client string ever reaches the filesystem."""
        bare = key.removeprefix(STAGING_PREFIX)
        if not (is_valid_key(bare) or is_export_key(key)):
            raise ValueError(f"not a storage key: {key!r}")
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):  # belt and braces: the pattern allows no `..`
            raise ValueError(f"key escapes the storage root: {key!r}")
        return path

    # --- uploads through the app ---------------------------------------------------------

    async def upload_target(
        self,
        key: str,
        *,
        content_type: str,
        max_size: int,
        owner_id: uuid.UUID,
        expires_at: datetime,
    ) -> UploadTarget:
        # The URL names the final key; the route writes the bytes to its staging copy.
        final_key = key.removeprefix(STAGING_PREFIX)
        if key == final_key or owner_of_key(final_key) != owner_id:
            raise ValueError("uploads go to the staging copy of a key of their owner")
        expires = int(expires_at.timestamp())
        signature = upload_signature(
            self._signing_key,
            key=final_key,
            content_type=content_type,
            max_size=max_size,
            expires=expires,
        )
        query = urlencode(
            {
                "expires": expires,
                "contentType": content_type,
                "maxSize": max_size,
                "signature": signature,
            }
        )
        return UploadTarget(
            url=f"{self._api_base}{UPLOAD_ROUTE}{final_key}?{query}",
            expires_at=expires_at,
            headers={"Content-Type": content_type},
        )

    def verify_upload(
        self,
        key: str,
        *,
        content_type: str,
        max_size: int,
        expires: int,
        signature: str,
        sent_content_type: str | None,
        now: float | None = None,
    ) -> None:
        """Refuse a PUT whose URL was not signed by us, has expired, or whose body type
        differs from the one signed."""
        if not is_valid_key(key):
            raise InvalidUploadSignature()
        expected = upload_signature(
            self._signing_key,
            key=key,
            content_type=content_type,
            max_size=max_size,
            expires=expires,
        )
        if not constant_time_equals(signature, expected):
            raise InvalidUploadSignature()
        if expires < (time.time() if now is None else now):
            raise UploadUrlExpired()
        if sent_content_type is None or normalize_content_type(sent_content_type) != content_type:
            raise UnsupportedMediaType(
                f"Content-Type must be {content_type}, as declared when the URL was made",
                code="content_type_mismatch",
            )

    async def receive(self, key: str, chunks: AsyncIterable[bytes], max_size: int) -> int:
        """Stream a body into the staging copy of `key`, at most `max_size` bytes.

        The bytes go to a temporary file first and are renamed into place only when complete,
        so a reader never sees half a file and a refused upload leaves nothing behind.
        """
        target = self.path_of(staging_key(key))
        tmp_dir = self.root / ".tmp"
        await anyio.to_thread.run_sync(lambda: tmp_dir.mkdir(parents=True, exist_ok=True))
        tmp_path = tmp_dir / uuid.uuid4().hex
        received = 0
        buffer = bytearray()
        handle = await anyio.to_thread.run_sync(lambda: tmp_path.open("wb"))
        try:
            async for chunk in chunks:
                received += len(chunk)
                if received > max_size:
                    raise PayloadTooLarge(
                        f"The file is larger than the {max_size} bytes allowed",
                        code="file_too_large",
                    )
                buffer += chunk
                if len(buffer) >= _WRITE_BLOCK:
                    block, buffer = bytes(buffer), bytearray()
                    await anyio.to_thread.run_sync(handle.write, block)
            if buffer:
                await anyio.to_thread.run_sync(handle.write, bytes(buffer))
            await anyio.to_thread.run_sync(handle.close)

            def place() -> None:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp_path, target)

            await anyio.to_thread.run_sync(place)
        except BaseException:
            await anyio.to_thread.run_sync(handle.close)
            await anyio.to_thread.run_sync(lambda: tmp_path.unlink(missing_ok=True))
            raise
        return received

    # --- the Storage interface -----------------------------------------------------------

    def public_url(self, key: str) -> str:
        return f"{self._files_base}/{key}"

    async def size(self, key: str) -> int | None:
        path = self.path_of(key)

        def stat() -> int | None:
            try:
                return path.stat().st_size
            except FileNotFoundError:
                return None

        return await anyio.to_thread.run_sync(stat)

    async def read_head(self, key: str, length: int) -> bytes:
        path = self.path_of(key)

        def read() -> bytes:
            with path.open("rb") as handle:
                return handle.read(length)

        return await anyio.to_thread.run_sync(read)

    async def read(self, key: str) -> bytes:
        return await anyio.to_thread.run_sync(self.path_of(key).read_bytes)

    async def write(self, key: str, data: bytes, content_type: str) -> None:
        path = self.path_of(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
            tmp.write_bytes(data)
            os.replace(tmp, path)

        await anyio.to_thread.run_sync(write)

    async def write_file(self, key: str, path: Path, content_type: str) -> None:
        target = self.path_of(key)

        def copy() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
            shutil.copyfile(path, tmp)
            os.replace(tmp, target)

        await anyio.to_thread.run_sync(copy)

    async def promote(self, source: str, target: str, content_type: str) -> None:
        source_path, target_path = self.path_of(source), self.path_of(target)

        def move() -> None:
            target_path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source_path, target_path)

        await anyio.to_thread.run_sync(move)

    async def delete(self, key: str) -> None:
        path = self.path_of(key)
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))

    async def delete_owner_files(self, owner_id: uuid.UUID) -> int:
        directories = [self.root / prefix for prefix in owner_prefixes(owner_id)]

        def remove() -> int:
            removed = 0
            for directory in directories:
                if directory.is_dir():
                    removed += sum(1 for entry in directory.rglob("*") if entry.is_file())
                    shutil.rmtree(directory, ignore_errors=True)
            return removed

        return await anyio.to_thread.run_sync(remove)

    async def download_url(self, key: str, *, expires_in: int, file_name: str) -> str | None:
        return None

    @asynccontextmanager
    async def local_copy(self, key: str) -> AsyncIterator[Path]:
        path = self.path_of(key)
        if not await anyio.to_thread.run_sync(path.is_file):
            raise FileNotFoundError(key)
        yield path

    async def check(self) -> None:
        await anyio.to_thread.run_sync(_write_probe, self.root)

    async def clear_temporary_files(self, older_than_seconds: int) -> int:
        """Remove partial uploads left by crashed requests; answers how many went."""
        tmp_dir = self.root / ".tmp"
        cutoff = time.time() - older_than_seconds

        def sweep() -> int:
            removed = 0
            if not tmp_dir.is_dir():
                return 0
            for entry in tmp_dir.iterdir():
                if entry.is_file() and entry.stat().st_mtime < cutoff:
                    entry.unlink(missing_ok=True)
                    removed += 1
            return removed

        return await anyio.to_thread.run_sync(sweep)

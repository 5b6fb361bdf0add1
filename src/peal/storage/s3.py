"""The S3 backend (AWS or any S3-compatible store): SigV4 presigned PUTs, aioboto3 calls."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aioboto3  # type: ignore[import-untyped]
import anyio
from boto3.exceptions import S3UploadFailedError  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from peal.config import Settings
from peal.storage.base import StorageError, UploadTarget, owner_prefixes

_DOWNLOAD_CHUNK = 1024 * 1024
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
# Keys never change content once public (a new file gets a new key): cache them for good.
_IMMUTABLE = "public, max-age=31536000, immutable"


def _is_not_found(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in _NOT_FOUND


class S3Storage:
    """Objects in one bucket. A client is opened per operation: aioboto3 clients are bound to
    the event loop that made them, and the session caches the service model, so this costs a
    few milliseconds and works the same in the app, the worker and the CLI."""

    name = "s3"

    def __init__(self, settings: Settings) -> None:
        self.bucket = settings.storage_bucket
        self._endpoint = settings.storage_endpoint_url
        self._session = aioboto3.Session(
            aws_access_key_id=settings.storage_access_key or None,
            aws_secret_access_key=settings.storage_secret_key or None,
            region_name=settings.storage_region,
        )
        # Path-style addressing for custom endpoints (MinIO, moto, R2...), which rarely serve
        # bucket subdomains; AWS itself gets its default virtual-hosted style.
        self._config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if self._endpoint else "auto"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
        )
        if settings.storage_public_url:
            self._files_base = settings.storage_public_url.rstrip("/")
        elif self._endpoint:
            self._files_base = f"{self._endpoint.rstrip('/')}/{self.bucket}"
        else:
            self._files_base = f"https://{self.bucket}.s3.{settings.storage_region}.amazonaws.com"

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[Any]:
        try:
            async with self._session.client(
                "s3", endpoint_url=self._endpoint, config=self._config
            ) as client:
                yield client
        except BotoCoreError as exc:
            raise StorageError(str(exc)) from exc

    async def upload_target(
        self,
        key: str,
        *,
        content_type: str,
        max_size: int,
        owner_id: uuid.UUID,
        expires_at: datetime,
    ) -> UploadTarget:
        # A presigned PUT cannot bound the size (only POST policies can): `complete` checks it
        # and deletes anything over the limit before it is ever served.
        expires_in = max(1, int((expires_at - datetime.now(UTC)).total_seconds()))
        async with self._client() as client:
            url = await client.generate_presigned_url(
                "put_object",
                Params={"Bucket": self.bucket, "Key": key, "ContentType": content_type},
                ExpiresIn=expires_in,
            )
        return UploadTarget(
            url=str(url), expires_at=expires_at, headers={"Content-Type": content_type}
        )

    def public_url(self, key: str) -> str:
        return f"{self._files_base}/{key}"

    async def size(self, key: str) -> int | None:
        async with self._client() as client:
            try:
                head = await client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if _is_not_found(exc):
                    return None
                raise StorageError(str(exc)) from exc
        return int(head["ContentLength"])

    async def read_head(self, key: str, length: int) -> bytes:
        async with self._client() as client:
            try:
                response = await client.get_object(
                    Bucket=self.bucket, Key=key, Range=f"bytes=0-{length - 1}"
                )
            except ClientError as exc:
                if _is_not_found(exc):
                    raise FileNotFoundError(key) from exc
                raise StorageError(str(exc)) from exc
            body = response["Body"]
            async with body:
                data: bytes = await body.read()
        return data[:length]

    async def read(self, key: str) -> bytes:
        async with self._client() as client:
            try:
                response = await client.get_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if _is_not_found(exc):
                    raise FileNotFoundError(key) from exc
                raise StorageError(str(exc)) from exc
            body = response["Body"]
            async with body:
                data: bytes = await body.read()
        return data

    async def write(self, key: str, data: bytes, content_type: str) -> None:
        async with self._client() as client:
            try:
                await client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=data,
                    ContentType=content_type,
                    CacheControl=_IMMUTABLE,
                )
            except ClientError as exc:
                raise StorageError(str(exc)) from exc

    async def write_file(self, key: str, path: Path, content_type: str) -> None:
        async with self._client() as client:
            try:
                # Multipart above 8 MB, read from disk in parts: never the whole file in memory.
                await client.upload_file(
                    str(path),
                    self.bucket,
                    key,
                    ExtraArgs={"ContentType": content_type, "CacheControl": _IMMUTABLE},
                )
            except (ClientError, S3UploadFailedError) as exc:
                raise StorageError(str(exc)) from exc

    async def promote(self, source: str, target: str, content_type: str) -> None:
        async with self._client() as client:
            try:
                # Server-side copy (no bytes through us; fine up to 5 GB, far above our limit).
                await client.copy_object(
                    Bucket=self.bucket,
                    Key=target,
                    CopySource={"Bucket": self.bucket, "Key": source},
                    ContentType=content_type,
                    CacheControl=_IMMUTABLE,
                    MetadataDirective="REPLACE",
                )
                await client.delete_object(Bucket=self.bucket, Key=source)
            except ClientError as exc:
                if _is_not_found(exc):  # moved already (a parallel complete), like a rename
                    raise FileNotFoundError(source) from exc
                raise StorageError(str(exc)) from exc

    async def delete(self, key: str) -> None:
        async with self._client() as client:
            try:
                await client.delete_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if not _is_not_found(exc):
                    raise StorageError(str(exc)) from exc

    async def delete_owner_files(self, owner_id: uuid.UUID) -> int:
        removed = 0
        async with self._client() as client:
            try:
                paginator = client.get_paginator("list_objects_v2")
                for prefix in owner_prefixes(owner_id):
                    async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                        if keys:  # a listing page holds at most 1000: one DeleteObjects each
                            await client.delete_objects(
                                Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
                            )
                            removed += len(keys)
            except ClientError as exc:
                raise StorageError(str(exc)) from exc
        return removed

    async def download_url(self, key: str, *, expires_in: int, file_name: str) -> str | None:
        async with self._client() as client:
            url: str = await client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ResponseContentDisposition": f'attachment; filename="{file_name}"',
                },
                ExpiresIn=expires_in,
            )
        return url

    @asynccontextmanager
    async def local_copy(self, key: str) -> AsyncIterator[Path]:
        """Download the object to a temporary file, in blocks (videos reach 500 MB)."""
        with tempfile.TemporaryDirectory(prefix="peal-media-") as directory:
            path = Path(directory) / key.rsplit("/", 1)[-1]
            async with self._client() as client:
                try:
                    response = await client.get_object(Bucket=self.bucket, Key=key)
                except ClientError as exc:
                    if _is_not_found(exc):
                        raise FileNotFoundError(key) from exc
                    raise StorageError(str(exc)) from exc
                body = response["Body"]
                handle = await anyio.to_thread.run_sync(lambda: path.open("wb"))
                try:
                    # `async with body` only releases the connection; reads go to the body.
                    async with body:
                        async for chunk in body.iter_chunks(_DOWNLOAD_CHUNK):
                            await anyio.to_thread.run_sync(handle.write, chunk)
                finally:
                    await anyio.to_thread.run_sync(handle.close)
            yield path

    async def check(self) -> None:
        async with self._client() as client:
            await client.head_bucket(Bucket=self.bucket)

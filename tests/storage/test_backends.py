"""Both storage backends behind the same interface; key and signature rules of the local one."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from peal.config import Settings
from peal.core.errors import AppError
from peal.db import utcnow
from peal.storage.base import Storage, is_valid_key, new_key, owner_of_key, staging_key
from peal.storage.local import LocalStorage
from peal.storage.s3 import S3Storage
from peal.storage.service import create_storage
from tests.uploads.helpers import MotoS3


@pytest.fixture(params=["local", "s3"])
async def storage(
    request: pytest.FixtureRequest, settings: Settings, moto_s3: MotoS3
) -> AsyncIterator[Storage]:
    if request.param == "s3":
        yield create_storage(moto_s3.settings(settings))
    else:
        yield create_storage(settings)


async def test_write_read_promote_delete(storage: Storage) -> None:
    owner = uuid.uuid4()
    key = new_key(owner, "png")
    staged = staging_key(key)
    assert await storage.size(staged) is None
    await storage.write(staged, b"0123456789", "image/png")
    assert await storage.size(staged) == 10
    assert await storage.read_head(staged, 4) == b"0123"
    assert await storage.read(staged) == b"0123456789"
    await storage.promote(staged, key, "image/png")
    assert await storage.size(staged) is None
    assert await storage.size(key) == 10
    async with storage.local_copy(key) as path:
        assert path.read_bytes() == b"0123456789"
    await storage.delete(key)
    await storage.delete(key)  # deleting twice is fine: jobs may run twice
    assert await storage.size(key) is None
    with pytest.raises(FileNotFoundError):
        async with storage.local_copy(key):
            pass
    await storage.check()


async def test_upload_target_accepts_a_real_put(storage: Storage) -> None:
    owner = uuid.uuid4()
    key = new_key(owner, "mp4")
    target = await storage.upload_target(
        staging_key(key),
        content_type="video/mp4",
        max_size=100,
        owner_id=owner,
        expires_at=utcnow() + timedelta(minutes=5),
    )
    assert target.headers == {"Content-Type": "video/mp4"}
    if isinstance(storage, S3Storage):
        async with httpx.AsyncClient() as http:
            response = await http.put(target.url, content=b"abc", headers=target.headers)
        assert response.status_code == 200
        assert await storage.size(staging_key(key)) == 3
    else:
        assert f"/api/uploads/local/{key}?" in target.url


def test_keys_are_made_by_the_server_only() -> None:
    owner = uuid.uuid4()
    key = new_key(owner, "jpg")
    assert is_valid_key(key)
    assert owner_of_key(key) == owner
    for bad in (
        "../etc/passwd",
        f"u/{owner}/../../x.jpg",
        f"u/{owner}/{'a' * 32}.php",
        f"u/{owner}/{'a' * 32}.jpg/../../x",
        f"staging/u/{owner}/{'a' * 32}.jpg",
        f"/u/{owner}/{'a' * 32}.jpg",
        f"u/{owner}/{'A' * 32}.jpg",
    ):
        assert not is_valid_key(bad), bad


def test_local_paths_stay_under_the_root(settings: Settings) -> None:
    storage = LocalStorage(settings)
    key = new_key(uuid.uuid4(), "jpg")
    assert storage.path_of(key).is_relative_to(storage.root)
    assert storage.path_of(staging_key(key)).is_relative_to(storage.root / "staging")
    for bad in ("../../etc/passwd", "/etc/passwd", ".tmp/x", "staging/../../etc/passwd"):
        with pytest.raises(ValueError):
            storage.path_of(bad)


def test_local_signature_binds_every_parameter(settings: Settings) -> None:
    storage = LocalStorage(settings)
    other = LocalStorage(settings.model_copy(update={"storage_signing_secret": "x" * 40}))
    key = new_key(uuid.uuid4(), "png")
    expires = int((utcnow() + timedelta(minutes=5)).timestamp())
    from peal.storage.local import signing_key, upload_signature

    signature = upload_signature(
        signing_key(settings), key=key, content_type="image/png", max_size=100, expires=expires
    )
    good = {
        "content_type": "image/png",
        "max_size": 100,
        "expires": expires,
        "signature": signature,
        "sent_content_type": "image/png",
    }
    storage.verify_upload(key, **good)  # type: ignore[arg-type]
    for change in (
        {"max_size": 101},
        {"content_type": "image/jpeg", "sent_content_type": "image/jpeg"},
        {"expires": expires + 1},
        {"signature": signature[:-1] + ("0" if signature[-1] != "0" else "1")},
    ):
        with pytest.raises(AppError) as refused:
            storage.verify_upload(key, **{**good, **change})  # type: ignore[arg-type]
        assert refused.value.status_code == 403
    with pytest.raises(AppError):
        storage.verify_upload(new_key(uuid.uuid4(), "png"), **good)  # type: ignore[arg-type]
    with pytest.raises(AppError):
        other.verify_upload(key, **good)  # type: ignore[arg-type]
    with pytest.raises(AppError) as late:
        storage.verify_upload(key, **good, now=expires + 1)  # type: ignore[arg-type]
    assert late.value.code == "upload_url_expired"

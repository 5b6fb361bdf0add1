"""Deleting everything of one owner (account deletion), and big private files (exports)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from peal.config import Settings
from peal.storage.base import Storage, export_key, new_key, staging_key
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


async def test_delete_owner_files_removes_only_that_owner(storage: Storage) -> None:
    owner, other = uuid.uuid4(), uuid.uuid4()
    mine = [new_key(owner, "png"), new_key(owner, "mp4"), staging_key(new_key(owner, "jpg"))]
    mine.append(export_key(owner))
    theirs = [new_key(other, "png"), staging_key(new_key(other, "png")), export_key(other)]
    for key in [*mine, *theirs]:
        await storage.write(key, b"data", "application/octet-stream")

    assert await storage.delete_owner_files(owner) == len(mine)

    for key in mine:
        assert await storage.size(key) is None, key
    for key in theirs:
        assert await storage.size(key) == 4, key
    # Nothing left: running again (a retried job) is fine.
    assert await storage.delete_owner_files(owner) == 0


async def test_write_file_and_private_download(storage: Storage, tmp_path: Path) -> None:
    owner = uuid.uuid4()
    key = export_key(owner)
    source = tmp_path / "export.zip"
    source.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    await storage.write_file(key, source, "application/zip")
    assert await storage.read(key) == source.read_bytes()
    url = await storage.download_url(key, expires_in=60, file_name="peal-export.zip")
    if storage.name == "local":
        assert url is None  # the app serves it after checking the signed link
        return
    assert url is not None
    async with httpx.AsyncClient() as http:
        response = await http.get(url)
    assert response.status_code == 200
    assert response.content == source.read_bytes()
    assert "peal-export.zip" in response.headers["content-disposition"]

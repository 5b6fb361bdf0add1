"""Uploads through the S3 backend, against moto on loopback, with real presigned URLs."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import httpx
import pytest
from PIL import Image

from peal.config import Settings
from tests.uploads.helpers import (
    MotoS3,
    demo_mp4,
    drain_jobs,
    jpeg_with_gps,
    png_bytes,
    presign,
    put_bytes,
    upload,
)


@pytest.fixture
def settings(settings: Settings, moto_s3: MotoS3) -> Settings:
    """Every app in this module stores in its own fresh bucket (small image limit: 64 KB)."""
    return moto_s3.settings(settings, max_image_upload_bytes=64 * 1024)


async def test_presigned_put_complete_and_read_back(
    client: httpx.AsyncClient, woman: Any, settings: Settings, moto_s3: MotoS3
) -> None:
    target = await presign(client, woman, "video/mp4")
    assert target["uploadUrl"].startswith(f"{moto_s3.endpoint}/{settings.storage_bucket}/staging/")
    assert "X-Amz-Signature=" in target["uploadUrl"]
    assert target["fileUrl"] == f"{moto_s3.endpoint}/{settings.storage_bucket}/{target['key']}"
    put = await put_bytes(client, target["uploadUrl"], demo_mp4(), "video/mp4")
    assert put.status_code == 200
    assert moto_s3.keys(settings.storage_bucket) == [f"staging/{target['key']}"]
    async with httpx.AsyncClient() as http:  # not readable before it is checked
        staged_url = target["fileUrl"].replace(target["key"], f"staging/{target['key']}")
        assert (await http.get(staged_url)).status_code == 403
        assert (await http.get(target["fileUrl"])).status_code == 404
    response = await client.post(
        "/api/uploads/complete", json={"key": target["key"]}, headers=woman.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["size"] == len(demo_mp4())
    # Promoted out of staging: only the public key remains.
    assert moto_s3.keys(settings.storage_bucket) == [target["key"]]
    async with httpx.AsyncClient() as http:
        served = await http.get(response.json()["url"])
    assert served.content == demo_mp4()
    head = moto_s3.client.head_object(Bucket=settings.storage_bucket, Key=target["key"])
    assert head["ContentType"] == "video/mp4"


async def test_s3_image_loses_its_exif(
    client: httpx.AsyncClient, woman: Any, settings: Settings, moto_s3: MotoS3
) -> None:
    response = await upload(client, woman, jpeg_with_gps(), "image/jpeg")
    assert response.status_code == 200, response.text
    stored = moto_s3.client.get_object(Bucket=settings.storage_bucket, Key=response.json()["key"])
    data = stored["Body"].read()
    assert b"SecretPhone" not in data and b"Exif" not in data
    assert not Image.open(BytesIO(data)).getexif()


async def test_s3_oversized_file_is_refused_at_completion_and_deleted(
    client: httpx.AsyncClient, woman: Any, settings: Settings, moto_s3: MotoS3
) -> None:
    # A presigned PUT cannot bound the size: completion checks it and deletes the object.
    response = await upload(client, woman, png_bytes() + b"\0" * (65 * 1024), "image/png")
    assert response.status_code == 413
    assert response.json()["code"] == "file_too_large"
    assert moto_s3.keys(settings.storage_bucket) == []


async def test_s3_wrong_type_is_refused_and_deleted(
    client: httpx.AsyncClient, woman: Any, settings: Settings, moto_s3: MotoS3
) -> None:
    response = await upload(client, woman, png_bytes(), "video/mp4")
    assert response.status_code == 422
    assert moto_s3.keys(settings.storage_bucket) == []


async def test_s3_delete_removes_the_object(
    client: httpx.AsyncClient, woman: Any, sponsor: Any, settings: Settings, moto_s3: MotoS3
) -> None:
    response = await upload(client, woman, png_bytes(), "image/png")
    key = response.json()["key"]
    assert (await client.delete(f"/api/uploads/{key}", headers=sponsor.headers)).status_code == 404
    assert (await client.delete(f"/api/uploads/{key}", headers=woman.headers)).status_code == 204
    await drain_jobs()
    assert moto_s3.keys(settings.storage_bucket) == []


async def test_health_asks_the_bucket(
    client: httpx.AsyncClient, settings: Settings, moto_s3: MotoS3
) -> None:
    healthy = await client.get("/health")
    assert healthy.json()["services"]["storage"] == "up"
    moto_s3.client.delete_bucket(Bucket=settings.storage_bucket)
    degraded = await client.get("/health")
    assert degraded.status_code == 503
    assert degraded.json()["services"]["storage"] == "down"

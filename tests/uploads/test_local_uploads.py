"""Uploads through the local storage backend, over HTTP: signed URLs, checks, EXIF removal."""

from __future__ import annotations

from datetime import timedelta
from io import BytesIO
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from fastapi import FastAPI
from PIL import Image

from peal.db import utcnow
from peal.storage.base import staging_key
from tests.uploads.helpers import (
    demo_mp4,
    drain_jobs,
    jpeg_with_gps,
    png_bytes,
    presign,
    put_bytes,
    upload,
)


def _with_query(url: str, **changes: Any) -> str:
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    query.update({key: str(value) for key, value in changes.items()})
    return f"{parts.path}?{urlencode(query)}"


async def test_presigned_url_answers_a_key_in_the_callers_namespace(
    client: httpx.AsyncClient, woman: Any
) -> None:
    body = await presign(client, woman, "video/mp4", file_name="../../etc/passwd.mp4")
    assert body["key"].startswith(f"u/{woman.id}/")
    assert body["key"].endswith(".mp4")
    assert "passwd" not in body["key"] and ".." not in body["key"]
    assert body["fileUrl"].endswith("/media/" + body["key"])
    assert body["maxSize"] == 500 * 1024 * 1024
    assert body["headers"] == {"Content-Type": "video/mp4"}
    assert "/api/uploads/local/" + body["key"] in body["uploadUrl"]
    assert body["expiresAt"].endswith("Z")


async def test_presigned_url_needs_a_user_and_an_accepted_type(
    client: httpx.AsyncClient, woman: Any
) -> None:
    anonymous = await client.post(
        "/api/uploads/presigned-url", json={"fileName": "a.mp4", "contentType": "video/mp4"}
    )
    assert anonymous.status_code == 401
    refused = await client.post(
        "/api/uploads/presigned-url",
        json={"fileName": "a.exe", "contentType": "application/x-msdownload"},
        headers=woman.headers,
    )
    assert refused.status_code == 422
    assert refused.json()["details"][0]["field"] == "contentType"
    alias = await presign(client, woman, "image/jpg")
    assert alias["key"].endswith(".jpg") and alias["maxSize"] == 10 * 1024 * 1024


async def test_video_upload_round_trip(client: httpx.AsyncClient, woman: Any) -> None:
    response = await upload(client, woman, demo_mp4(), "video/mp4")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["contentType"] == "video/mp4"
    assert body["size"] == len(demo_mp4())
    served = await client.get(urlsplit(body["url"]).path)
    assert served.status_code == 200
    assert served.content == demo_mp4()
    assert served.headers["content-type"] == "video/mp4"
    assert served.headers["x-content-type-options"] == "nosniff"
    head = await client.head(urlsplit(body["url"]).path)
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(demo_mp4()))
    ranged = await client.get(urlsplit(body["url"]).path, headers={"Range": "bytes=0-9"})
    assert ranged.status_code == 206
    assert ranged.content == demo_mp4()[:10]


async def test_a_file_is_not_served_before_it_is_completed(
    client: httpx.AsyncClient, woman: Any, app: FastAPI
) -> None:
    target = await presign(client, woman, "image/jpeg")
    put = await put_bytes(client, target["uploadUrl"], jpeg_with_gps(), "image/jpeg")
    assert put.status_code == 200
    assert (await client.get(urlsplit(target["fileUrl"]).path)).status_code == 404
    staged = await client.get("/media/" + staging_key(target["key"]))
    assert staged.status_code == 404


async def test_exif_and_gps_are_removed_and_orientation_applied(
    client: httpx.AsyncClient, woman: Any
) -> None:
    original = jpeg_with_gps()
    assert b"SecretPhone" in original
    response = await upload(client, woman, original, "image/jpeg")
    assert response.status_code == 200, response.text
    served = await client.get(urlsplit(response.json()["url"]).path)
    assert served.status_code == 200
    assert b"SecretPhone" not in served.content
    assert b"Exif" not in served.content
    image = Image.open(BytesIO(served.content))
    assert not image.getexif()
    assert image.getexif().get_ifd(0x8825) == {}
    assert image.size == (20, 40)  # orientation 6 was applied to the pixels
    assert response.json()["size"] == len(served.content)


async def test_png_declared_as_mp4_is_refused_and_deleted(
    client: httpx.AsyncClient, woman: Any, app: FastAPI
) -> None:
    target = await presign(client, woman, "video/mp4")
    await put_bytes(client, target["uploadUrl"], png_bytes(), "video/mp4")
    response = await client.post(
        "/api/uploads/complete", json={"key": target["key"]}, headers=woman.headers
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert "PNG image, not video/mp4" in response.json()["error"]
    storage = app.state.storage
    assert await storage.size(staging_key(target["key"])) is None
    assert await storage.size(target["key"]) is None


async def test_garbage_declared_as_an_image_is_refused(
    client: httpx.AsyncClient, woman: Any
) -> None:
    truncated = jpeg_with_gps()[:40]  # JPEG magic, but no image
    response = await upload(client, woman, truncated, "image/jpeg")
    assert response.status_code == 422
    text = await upload(client, woman, b"<html><script>alert(1)</script>", "image/png")
    assert text.status_code == 422


async def test_oversized_upload_is_refused_while_streaming(
    client: httpx.AsyncClient, woman: Any, app: FastAPI
) -> None:
    target = await presign(client, woman, "image/png")
    too_big = png_bytes() + b"\0" * (10 * 1024 * 1024)

    async def chunks() -> Any:  # no Content-Length: the route must count as it reads
        for start in range(0, len(too_big), 256 * 1024):
            yield too_big[start : start + 256 * 1024]

    parts = urlsplit(target["uploadUrl"])
    response = await client.put(
        f"{parts.path}?{parts.query}", content=chunks(), headers={"Content-Type": "image/png"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "file_too_large"
    assert await app.state.storage.size(staging_key(target["key"])) is None
    declared = await client.put(
        f"{parts.path}?{parts.query}", content=too_big, headers={"Content-Type": "image/png"}
    )
    assert declared.status_code == 413


async def test_tampered_signature_is_refused(client: httpx.AsyncClient, woman: Any) -> None:
    target = await presign(client, woman, "image/png")
    url = target["uploadUrl"]
    bigger = _with_query(url, maxSize=10**12)
    response = await client.put(bigger, content=png_bytes(), headers={"Content-Type": "image/png"})
    assert response.status_code == 403
    assert response.json()["code"] == "invalid_signature"
    signature = parse_qs(urlsplit(url).query)["signature"][0]
    flipped = _with_query(url, signature=("0" if signature[0] != "0" else "1") + signature[1:])
    response = await client.put(flipped, content=png_bytes(), headers={"Content-Type": "image/png"})
    assert response.status_code == 403
    later = _with_query(url, expires=int(parse_qs(urlsplit(url).query)["expires"][0]) + 3600)
    response = await client.put(later, content=png_bytes(), headers={"Content-Type": "image/png"})
    assert response.status_code == 403


async def test_someone_elses_key_cannot_be_signed_over(
    client: httpx.AsyncClient, woman: Any, sponsor: Any
) -> None:
    mine = await presign(client, woman, "image/png")
    theirs = await presign(client, sponsor, "image/png")
    query = urlsplit(mine["uploadUrl"]).query
    response = await client.put(
        f"/api/uploads/local/{theirs['key']}?{query}",
        content=png_bytes(),
        headers={"Content-Type": "image/png"},
    )
    assert response.status_code == 403


async def test_expired_upload_url_is_refused(
    client: httpx.AsyncClient, woman: Any, app: FastAPI
) -> None:
    target = await presign(client, woman, "image/png")
    expired = await app.state.storage.upload_target(
        staging_key(target["key"]),
        content_type="image/png",
        max_size=1000,
        owner_id=woman.id,
        expires_at=utcnow() - timedelta(seconds=5),
    )
    response = await put_bytes(client, expired.url, png_bytes(), "image/png")
    assert response.status_code == 403
    assert response.json()["code"] == "upload_url_expired"


async def test_body_type_must_match_the_signed_type(client: httpx.AsyncClient, woman: Any) -> None:
    target = await presign(client, woman, "image/png")
    response = await put_bytes(client, target["uploadUrl"], png_bytes(), "text/html")
    assert response.status_code == 415
    assert response.json()["code"] == "content_type_mismatch"


async def test_complete_rules(client: httpx.AsyncClient, woman: Any, sponsor: Any) -> None:
    target = await presign(client, woman, "image/png")
    early = await client.post(
        "/api/uploads/complete", json={"key": target["key"]}, headers=woman.headers
    )
    assert early.status_code == 409
    assert early.json()["code"] == "upload_missing"
    await put_bytes(client, target["uploadUrl"], png_bytes(), "image/png")
    other = await client.post(
        "/api/uploads/complete", json={"key": target["key"]}, headers=sponsor.headers
    )
    assert other.status_code == 404
    first = await client.post(
        "/api/uploads/complete", json={"key": target["key"]}, headers=woman.headers
    )
    again = await client.post(
        "/api/uploads/complete", json={"key": target["key"]}, headers=woman.headers
    )
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    overwrite = await put_bytes(client, target["uploadUrl"], jpeg_with_gps(), "image/png")
    assert overwrite.status_code == 409
    bogus = await client.post(
        "/api/uploads/complete", json={"key": "../../etc/passwd"}, headers=woman.headers
    )
    assert bogus.status_code == 404


async def test_delete_removes_only_your_own_upload(
    client: httpx.AsyncClient, woman: Any, sponsor: Any, app: FastAPI
) -> None:
    response = await upload(client, woman, png_bytes(), "image/png")
    key = response.json()["key"]
    stranger = await client.delete(f"/api/uploads/{key}", headers=sponsor.headers)
    assert stranger.status_code == 404
    assert await app.state.storage.size(key) is not None
    deleted = await client.delete(f"/api/uploads/{key}", headers=woman.headers)
    assert deleted.status_code == 204
    await drain_jobs()
    assert await app.state.storage.size(key) is None
    assert (await client.get(f"/media/{key}")).status_code == 404
    again = await client.delete(f"/api/uploads/{key}", headers=woman.headers)
    assert again.status_code == 404


async def test_media_route_refuses_anything_but_a_stored_key(client: httpx.AsyncClient) -> None:
    for path in (
        "/media/../../etc/passwd",
        "/media/%2e%2e/%2e%2e/etc/passwd",
        "/media/u/..%2f..%2fetc/passwd",
        "/media/.tmp/whatever",
        "/media/u/not-a-uuid/file.jpg",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path

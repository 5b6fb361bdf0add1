"""avatarUrl and event coverImage show only the owner's own uploads or https images on the
EXTERNAL_IMAGE_HOSTS allow-list: no address that tracks viewers or reaches inside (issue 8: 15)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from peal.db import utcnow
from tests.conftest import AuthedUser
from tests.funding.helpers import upload_image

HOSTILE = [
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:6379/",
    "https://tracker.example/pixel.png",  # https, but not an allowed host
    "http://cdn.example.com/a.png",  # allowed host, but not https
    "https://cdn.example.com:8443/a.png",  # allowed host on another port
    "https://user@cdn.example.com/a.png",
    "https://cdn.example.com.evil.example/a.png",
]


def _event(**fields: str) -> dict[str, str]:
    date = (utcnow() + timedelta(days=3)).isoformat().replace("+00:00", "Z")
    return {"title": "Workshop", "eventDate": date, "category": "workshop", **fields}


@pytest.mark.parametrize("url", HOSTILE)
async def test_foreign_image_addresses_are_refused(
    client: httpx.AsyncClient, woman: AuthedUser, url: str
) -> None:
    profile = await client.put(
        f"/api/users/{woman.id}", json={"avatarUrl": url}, headers=woman.headers
    )
    event = await client.post("/api/events", json=_event(coverImage=url), headers=woman.headers)

    for response, field in ((profile, "avatarUrl"), (event, "coverImage")):
        assert response.status_code == 422, (field, response.text)
        assert [d["field"] for d in response.json()["details"]] == [field]


async def test_own_uploads_and_allowed_hosts_are_accepted(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    mine = await upload_image(client, woman)
    theirs = await upload_image(client, sponsor)

    for url in (mine, "https://cdn.example.com/a.png"):
        profile = await client.put(
            f"/api/users/{woman.id}", json={"avatarUrl": url}, headers=woman.headers
        )
        assert profile.status_code == 200, profile.text
        assert profile.json()["user"]["avatarUrl"] == url
        created = await client.post(
            "/api/events", json=_event(coverImage=url), headers=woman.headers
        )
        assert created.status_code == 201, created.text
        assert created.json()["event"]["coverImage"] == url

    # Someone else's upload is not hers to show, on create or on update.
    refused = await client.put(
        f"/api/users/{woman.id}", json={"avatarUrl": theirs}, headers=woman.headers
    )
    assert refused.status_code == 422
    event_id = created.json()["event"]["id"]
    changed = await client.patch(
        f"/api/events/{event_id}", json={"coverImage": theirs}, headers=woman.headers
    )
    assert changed.status_code == 422
    cleared = await client.patch(
        f"/api/events/{event_id}", json={"coverImage": None}, headers=woman.headers
    )
    assert cleared.status_code == 200
    assert cleared.json()["event"]["coverImage"] is None

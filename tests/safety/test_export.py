"""Data export over HTTP: one a day, a job writes the ZIP, an email with a signed link valid for
7 days; the ZIP holds every domain's file and nothing of a stranger's private data."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from peal.db import utcnow
from peal.users.models import DataExport
from tests.conftest import AuthedUser, Mailbox
from tests.events.test_events import create_event
from tests.funding.helpers import create_request, donate
from tests.goals.test_goals import create_goal
from tests.stories.test_stories import create_story
from tests.uploads.helpers import drain_jobs, insert_videos, png_bytes, uploaded_url

DOMAIN_FILES = {
    "profile.json", "settings.json", "sessions.json", "videos.json", "funding.json",
    "stories.json", "goals.json", "events.json", "notifications.json", "uploads.json",
    "reports.json", "README.txt",
}  # fmt: skip


async def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code < 300, response.text
    body: dict[str, Any] = response.json()
    return body


async def _download(client: httpx.AsyncClient, url: str) -> httpx.Response:
    parts = urlsplit(url)
    return await client.get(f"{parts.path}?{parts.query}")


async def test_the_export_holds_her_data_and_nothing_private_of_strangers(
    client: httpx.AsyncClient,
    app: FastAPI,
    woman: AuthedUser,
    make_user: Callable[..., Any],
    mailbox: Mailbox,
) -> None:
    friend: AuthedUser = await make_user("sponsor", name="Friendly Fatima")
    stranger: AuthedUser = await make_user(
        "woman",
        name="Secret Stranger",
        bio="my hiding place is 12 Rose Street",
        is_public=False,
        email="secret.stranger@example.com",
    )
    public_pat: AuthedUser = await make_user("woman", name="Public Pat")
    # Her own data across the domains.
    await _ok(
        await client.put(
            f"/api/users/{woman.id}", json={"bio": "Baker in Lagos"}, headers=woman.headers
        )
    )
    image = await uploaded_url(client, woman, png_bytes(), "image/png")
    video = (await insert_videos(app, woman.id, 1, title="My pitch"))[0]
    for commenter in (friend, stranger):
        await _ok(
            await client.post(
                f"/api/videos/{video}/comments",
                json={"content": f"comment by {commenter.name}"},
                headers=commenter.headers,
            )
        )
    await _ok(await client.post(f"/api/users/{woman.id}/follow", headers=friend.headers))
    await create_request(client, stranger, title="Stranger's private plan")
    pats_request = await create_request(client, public_pat, title="Pat's sewing machine")
    await donate(client, woman, pats_request["id"], 15, isAnonymous=True)
    await create_request(client, woman, title="My oven")
    await create_story(client, woman, title="My story", beforeImageUrl=image)
    await create_goal(client, woman, title="Leave my abusive partner by June")
    await create_event(client, woman, title="My meetup")
    # A report she filed, and one filed about her: only hers is in her export.
    filed = await _ok(
        await client.post(
            "/api/moderation/report",
            json={
                "contentType": "request",
                "contentId": pats_request["id"],
                "reason": "scam",
                "description": "Asked me to pay off-site",
            },
            headers=woman.headers,
        )
    )
    about_her = await _ok(
        await client.post(
            "/api/moderation/report",
            json={"contentType": "user", "contentId": str(woman.id), "reason": "spam"},
            headers=friend.headers,
        )
    )

    requested = await client.post("/api/users/me/export", headers=woman.headers)
    assert requested.status_code == 202, requested.text
    export = requested.json()["export"]
    assert export["status"] == "pending" and set(export) == {"id", "status", "requestedAt"}
    again = await client.post("/api/users/me/export", headers=woman.headers)
    assert again.status_code == 429 and int(again.headers["Retry-After"]) > 0
    await drain_jobs()

    status = (await _ok(await client.get("/api/users/me/export", headers=woman.headers)))["export"]
    assert status["id"] == export["id"] and status["status"] == "ready"
    assert status["downloadUrl"] and status["readyAt"] and status["expiresAt"]
    mails = mailbox.to(woman.email)
    assert len(mails) == 1 and status["downloadUrl"] in mails[0].get_body(("plain",)).get_content()

    response = await _download(client, status["downloadUrl"])
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist())
    assert names >= DOMAIN_FILES
    assert any(name.startswith("files/") and name.endswith(".png") for name in names)
    text = {name: archive.read(name).decode() for name in names if not name.startswith("files/")}
    data = {name: json.loads(body) for name, body in text.items() if name.endswith(".json")}

    assert data["profile.json"]["profile"]["bio"] == "Baker in Lagos"
    assert data["profile.json"]["profile"]["email"] == woman.email
    assert "passwordHash" not in data["profile.json"]["profile"]
    assert [p["name"] for p in data["profile.json"]["followers"]] == ["Friendly Fatima"]
    assert data["goals.json"]["goals"][0]["title"] == "Leave my abusive partner by June"
    made = data["funding.json"]["donationsMade"]
    assert [(d["isAnonymous"], d["requestTitle"]) for d in made] == [(True, "Pat's sewing machine")]
    assert [r["title"] for r in data["funding.json"]["requests"]] == ["My oven"]
    comments = data["videos.json"]["videos"][0]["comments"]
    assert [c["user"] for c in comments] == [{"id": str(friend.id), "name": "Friendly Fatima"}]
    assert data["events.json"]["hosted"][0]["title"] == "My meetup"
    assert data["stories.json"]["stories"][0]["title"] == "My story"
    assert "signIns" in data["sessions.json"]
    [mine] = data["reports.json"]["reports"]
    assert mine["id"] == filed["report"]["id"]
    assert (mine["contentType"], mine["contentId"]) == ("request", pats_request["id"])
    assert (mine["reason"], mine["status"]) == ("scam", "pending")
    assert mine["description"] == "Asked me to pay off-site"
    assert about_her["report"]["id"] not in text["reports.json"]
    assert str(friend.id) not in text["reports.json"]
    # Nothing of anyone else beyond what she could already see: the private stranger's comment
    # on her video is left out (as in the app), her email, bio and request appear nowhere; other
    # people's emails and any token hash neither.
    everything = "\n".join(text.values())
    for secret in (
        stranger.email,
        "12 Rose Street",
        "Stranger's private plan",
        friend.email,
        public_pat.email,
        "tokenHash",
    ):
        assert secret not in everything, secret


async def test_the_link_is_signed_and_expires(
    client: httpx.AsyncClient, app: FastAPI, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    await _ok(await client.post("/api/users/me/export", headers=woman.headers))
    await drain_jobs()
    url = (await _ok(await client.get("/api/users/me/export", headers=woman.headers)))["export"][
        "downloadUrl"
    ]
    forged = url.replace("signature=", "signature=0")
    assert (await _download(client, forged)).status_code == 403
    longer = url.replace("expires=", "expires=9")
    assert (await _download(client, longer)).status_code == 403
    # Someone else has no export, and cannot see hers.
    assert (await client.get("/api/users/me/export", headers=sponsor.headers)).status_code == 404
    assert (await client.get("/api/users/me/export")).status_code == 401

    async with app.state.db.sessionmaker() as session:
        await session.execute(update(DataExport).values(expires_at=utcnow() - timedelta(seconds=1)))
        await session.commit()
    expired = (await _ok(await client.get("/api/users/me/export", headers=woman.headers)))["export"]
    assert expired["status"] == "expired" and expired["downloadUrl"] is None
    assert (await _download(client, url)).status_code == 404


async def test_one_export_a_day(client: httpx.AsyncClient, app: FastAPI, woman: AuthedUser) -> None:
    await _ok(await client.post("/api/users/me/export", headers=woman.headers))
    assert (await client.post("/api/users/me/export", headers=woman.headers)).status_code == 429
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(DataExport).values(requested_at=utcnow() - timedelta(days=1, seconds=1))
        )
        await session.commit()
    assert (await client.post("/api/users/me/export", headers=woman.headers)).status_code == 202

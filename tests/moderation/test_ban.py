"""Banning over HTTP: tokens refused at once, content hidden, requests cancelled and refunded;
unbanning brings the content back but not the money; admins cannot ban themselves."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.funding.helpers import create_request, donate, donation_rows
from tests.moderation.helpers import make_content, report, review
from tests.uploads.helpers import insert_videos


async def _login(client: httpx.AsyncClient, user: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/auth/login", json={"email": user.email, "password": user.password}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _ban(client: httpx.AsyncClient, admin: Any, user_id: Any, banned: bool = True) -> Any:
    response = await client.patch(
        f"/api/admin/users/{user_id}", json={"isBanned": banned}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    return response.json()["user"]


async def test_a_ban_takes_effect_at_once_and_an_unban_brings_content_back(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any, admin: Any
) -> None:
    session_tokens = await _login(client, woman)
    [video_id] = await insert_videos(app, woman.id, 1)
    story_id = await make_content(client, app, woman, "story")
    event_id = await make_content(client, app, woman, "event")
    [other_video] = await insert_videos(app, sponsor.id, 1)
    comment = await client.post(
        f"/api/videos/{other_video}/comments", json={"content": "hi"}, headers=woman.headers
    )
    assert comment.status_code == 201
    request = await create_request(client, woman)
    await donate(client, sponsor, request["id"], 30)

    user = await _ban(client, admin, woman.id)
    assert user["isBanned"] is True

    # Her still-valid access token and her refresh token are refused at once.
    me = await client.get("/api/auth/me", headers=woman.headers)
    assert me.status_code == 401
    refreshed = await client.post(
        "/api/auth/refresh", json={"refreshToken": session_tokens["refreshToken"]}
    )
    assert refreshed.status_code == 401
    login = await client.post(
        "/api/auth/login", json={"email": woman.email, "password": woman.password}
    )
    assert login.status_code in (401, 403)
    # Her content is hidden from everyone.
    hidden = [
        f"/api/users/{woman.id}",
        f"/api/videos/{video_id}",
        f"/api/stories/{story_id}",
        f"/api/events/{event_id}",
        f"/api/requests/{request['id']}",
    ]
    for path in hidden:
        assert (await client.get(path, headers=sponsor.headers)).status_code == 404, path
    comments = await client.get(f"/api/videos/{other_video}/comments", headers=sponsor.headers)
    assert comment.json()["comment"]["id"] not in comments.text
    for path in ("/api/videos", "/api/stories", "/api/events", "/api/requests", "/api/users"):
        assert str(woman.id) not in (await client.get(path)).text, path
    # Her active request was cancelled and its donors refunded.
    rows = await donation_rows(app, request["id"])
    assert [row.status for row in rows] == ["refunded"]
    admin_view = await client.get(f"/api/requests/{request['id']}", headers=admin.headers)
    assert admin_view.json()["request"]["status"] == "cancelled"

    # Unban: content is back; the refund and the cancellation stay.
    user = await _ban(client, admin, woman.id, banned=False)
    assert user["isBanned"] is False
    for path in hidden:
        assert (await client.get(path, headers=sponsor.headers)).status_code == 200, path
    assert [row.status for row in await donation_rows(app, request["id"])] == ["refunded"]
    assert (await client.get(f"/api/requests/{request['id']}")).json()["request"][
        "status"
    ] == "cancelled"
    # She signs in again (her old refresh token stays dead).
    await _login(client, woman)
    log = await client.get("/api/admin/audit-log", headers=admin.headers)
    assert [e["action"] for e in log.json()["data"]] == ["unban_user", "ban_user"]


async def test_ban_user_from_a_review(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any, admin: Any
) -> None:
    [video_id, kept] = await insert_videos(app, woman.id, 2)
    created = (await report(client, sponsor, "video", video_id))["report"]
    reviewed = await review(client, admin, created["id"], "ban_user", note="fraud")
    assert reviewed["report"]["action"] == "ban_user"
    assert (await client.get("/api/auth/me", headers=woman.headers)).status_code == 401
    await _ban(client, admin, woman.id, banned=False)
    # The reported video stays removed after the ban is lifted; her other video is back.
    assert (await client.get(f"/api/videos/{video_id}")).status_code == 404
    assert (await client.get(f"/api/videos/{kept}")).status_code == 200


async def test_an_admin_cannot_ban_or_delete_herself(
    client: httpx.AsyncClient, make_user: Any, admin: Any, woman: Any
) -> None:
    response = await client.patch(
        f"/api/admin/users/{admin.id}", json={"isBanned": True}, headers=admin.headers
    )
    assert response.status_code == 409 and response.json()["code"] == "cannot_ban_self"
    deleted = await client.delete(f"/api/admin/users/{admin.id}", headers=admin.headers)
    assert deleted.status_code == 409 and deleted.json()["code"] == "cannot_delete_self"
    # A report of herself reviewed with ban_user is refused the same way.
    created = (await report(client, woman, "user", admin.id))["report"]
    refused = await review(client, admin, created["id"], "ban_user", expect=409)
    assert refused["code"] == "cannot_ban_self"
    assert (await client.get("/api/auth/me", headers=admin.headers)).status_code == 200


async def test_the_last_admin_keeps_the_role(
    client: httpx.AsyncClient, make_user: Any, admin: Any
) -> None:
    alone = await client.patch(
        f"/api/admin/users/{admin.id}", json={"role": "sponsor"}, headers=admin.headers
    )
    assert alone.status_code == 409 and alone.json()["code"] == "last_admin"
    second = await make_user("admin")
    # With another admin, one may step down; then the other is the last one.
    stepped = await client.patch(
        f"/api/admin/users/{admin.id}", json={"role": "sponsor"}, headers=second.headers
    )
    assert stepped.status_code == 200 and stepped.json()["user"]["role"] == "sponsor"
    last = await client.patch(
        f"/api/admin/users/{second.id}", json={"role": "woman"}, headers=second.headers
    )
    assert last.status_code == 409
    # The demoted admin lost her powers at once.
    assert (await client.get("/api/admin/dashboard", headers=admin.headers)).status_code == 403


async def test_admin_deletes_an_account(client: httpx.AsyncClient, woman: Any, admin: Any) -> None:
    deleted = await client.delete(f"/api/admin/users/{woman.id}", headers=admin.headers)
    assert deleted.status_code == 204
    assert (await client.get("/api/auth/me", headers=woman.headers)).status_code == 401
    again = await client.delete(f"/api/admin/users/{woman.id}", headers=admin.headers)
    assert again.status_code == 404

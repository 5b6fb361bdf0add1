"""The admin API over HTTP: admins only, the web client's shapes, fixed query counts."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.funding.helpers import create_request, donate, donation_rows
from tests.moderation.helpers import report
from tests.uploads.helpers import insert_videos

ANY_ID = str(uuid.UUID(int=7))
ADMIN_ROUTES = [
    ("GET", "/api/admin/dashboard", None),
    ("GET", "/api/admin/analytics?period=7d", None),
    ("GET", "/api/admin/users", None),
    ("PATCH", f"/api/admin/users/{ANY_ID}", {"isBanned": True}),
    ("DELETE", f"/api/admin/users/{ANY_ID}", None),
    ("GET", "/api/admin/videos", None),
    ("DELETE", f"/api/admin/videos/{ANY_ID}", None),
    ("GET", "/api/admin/funding-requests", None),
    ("PATCH", f"/api/admin/funding-requests/{ANY_ID}", {"status": "cancelled"}),
    ("GET", "/api/admin/reports", None),
    ("GET", "/api/admin/audit-log", None),
    ("GET", "/api/moderation/pending", None),
    ("POST", f"/api/moderation/{ANY_ID}/review", {"action": "dismiss"}),
    ("GET", "/api/moderation/stats", None),
]


@pytest.mark.parametrize("role", ["woman", "sponsor", None])
@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
async def test_only_admins(
    client: httpx.AsyncClient,
    make_user: Any,
    role: str | None,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    headers = (await make_user(role)).headers if role else {}
    response = await client.request(method, path, json=body, headers=headers)
    assert response.status_code == (403 if role else 401), response.text
    assert response.json()["code"] in ("role_forbidden", "unauthorized", "not_authenticated")


async def test_dashboard_counts_in_one_query(
    client: httpx.AsyncClient,
    app: FastAPI,
    woman: Any,
    sponsor: Any,
    admin: Any,
    count_queries: Any,
) -> None:
    await insert_videos(app, woman.id, 2)
    request = await create_request(client, woman)
    await donate(client, sponsor, request["id"], 25.5)
    await donate(client, sponsor, request["id"], 10)
    await report(client, sponsor, "user", woman.id)
    count_queries.reset()
    response = await client.get("/api/admin/dashboard", headers=admin.headers)
    assert response.status_code == 200
    # The user check, then every figure in one aggregate query.
    assert count_queries.count == 2
    assert response.json() == {
        "stats": {
            "totalUsers": 3,
            "activeUsers": 0,
            "totalVideos": 2,
            "totalFundingRequests": 1,
            "totalDonations": 2,
            "totalDonationAmount": 3550,
            "totalMentors": 0,
            "pendingReports": 1,
        }
    }
    analytics = await client.get("/api/admin/analytics?period=30d", headers=admin.headers)
    assert analytics.json() == {
        "analytics": {
            "period": "30d",
            "newUsers": 3,
            "newVideos": 2,
            "newDonations": 2,
            "donationTotal": 35.5,
        }
    }
    bad = await client.get("/api/admin/analytics?period=1y", headers=admin.headers)
    assert bad.status_code == 422


async def test_users_list_shape_and_query_count(
    client: httpx.AsyncClient, app: FastAPI, make_user: Any, admin: Any, count_queries: Any
) -> None:
    private = await make_user("woman", is_public=False, name="Private Person")
    banned = await make_user("woman", is_banned=True)
    await insert_videos(app, private.id, 2)
    count_queries.reset()
    response = await client.get("/api/admin/users?limit=2", headers=admin.headers)
    small = count_queries.count
    assert response.status_code == 200
    body = response.json()
    assert {"users", "total", "page", "limit"} <= set(body)
    assert (body["total"], body["page"], body["limit"]) == (3, 1, 2)
    everyone = (await client.get("/api/admin/users", headers=admin.headers)).json()["users"]
    by_id = {u["id"]: u for u in everyone}
    assert set(by_id) == {str(admin.id), str(private.id), str(banned.id)}
    shown = by_id[str(private.id)]
    assert shown["email"] == private.email
    assert shown["isBanned"] is False and by_id[str(banned.id)]["isBanned"] is True
    assert shown["_count"] == {"videos": 2, "fundingRequests": 0, "fundingDonations": 0}
    for _ in range(5):
        await make_user("sponsor")
    count_queries.reset()
    assert (await client.get("/api/admin/users?limit=8", headers=admin.headers)).is_success
    assert count_queries.count == small
    found = await client.get("/api/admin/users?search=private", headers=admin.headers)
    assert [u["id"] for u in found.json()["users"]] == [str(private.id)]
    sponsors = await client.get("/api/admin/users?role=sponsor", headers=admin.headers)
    assert sponsors.json()["total"] == 5
    verified = await client.patch(
        f"/api/admin/users/{private.id}",
        json={"emailVerified": False, "role": "sponsor"},
        headers=admin.headers,
    )
    assert verified.status_code == 200
    assert verified.json()["user"]["emailVerified"] is False
    assert verified.json()["user"]["role"] == "sponsor"
    missing = await client.patch(
        f"/api/admin/users/{uuid.uuid4()}", json={"role": "woman"}, headers=admin.headers
    )
    assert missing.status_code == 404


async def test_videos_list_every_status_and_query_count(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, admin: Any, count_queries: Any
) -> None:
    await insert_videos(app, woman.id, 1, status="processing")
    count_queries.reset()
    first = await client.get("/api/admin/videos", headers=admin.headers)
    small = count_queries.count
    assert first.json()["total"] == 1 and first.json()["videos"][0]["status"] == "processing"
    ids = await insert_videos(app, woman.id, 4)
    count_queries.reset()
    many = await client.get("/api/admin/videos", headers=admin.headers)
    assert count_queries.count == small
    assert many.json()["total"] == 5
    gone = await client.delete(f"/api/admin/videos/{ids[0]}", headers=admin.headers)
    assert gone.status_code == 204
    assert (await client.get(f"/api/videos/{ids[0]}")).status_code == 404
    log = (await client.get("/api/admin/audit-log", headers=admin.headers)).json()["data"]
    assert log[0]["action"] == "delete_video" and log[0]["targetId"] == str(ids[0])


async def test_funding_requests_list_and_status_moves(
    client: httpx.AsyncClient,
    app: FastAPI,
    woman: Any,
    sponsor: Any,
    admin: Any,
    count_queries: Any,
) -> None:
    first = await create_request(client, woman)
    count_queries.reset()
    listed = await client.get("/api/admin/funding-requests", headers=admin.headers)
    small = count_queries.count
    assert listed.json()["total"] == 1 and listed.json()["page"] == 1
    for _ in range(3):
        await create_request(client, woman)
    count_queries.reset()
    assert (await client.get("/api/admin/funding-requests", headers=admin.headers)).is_success
    assert count_queries.count == small
    await donate(client, sponsor, first["id"], 50)
    url = f"/api/admin/funding-requests/{first['id']}"
    refused = await client.patch(url, json={"status": "funded"}, headers=admin.headers)
    assert refused.status_code == 409
    assert refused.json()["code"] == "invalid_status_transition"
    cancelled = await client.patch(url, json={"status": "cancelled"}, headers=admin.headers)
    assert cancelled.status_code == 200
    assert cancelled.json()["request"]["status"] == "cancelled"
    assert [row.status for row in await donation_rows(app, first["id"])] == ["refunded"]
    back = await client.patch(url, json={"status": "active"}, headers=admin.headers)
    assert back.status_code == 409
    unknown = await client.get("/api/admin/funding-requests?status=paused", headers=admin.headers)
    assert unknown.status_code == 422
    only = await client.get("/api/admin/funding-requests?status=cancelled", headers=admin.headers)
    assert [r["id"] for r in only.json()["requests"]] == [first["id"]]


async def test_reports_list(
    client: httpx.AsyncClient, woman: Any, sponsor: Any, admin: Any
) -> None:
    created = (await report(client, sponsor, "user", woman.id))["report"]
    listed = await client.get("/api/admin/reports?status=pending", headers=admin.headers)
    body = listed.json()
    assert (body["total"], body["page"], body["limit"]) == (1, 1, 20)
    assert body["reports"][0]["id"] == created["id"]
    none = await client.get("/api/admin/reports?status=dismissed", headers=admin.headers)
    assert none.json()["reports"] == []

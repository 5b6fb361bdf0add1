"""Funding requests over HTTP: who may create them, the goal and deadline rules, updates by the
author only, delete vs cancel, lists and their filters."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import AuthedUser, QueryCounter
from tests.funding.helpers import (
    create_request,
    donate,
    get_request,
    request_body,
    today,
    update_request_row,
    upload_image,
)
from tests.helpers import assert_owner_only_through_one_statement


async def test_a_woman_creates_a_request(client: httpx.AsyncClient, woman: AuthedUser) -> None:
    cover = await upload_image(client, woman)
    response = await client.post(
        "/api/requests",
        json=request_body(goalAmount=5000, coverImageUrl=cover, category=" Business "),
        headers=woman.headers,
    )
    assert response.status_code == 201, response.text
    request = response.json()["request"]
    assert request["status"] == "active"
    assert request["goalAmount"] == 5000
    assert request["currentAmount"] == 0
    assert request["supportersCount"] == 0
    assert request["progress"] == 0
    assert request["coverImageUrl"] == cover
    assert request["category"] == "business"
    assert request["deadline"] == (today() + timedelta(days=30)).isoformat()
    assert request["authorId"] == str(woman.id)
    assert request["author"] == {"id": str(woman.id), "name": woman.name, "avatarUrl": None}
    assert request["createdAt"].endswith("Z") and request["updatedAt"].endswith("Z")
    assert request["recentDonations"] == []


async def test_an_admin_may_create_a_request_but_a_sponsor_may_not(
    client: httpx.AsyncClient, admin: AuthedUser, sponsor: AuthedUser
) -> None:
    assert (
        await client.post("/api/requests", json=request_body(), headers=admin.headers)
    ).status_code == 201
    refused = await client.post("/api/requests", json=request_body(), headers=sponsor.headers)
    assert refused.status_code == 403
    assert refused.json()["code"] == "role_forbidden"
    assert (await client.post("/api/requests", json=request_body())).status_code == 401


@pytest.mark.parametrize(
    "goal",
    [99.99, 0, -100, 100.001, "500", True, None, 10_000_000.01],
)
async def test_goal_amount_rules(client: httpx.AsyncClient, woman: AuthedUser, goal: Any) -> None:
    response = await client.post(
        "/api/requests", json=request_body(goalAmount=goal), headers=woman.headers
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_error"
    assert [detail["field"] for detail in body["details"]] == ["goalAmount"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_goal_amount_refuses_non_finite_numbers(
    client: httpx.AsyncClient, woman: AuthedUser, literal: str
) -> None:
    deadline = (today() + timedelta(days=5)).isoformat()
    raw = f'{{"title": "t", "description": "d", "goalAmount": {literal}, "deadline": "{deadline}"}}'
    response = await client.post(
        "/api/requests",
        content=raw,
        headers={**woman.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text


async def test_the_smallest_goal_is_100(client: httpx.AsyncClient, woman: AuthedUser) -> None:
    request = await create_request(client, woman, goalAmount=100)
    assert request["goalAmount"] == 100
    request = await create_request(client, woman, goalAmount=150.5)
    assert request["goalAmount"] == 150.5


@pytest.mark.parametrize("days", [0, -1, -30, 91, 365])
async def test_deadline_must_be_after_today_and_within_90_days(
    client: httpx.AsyncClient, woman: AuthedUser, days: int
) -> None:
    deadline = (today() + timedelta(days=days)).isoformat()
    response = await client.post(
        "/api/requests", json=request_body(deadline=deadline), headers=woman.headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["details"][0]["field"] == "deadline"


@pytest.mark.parametrize("deadline", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
async def test_a_deadline_outside_the_calendar_in_utc_is_a_validation_error(
    client: httpx.AsyncClient, woman: AuthedUser, deadline: str
) -> None:
    # Valid ISO 8601, but its UTC day is outside years 1..9999: a 422, never a 500.
    response = await client.post(
        "/api/requests", json=request_body(deadline=deadline), headers=woman.headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["details"][0]["field"] == "deadline"


async def test_deadline_accepts_the_90th_day_and_a_datetime(
    client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    last = today() + timedelta(days=90)
    request = await create_request(client, woman, deadline=last.isoformat())
    assert request["deadline"] == last.isoformat()
    request = await create_request(client, woman, deadline=f"{last.isoformat()}T10:00:00Z")
    assert request["deadline"] == last.isoformat()


async def test_cover_image_must_be_an_image_the_author_uploaded(
    client: httpx.AsyncClient, woman: AuthedUser, make_user: Callable[..., Any]
) -> None:
    other = await make_user("woman")
    theirs = await upload_image(client, other)
    for cover in (theirs, "https://evil.example/cover.png", "javascript:alert(1)"):
        response = await client.post(
            "/api/requests", json=request_body(coverImageUrl=cover), headers=woman.headers
        )
        assert response.status_code == 422, cover
        assert response.json()["details"][0]["field"] == "coverImageUrl"


async def test_mass_assignment_is_ignored_and_html_stripped(
    client: httpx.AsyncClient, woman: AuthedUser, make_user: Callable[..., Any]
) -> None:
    other = await make_user("woman")
    request = await create_request(
        client,
        woman,
        title="<b>Bakery</b><script>alert(1)</script>",
        status="funded",
        currentAmount=900,
        supportersCount=50,
        authorId=str(other.id),
        id=str(uuid.uuid4()),
    )
    assert request["title"] == "Bakery"
    assert request["status"] == "active"
    assert request["currentAmount"] == 0
    assert request["supportersCount"] == 0
    assert request["authorId"] == str(woman.id)


async def test_the_author_updates_whitelisted_fields(
    client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    request = await create_request(client, woman)
    cover = await upload_image(client, woman)
    response = await client.put(
        f"/api/requests/{request['id']}",
        json={
            "title": "New title",
            "description": "New description",
            "category": "education",
            "coverImageUrl": cover,
            "goalAmount": 2500.75,
            "deadline": (today() + timedelta(days=60)).isoformat(),
            "status": "funded",
            "currentAmount": 99999,
        },
        headers=woman.headers,
    )
    assert response.status_code == 200, response.text
    updated = response.json()["request"]
    assert updated["title"] == "New title"
    assert updated["category"] == "education"
    assert updated["coverImageUrl"] == cover
    assert updated["goalAmount"] == 2500.75
    assert updated["status"] == "active"
    assert updated["currentAmount"] == 0
    # PATCH is the same route; only the fields sent change.
    patched = await client.patch(
        f"/api/requests/{request['id']}", json={"category": None}, headers=woman.headers
    )
    assert patched.json()["request"]["category"] is None
    assert patched.json()["request"]["title"] == "New title"


async def test_nobody_else_may_edit_a_request(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    admin: AuthedUser,
    make_user: Callable[..., Any],
) -> None:
    request = await create_request(client, woman)
    other = await make_user("woman")
    for intruder in (other, sponsor):
        response = await client.put(
            f"/api/requests/{request['id']}", json={"title": "Mine now"}, headers=intruder.headers
        )
        assert response.status_code == 403
        assert response.json()["code"] == "not_author"
        cancel = await client.post(
            f"/api/requests/{request['id']}/cancel", headers=intruder.headers
        )
        assert cancel.status_code == 403
        delete = await client.delete(f"/api/requests/{request['id']}", headers=intruder.headers)
        assert delete.status_code == 403
    assert (
        await client.put(f"/api/requests/{request['id']}", json={"title": "x"})
    ).status_code == 401
    assert (await get_request(client, request["id"]))["title"] == "Open my bakery"
    moderated = await client.put(
        f"/api/requests/{request['id']}", json={"title": "Moderated"}, headers=admin.headers
    )
    assert moderated.status_code == 200
    assert moderated.json()["request"]["title"] == "Moderated"


async def test_update_rules_for_goal_and_deadline(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    request = await create_request(client, woman, goalAmount=1000)
    url = f"/api/requests/{request['id']}"
    await donate(client, sponsor, request["id"], 400)
    below = await client.put(url, json={"goalAmount": 399.99}, headers=woman.headers)
    assert below.status_code == 422
    assert below.json()["details"][0]["field"] == "goalAmount"
    assert (
        await client.put(url, json={"goalAmount": 99}, headers=woman.headers)
    ).status_code == 422
    assert (
        await client.put(url, json={"goalAmount": None}, headers=woman.headers)
    ).status_code == 422
    too_far = (today() + timedelta(days=91)).isoformat()
    assert (
        await client.put(url, json={"deadline": too_far}, headers=woman.headers)
    ).status_code == 422
    past = (today() - timedelta(days=1)).isoformat()
    assert (
        await client.put(url, json={"deadline": past}, headers=woman.headers)
    ).status_code == 422
    # Lowering the goal to what was raised funds the request, once.
    reached = await client.put(url, json={"goalAmount": 400}, headers=woman.headers)
    assert reached.status_code == 200, reached.text
    assert reached.json()["request"]["status"] == "funded"
    assert reached.json()["request"]["progress"] == 1
    locked = await client.put(url, json={"goalAmount": 500}, headers=woman.headers)
    assert locked.status_code == 409
    assert locked.json()["code"] == "request_not_active"
    # Text fields may still change.
    assert (
        await client.put(url, json={"title": "Done!"}, headers=woman.headers)
    ).status_code == 200


async def test_deadline_limit_counts_from_creation(
    client: httpx.AsyncClient, woman: AuthedUser, app: FastAPI
) -> None:
    from peal.db import utcnow

    request = await create_request(client, woman)
    await update_request_row(app, request["id"], created_at=utcnow() - timedelta(days=20))
    url = f"/api/requests/{request['id']}"
    late = (today() + timedelta(days=75)).isoformat()
    assert (
        await client.put(url, json={"deadline": late}, headers=woman.headers)
    ).status_code == 422
    fine = (today() + timedelta(days=70)).isoformat()
    assert (
        await client.put(url, json={"deadline": fine}, headers=woman.headers)
    ).status_code == 200


async def test_a_request_with_money_cannot_be_deleted(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    empty = await create_request(client, woman)
    deleted = await client.delete(f"/api/requests/{empty['id']}", headers=woman.headers)
    assert deleted.status_code == 204
    assert (await client.get(f"/api/requests/{empty['id']}")).status_code == 404

    funded = await create_request(client, woman)
    await donate(client, sponsor, funded["id"], 10)
    refused = await client.delete(f"/api/requests/{funded['id']}", headers=woman.headers)
    assert refused.status_code == 409
    assert refused.json()["code"] == "request_has_donations"


async def test_cancel_moves_forward_only(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    request = await create_request(client, woman, goalAmount=100)
    cancelled = await client.post(f"/api/requests/{request['id']}/cancel", headers=woman.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["request"]["status"] == "cancelled"
    again = await client.post(f"/api/requests/{request['id']}/cancel", headers=woman.headers)
    assert again.status_code == 200
    assert again.json()["request"]["status"] == "cancelled"
    # Cancelled is final: nothing may reopen it.
    assert (
        await client.put(
            f"/api/requests/{request['id']}", json={"goalAmount": 500}, headers=woman.headers
        )
    ).status_code == 409

    funded = await create_request(client, woman, goalAmount=100)
    await donate(client, sponsor, funded["id"], 100)
    refused = await client.post(f"/api/requests/{funded['id']}/cancel", headers=woman.headers)
    assert refused.status_code == 409
    assert refused.json()["code"] == "request_not_active"


async def test_unknown_and_malformed_ids(client: httpx.AsyncClient, woman: AuthedUser) -> None:
    missing = await client.get(f"/api/requests/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.json()["code"] == "request_not_found"
    assert (await client.get("/api/requests/not-a-uuid")).status_code == 422


async def test_list_filters_and_pagination(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    make_user: Callable[..., Any],
    app: FastAPI,
) -> None:
    other = await make_user("woman")
    bakery = await create_request(client, woman, title="Bakery oven", category="business")
    school = await create_request(client, woman, title="School books", category="Education")
    salon = await create_request(client, other, title="Hair salon", description="Chairs 50%")
    overdue = await create_request(client, other, title="Overdue thing")
    await update_request_row(app, overdue["id"], deadline=today() - timedelta(days=1))
    await donate(client, sponsor, school["id"], 1000)  # funded

    async def ids(query: str) -> list[str]:
        response = await client.get(f"/api/requests{query}")
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["data"]]

    assert await ids("") == [overdue["id"], salon["id"], school["id"], bakery["id"]]
    assert await ids("?status=active") == [salon["id"], bakery["id"]]
    assert await ids("?status=funded") == [school["id"]]
    assert await ids("?status=expired") == [overdue["id"]]
    assert await ids("?category=EDUCATION") == [school["id"]]
    assert await ids(f"?authorId={other.id}") == [overdue["id"], salon["id"]]
    assert await ids("?search=SALON") == [salon["id"]]
    assert await ids("?search=books") == [school["id"]]
    assert await ids("?search=50%25") == [salon["id"]]  # % is literal, not a wildcard
    assert await ids("?search=%25") == [salon["id"]]
    assert (await client.get("/api/requests?status=lost")).status_code == 422

    page = (await client.get("/api/requests?limit=3&page=2")).json()
    assert [item["id"] for item in page["data"]] == [bakery["id"]]
    assert page["pagination"] == {
        "page": 2,
        "limit": 3,
        "total": 4,
        "totalPages": 2,
        "hasMore": False,
        "nextCursor": None,
    }
    assert (await client.get("/api/requests?limit=101")).status_code == 422


async def test_list_runs_a_fixed_number_of_queries(
    client: httpx.AsyncClient, woman: AuthedUser, count_queries: QueryCounter
) -> None:
    for _ in range(2):
        await create_request(client, woman)
    count_queries.reset()
    await client.get("/api/requests")
    few = count_queries.count
    for _ in range(6):
        await create_request(client, woman)
    count_queries.reset()
    response = await client.get("/api/requests")
    assert len(response.json()["data"]) == 8
    assert count_queries.count == few


async def test_user_requests_route(
    client: httpx.AsyncClient, woman: AuthedUser, make_user: Callable[..., Any]
) -> None:
    mine = await create_request(client, woman)
    private = await make_user("woman", is_public=False)
    hidden = await create_request(client, private)

    listed = await client.get(f"/api/users/{woman.id}/requests")
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["data"]] == [mine["id"]]
    assert listed.json()["pagination"]["total"] == 1

    assert (await client.get(f"/api/users/{private.id}/requests")).status_code == 404
    assert (await client.get(f"/api/users/{uuid.uuid4()}/requests")).status_code == 404
    own = await client.get(f"/api/users/{private.id}/requests", headers=private.headers)
    assert [item["id"] for item in own.json()["data"]] == [hidden["id"]]
    # The private author's request is hidden from others everywhere, as her profile is.
    assert (await client.get(f"/api/requests/{hidden['id']}")).status_code == 404
    assert hidden["id"] not in [
        item["id"] for item in (await client.get("/api/requests")).json()["data"]
    ]


async def test_one_list_statement_serves_every_viewer_and_day_with_its_own_values(
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    app: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The list's statements are built once per shape and bound per call: each author sees her
    own hidden request only, each category and author filter its own requests, and `expired`
    is judged on the day of the call, not the day the statement was built."""
    from peal.core.moderation import ModerationStatus
    from peal.funding import service

    ada, bea = await make_user("woman"), await make_user("woman")
    hidden_ada = await create_request(client, ada, category="art")
    hidden_bea = await create_request(client, bea, category="law")
    for hidden in (hidden_ada, hidden_bea):
        await update_request_row(app, hidden["id"], moderation_status=ModerationStatus.HIDDEN)
    art = await create_request(client, ada, category="art")
    law = await create_request(client, bea, category="law")

    async def ids(query: str, user: Any | None = None) -> set[str]:
        headers = user.headers if user else {}
        response = await client.get(f"/api/requests?limit=50&{query}", headers=headers)
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["data"]}

    service._list_statements.cache_clear()
    assert await ids("", ada) == {hidden_ada["id"], art["id"], law["id"]}
    assert await ids("", bea) == {hidden_bea["id"], art["id"], law["id"]}
    assert await ids(f"authorId={ada.id}") == {art["id"]}
    assert await ids(f"authorId={bea.id}") == {law["id"]}
    assert await ids("category=art") == {art["id"]}
    assert await ids("category=law") == {law["id"]}
    assert await ids("status=active") == {art["id"], law["id"]}
    # One statement per shape: members, anonymous by author, by category, by status.
    assert service._list_statements.cache_info().misses == 4

    later = today() + timedelta(days=91)  # past every deadline
    monkeypatch.setattr(service, "today", lambda: later)
    assert await ids("status=active") == set()
    assert await ids("status=expired") == {art["id"], law["id"]}


async def test_one_request_statement_serves_every_viewer_with_her_own_values(
    client: httpx.AsyncClient, make_user: Callable[..., Any], admin: AuthedUser, app: FastAPI
) -> None:
    """A request's lookup is built once per viewer shape and bound per call: a hidden request
    is found by its author and admins, and is 404 to another member, whoever asked first."""
    from peal.core.moderation import ModerationStatus
    from peal.funding import service

    ada, bea = await make_user("woman"), await make_user("woman")
    mine = {user.id: await create_request(client, user) for user in (ada, bea)}
    for request in mine.values():
        await update_request_row(app, request["id"], moderation_status=ModerationStatus.HIDDEN)
    pairs = ((ada, bea), (bea, ada))
    urls = [(owner, other, f"/api/requests/{mine[owner.id]['id']}") for owner, other in pairs]
    await assert_owner_only_through_one_statement(client, service._request_statement, urls, admin)

"""Goals over HTTP: client shapes, owner-only access, derived progress, stats, query counts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import AuthedUser, QueryCounter
from tests.helpers import ok

GOAL_FIELDS = {
    "id", "userId", "title", "description", "category", "targetDate", "status", "progress",
    "priority", "completedAt", "createdAt", "updatedAt", "milestones",
}  # fmt: skip
MILESTONE_FIELDS = {
    "id", "goalId", "title", "description", "dueDate", "completed", "completedAt", "createdAt",
}  # fmt: skip


def _today() -> date:
    return datetime.now(UTC).date()


async def create_goal(client: httpx.AsyncClient, user: AuthedUser, **fields: Any) -> dict[str, Any]:
    body = {"title": "Open my bakery", "category": "business", **fields}
    response = await client.post("/api/goals", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    goal: dict[str, Any] = response.json()["goal"]
    return goal


async def set_milestone(
    client: httpx.AsyncClient, user: AuthedUser, goal_id: str, milestone_id: str, **fields: Any
) -> dict[str, Any]:
    response = await client.put(
        f"/api/goals/{goal_id}/milestones/{milestone_id}", json=fields, headers=user.headers
    )
    assert response.status_code == 200, response.text
    milestone: dict[str, Any] = response.json()["milestone"]
    return milestone


async def fetch_goal(client: httpx.AsyncClient, user: AuthedUser, goal_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/goals/{goal_id}", headers=user.headers)
    assert response.status_code == 200, response.text
    goal: dict[str, Any] = response.json()["goal"]
    return goal


# --- shapes ---------------------------------------------------------------------------------


async def test_create_goal_with_milestones_has_the_client_shape(
    client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    response = await client.post(
        "/api/goals",
        json={
            "title": "<b>Open</b> my bakery",
            "description": "A small bakery <script>alert(1)</script>in my street",
            "category": "business",
            "targetDate": "2027-03-01",
            "priority": "high",
            "milestones": [
                {"title": "Write the business plan", "dueDate": "2026-12-15T10:00:00Z"},
                {"title": "Find a shop", "description": "Near the market"},
            ],
        },
        headers=woman.headers,
    )
    assert response.status_code == 201, response.text
    goal = response.json()["goal"]
    assert set(goal) == GOAL_FIELDS
    assert goal["userId"] == str(woman.id)
    assert goal["title"] == "Open my bakery"
    assert "<" not in goal["description"]
    assert goal["targetDate"] == "2027-03-01"
    assert goal["status"] == "in_progress"
    assert goal["progress"] == 0
    assert goal["priority"] == "high"
    assert goal["completedAt"] is None
    assert goal["createdAt"].endswith("Z")
    assert [m["title"] for m in goal["milestones"]] == ["Write the business plan", "Find a shop"]
    first = goal["milestones"][0]
    assert set(first) == MILESTONE_FIELDS
    assert first["goalId"] == goal["id"]
    assert first["dueDate"] == "2026-12-15"
    assert first["completed"] is False
    assert first["completedAt"] is None


async def test_create_defaults(client: httpx.AsyncClient, woman: AuthedUser) -> None:
    goal = await create_goal(client, woman, category="health")
    assert goal["priority"] == "medium"
    assert goal["milestones"] == []
    assert goal["targetDate"] is None
    assert goal["description"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "x", "category": "gardening"}, "category"),
        ({"title": "", "category": "business"}, "title"),
        ({"title": "<p></p>", "category": "business"}, "title"),
        ({"title": "x" * 256, "category": "business"}, "title"),
        ({"category": "business"}, "title"),
        ({"title": "x", "category": "business", "priority": "urgent"}, "priority"),
        ({"title": "x", "category": "business", "targetDate": "soon"}, "targetDate"),
        # Valid ISO 8601 datetimes whose UTC day is outside years 1..9999.
        (
            {"title": "x", "category": "business", "targetDate": "9999-12-31T23:59:59-23:59"},
            "targetDate",
        ),
        (
            {"title": "x", "category": "business", "targetDate": "0001-01-01T00:00:00+23:59"},
            "targetDate",
        ),
        (
            {
                "title": "x",
                "category": "business",
                "milestones": [{"title": "m", "dueDate": "9999-12-31T23:59:59-23:59"}],
            },
            "milestones.0.dueDate",
        ),
        (
            {"title": "x", "category": "business", "milestones": [{"title": "m"}] * 51},
            "milestones",
        ),
        (
            {"title": "x", "category": "business", "milestones": [{"title": ""}]},
            "milestones.0.title",
        ),
    ],
)
async def test_create_validation(
    client: httpx.AsyncClient, woman: AuthedUser, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/api/goals", json=body, headers=woman.headers)
    assert response.status_code == 422
    payload = response.json()
    assert payload["code"] == "validation_error"
    assert field in [detail["field"] for detail in payload["details"]]


async def test_goals_need_authentication(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/api/goals"),
        ("POST", "/api/goals"),
        ("GET", "/api/goals/stats/summary"),
    ]:
        response = await client.request(method, path, json={})
        assert response.status_code == 401, (method, path)
        assert response.json()["code"] == "unauthorized"


async def test_list_is_own_newest_first_and_filters_by_status(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    first = await create_goal(client, woman, title="First")
    second = await create_goal(client, woman, title="Second")
    await create_goal(client, sponsor, title="Not hers")
    await ok(
        client.put(f"/api/goals/{first['id']}", json={"status": "on_hold"}, headers=woman.headers)
    )

    response = await client.get("/api/goals", headers=woman.headers)
    assert response.status_code == 200
    goals = response.json()["goals"]
    assert [g["id"] for g in goals] == [second["id"], first["id"]]

    on_hold = await client.get("/api/goals", params={"status": "on_hold"}, headers=woman.headers)
    assert [g["id"] for g in on_hold.json()["goals"]] == [first["id"]]

    bad = await client.get("/api/goals", params={"status": "done"}, headers=woman.headers)
    assert bad.status_code == 422


# --- privacy --------------------------------------------------------------------------------


async def test_another_users_goal_is_404_everywhere(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, admin: AuthedUser
) -> None:
    goal = await create_goal(client, woman, milestones=[{"title": "Step"}])
    goal_id, milestone_id = goal["id"], goal["milestones"][0]["id"]
    for intruder in (sponsor, admin):
        headers = intruder.headers
        requests = [
            client.get(f"/api/goals/{goal_id}", headers=headers),
            client.put(f"/api/goals/{goal_id}", json={"title": "Mine"}, headers=headers),
            client.patch(f"/api/goals/{goal_id}", json={"title": "Mine"}, headers=headers),
            client.delete(f"/api/goals/{goal_id}", headers=headers),
            client.post(f"/api/goals/{goal_id}/milestones", json={"title": "x"}, headers=headers),
            client.put(
                f"/api/goals/{goal_id}/milestones/{milestone_id}",
                json={"completed": True},
                headers=headers,
            ),
            client.delete(f"/api/goals/{goal_id}/milestones/{milestone_id}", headers=headers),
        ]
        for request in requests:
            response = await request
            assert response.status_code == 404, response.request.method
            assert response.json()["code"] == "goal_not_found"
        listed = await client.get("/api/goals", headers=headers)
        assert listed.json()["goals"] == []

    unchanged = await fetch_goal(client, woman, goal_id)
    assert unchanged["title"] == goal["title"]
    assert unchanged["milestones"][0]["completed"] is False
    assert len(unchanged["milestones"]) == 1


async def test_milestone_of_another_goal_is_404(
    client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    goal_a = await create_goal(client, woman, milestones=[{"title": "A1"}])
    goal_b = await create_goal(client, woman, milestones=[{"title": "B1"}])
    milestone_a = goal_a["milestones"][0]["id"]
    path = f"/api/goals/{goal_b['id']}/milestones/{milestone_a}"
    response = await client.put(path, json={"completed": True}, headers=woman.headers)
    assert response.status_code == 404
    assert response.json()["code"] == "milestone_not_found"
    assert (await client.delete(path, headers=woman.headers)).status_code == 404
    assert (await fetch_goal(client, woman, goal_a["id"]))["milestones"][0]["completed"] is False


# --- updates --------------------------------------------------------------------------------


async def test_update_changes_whitelisted_fields_only(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    goal = await create_goal(client, woman, description="Old", targetDate="2027-01-01")
    response = await client.put(
        f"/api/goals/{goal['id']}",
        json={
            "title": "Open two bakeries",
            "description": None,
            "category": "finance",
            "targetDate": None,
            "priority": "low",
            "progress": 40,
            # Not for the client to set:
            "id": "00000000-0000-0000-0000-000000000000",
            "userId": str(sponsor.id),
            "createdAt": "2000-01-01T00:00:00Z",
            "completedAt": "2000-01-01T00:00:00Z",
        },
        headers=woman.headers,
    )
    assert response.status_code == 200, response.text
    updated = response.json()["goal"]
    assert updated["id"] == goal["id"]
    assert updated["userId"] == str(woman.id)
    assert updated["createdAt"] == goal["createdAt"]
    assert updated["completedAt"] is None
    assert updated["title"] == "Open two bakeries"
    assert updated["description"] is None
    assert updated["category"] == "finance"
    assert updated["targetDate"] is None
    assert updated["priority"] == "low"
    assert updated["progress"] == 40

    patched = await client.patch(
        f"/api/goals/{goal['id']}", json={"priority": "high"}, headers=woman.headers
    )
    assert patched.status_code == 200
    assert patched.json()["goal"]["priority"] == "high"
    assert patched.json()["goal"]["title"] == "Open two bakeries"


@pytest.mark.parametrize(
    "body",
    [
        {"title": None},
        {"status": None},
        {"status": "archived"},
        {"progress": 101},
        {"progress": -1},
        {"category": "sleep"},
    ],
)
async def test_update_validation(
    client: httpx.AsyncClient, woman: AuthedUser, body: dict[str, Any]
) -> None:
    goal = await create_goal(client, woman)
    response = await client.put(f"/api/goals/{goal['id']}", json=body, headers=woman.headers)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == next(iter(body))


async def test_status_changes_set_and_clear_completed_at(
    client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    goal = await create_goal(client, woman)
    done = await client.put(
        f"/api/goals/{goal['id']}", json={"status": "completed"}, headers=woman.headers
    )
    assert done.json()["goal"]["completedAt"].endswith("Z")
    # Without milestones, completing a goal completes its progress too.
    assert done.json()["goal"]["progress"] == 100
    reopened = await client.put(
        f"/api/goals/{goal['id']}",
        json={"status": "in_progress", "progress": 80},
        headers=woman.headers,
    )
    assert reopened.json()["goal"]["completedAt"] is None
    assert reopened.json()["goal"]["progress"] == 80


async def test_progress_is_derived_while_the_goal_has_milestones(
    client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    goal = await create_goal(client, woman, milestones=[{"title": "One"}, {"title": "Two"}])
    refused = await client.put(
        f"/api/goals/{goal['id']}", json={"progress": 90}, headers=woman.headers
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "progress_is_derived"
    # Sending back the value the client read (a full-object PUT) is fine.
    same = await client.put(
        f"/api/goals/{goal['id']}", json={"progress": 0, "title": "Renamed"}, headers=woman.headers
    )
    assert same.status_code == 200
    assert same.json()["goal"]["title"] == "Renamed"


async def test_progress_math_and_auto_completion(
    client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    goal = await create_goal(
        client, woman, milestones=[{"title": "One"}, {"title": "Two"}, {"title": "Three"}]
    )
    goal_id = goal["id"]
    one, two, three = (m["id"] for m in goal["milestones"])

    done = await set_milestone(client, woman, goal_id, one, completed=True)
    assert done["completed"] is True
    assert done["completedAt"].endswith("Z")
    assert (await fetch_goal(client, woman, goal_id))["progress"] == 33

    await set_milestone(client, woman, goal_id, two, completed=True)
    state = await fetch_goal(client, woman, goal_id)
    assert state["progress"] == 67
    assert state["status"] == "in_progress"

    await set_milestone(client, woman, goal_id, three, completed=True)
    state = await fetch_goal(client, woman, goal_id)
    assert state["progress"] == 100
    assert state["status"] == "completed"
    assert state["completedAt"] is not None

    undone = await set_milestone(client, woman, goal_id, two, completed=False)
    assert undone["completedAt"] is None
    state = await fetch_goal(client, woman, goal_id)
    assert state["progress"] == 67
    assert state["status"] == "in_progress"
    assert state["completedAt"] is None

    # A new milestone lowers the share; deleting the open ones completes the goal again.
    added = await client.post(
        f"/api/goals/{goal_id}/milestones",
        json={"title": "Four", "dueDate": "2027-01-05"},
        headers=woman.headers,
    )
    assert added.status_code == 201
    four = added.json()["milestone"]
    assert set(four) == MILESTONE_FIELDS
    assert four["dueDate"] == "2027-01-05"
    assert (await fetch_goal(client, woman, goal_id))["progress"] == 50

    assert (
        await client.delete(f"/api/goals/{goal_id}/milestones/{two}", headers=woman.headers)
    ).status_code == 204
    assert (await fetch_goal(client, woman, goal_id))["progress"] == 67
    await ok(client.delete(f"/api/goals/{goal_id}/milestones/{four['id']}", headers=woman.headers))
    state = await fetch_goal(client, woman, goal_id)
    assert state["progress"] == 100
    assert state["status"] == "completed"
    assert [m["title"] for m in state["milestones"]] == ["One", "Three"]


async def test_completing_all_milestones_completes_an_on_hold_goal(
    client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    goal = await create_goal(client, woman, milestones=[{"title": "Only"}])
    await ok(
        client.put(f"/api/goals/{goal['id']}", json={"status": "on_hold"}, headers=woman.headers)
    )
    await set_milestone(client, woman, goal["id"], goal["milestones"][0]["id"], completed=True)
    state = await fetch_goal(client, woman, goal["id"])
    assert (state["status"], state["progress"]) == ("completed", 100)


async def test_milestone_update_fields_and_validation(
    client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    goal = await create_goal(client, woman, milestones=[{"title": "Draft", "description": "d"}])
    milestone = goal["milestones"][0]
    path = f"/api/goals/{goal['id']}/milestones/{milestone['id']}"
    response = await client.patch(
        path,
        json={"title": "<i>Final</i>", "description": None, "dueDate": "2027-02-02"},
        headers=woman.headers,
    )
    assert response.status_code == 200
    updated = response.json()["milestone"]
    assert (updated["title"], updated["description"], updated["dueDate"]) == (
        "Final",
        None,
        "2027-02-02",
    )
    assert updated["completed"] is False
    for bad in ({"title": ""}, {"completed": None}, {"dueDate": "tomorrow"}):
        assert (await client.put(path, json=bad, headers=woman.headers)).status_code == 422
    missing = await client.post(
        f"/api/goals/{goal['id']}/milestones", json={}, headers=woman.headers
    )
    assert missing.status_code == 422


async def test_milestones_per_goal_are_capped(client: httpx.AsyncClient, woman: AuthedUser) -> None:
    goal = await create_goal(client, woman, milestones=[{"title": f"M{i}"} for i in range(50)])
    assert len(goal["milestones"]) == 50
    assert [m["title"] for m in goal["milestones"]][:3] == ["M0", "M1", "M2"]
    response = await client.post(
        f"/api/goals/{goal['id']}/milestones", json={"title": "One more"}, headers=woman.headers
    )
    assert response.status_code == 409
    assert response.json()["code"] == "too_many_milestones"


async def test_delete_goal_removes_it_and_its_milestones(
    client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    goal = await create_goal(client, woman, milestones=[{"title": "Step"}])
    response = await client.delete(f"/api/goals/{goal['id']}", headers=woman.headers)
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"/api/goals/{goal['id']}", headers=woman.headers)).status_code == 404
    again = await client.delete(f"/api/goals/{goal['id']}", headers=woman.headers)
    assert again.status_code == 404
    milestone_path = f"/api/goals/{goal['id']}/milestones/{goal['milestones'][0]['id']}"
    gone = await client.put(milestone_path, json={"completed": True}, headers=woman.headers)
    assert gone.status_code == 404


# --- stats ----------------------------------------------------------------------------------


async def test_stats_are_exact(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    yesterday = (_today() - timedelta(days=1)).isoformat()
    tomorrow = (_today() + timedelta(days=1)).isoformat()
    overdue = await create_goal(client, woman, category="business", targetDate=yesterday)
    await ok(
        client.put(f"/api/goals/{overdue['id']}", json={"progress": 10}, headers=woman.headers)
    )
    held = await create_goal(client, woman, category="business", targetDate=yesterday)
    await ok(
        client.put(
            f"/api/goals/{held['id']}",
            json={"status": "on_hold", "progress": 20},
            headers=woman.headers,
        )
    )
    done = await create_goal(client, woman, category="health", targetDate=yesterday)
    await ok(
        client.put(f"/api/goals/{done['id']}", json={"status": "completed"}, headers=woman.headers)
    )
    await create_goal(client, woman, category="career", targetDate=tomorrow)
    await create_goal(client, woman, category="career")
    await create_goal(client, sponsor, category="finance", targetDate=yesterday)

    response = await client.get("/api/goals/stats/summary", headers=woman.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "stats": {
            "total": 5,
            "inProgress": 3,
            "completed": 1,
            "onHold": 1,
            "overdue": 2,
            # (10 + 20 + 100 + 0 + 0) / 5
            "averageProgress": 26.0,
            "byCategory": {
                "business": 2,
                "education": 0,
                "career": 2,
                "personal": 0,
                "health": 1,
                "finance": 0,
            },
        }
    }


async def test_stats_average_is_rounded_to_one_decimal(
    client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    for progress in (10, 20, 35):
        goal = await create_goal(client, woman)
        await ok(
            client.put(
                f"/api/goals/{goal['id']}", json={"progress": progress}, headers=woman.headers
            )
        )
    stats = (await client.get("/api/goals/stats/summary", headers=woman.headers)).json()["stats"]
    assert stats["averageProgress"] == 21.7  # 65 / 3 = 21.666...


async def test_stats_of_nobody(client: httpx.AsyncClient, woman: AuthedUser) -> None:
    stats = (await client.get("/api/goals/stats/summary", headers=woman.headers)).json()["stats"]
    assert stats["total"] == 0
    assert stats["averageProgress"] == 0
    assert set(stats["byCategory"].values()) == {0}


# --- query counts ---------------------------------------------------------------------------


async def _count(
    count_queries: QueryCounter, call: Callable[[], Any]
) -> tuple[int, httpx.Response]:
    count_queries.reset()
    response = await call()
    return count_queries.count, response


async def test_list_runs_a_fixed_number_of_queries(
    client: httpx.AsyncClient, woman: AuthedUser, count_queries: QueryCounter
) -> None:
    def listing() -> Any:
        return client.get("/api/goals", headers=woman.headers)

    await create_goal(client, woman, milestones=[{"title": "a"}])
    one, response = await _count(count_queries, listing)
    assert len(response.json()["goals"]) == 1
    for _ in range(6):
        await create_goal(client, woman, milestones=[{"title": "a"}, {"title": "b"}])
    many, response = await _count(count_queries, listing)
    assert len(response.json()["goals"]) == 7
    assert one == many
    assert many <= 3  # the caller, the goals, all their milestones


async def test_stats_run_a_fixed_number_of_queries(
    client: httpx.AsyncClient, woman: AuthedUser, count_queries: QueryCounter
) -> None:
    def stats() -> Any:
        return client.get("/api/goals/stats/summary", headers=woman.headers)

    await create_goal(client, woman)
    one, _ = await _count(count_queries, stats)
    for category in ("health", "career", "finance", "business"):
        await create_goal(client, woman, category=category)
    many, response = await _count(count_queries, stats)
    assert response.json()["stats"]["total"] == 5
    assert one == many <= 3

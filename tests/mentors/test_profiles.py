"""Mentor profiles over HTTP: creating, validating, listing, seeing and changing them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from peal.users.models import User
from tests.conftest import AuthedUser, QueryCounter
from tests.helpers import ok
from tests.mentors.helpers import become_mentor, profile_row, request_mentoring


async def test_a_woman_becomes_a_mentor_with_the_client_shape(
    client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    response = await client.post(
        "/api/mentors",
        json={
            "bio": "<b>Baker</b> of ten years",
            "skills": ["  Baking ", "baking", "Small   Business"],
            "yearsExperience": 10,
            "availability": "busy",
            "maxMentees": 3,
            "acceptsRemote": False,
        },
        headers=woman.headers,
    )
    assert response.status_code == 201, response.text
    mentor = response.json()["mentor"]
    assert set(mentor) == {
        "id", "userId", "user", "bio", "availability", "yearsExperience", "maxMentees",
        "currentMenteesCount", "acceptsRemote", "skills", "createdAt", "updatedAt",
    }  # fmt: skip
    assert mentor["userId"] == str(woman.id)
    assert mentor["user"] == {
        "id": str(woman.id),
        "name": woman.name,
        "avatarUrl": None,
        "bio": None,
        "location": None,
    }
    assert mentor["bio"] == "Baker of ten years"
    assert mentor["skills"] == ["baking", "small business"]
    assert (mentor["availability"], mentor["yearsExperience"], mentor["maxMentees"]) == (
        "busy",
        10,
        3,
    )
    assert mentor["currentMenteesCount"] == 0 and mentor["acceptsRemote"] is False
    assert mentor["createdAt"].endswith("Z")

    fetched = await client.get(f"/api/mentors/{mentor['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["mentor"] == mentor


async def test_one_profile_per_person_and_only_women_and_sponsors(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, admin: AuthedUser
) -> None:
    await become_mentor(client, woman)
    again = await client.post("/api/mentors", json={"skills": []}, headers=woman.headers)
    assert again.status_code == 409 and again.json()["code"] == "mentor_exists"
    assert (await client.post("/api/mentors", json={}, headers=sponsor.headers)).status_code == 201
    by_admin = await client.post("/api/mentors", json={}, headers=admin.headers)
    assert by_admin.status_code == 403
    assert (await client.post("/api/mentors", json={})).status_code == 401


async def test_profile_fields_are_validated_and_bounded(
    client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    bad_bodies = [
        {"maxMentees": 0},
        {"maxMentees": 51},
        {"yearsExperience": -1},
        {"yearsExperience": 71},
        {"availability": "sometimes"},
        {"skills": [f"skill {i}" for i in range(21)]},
        {"skills": ["x" * 51]},
        {"skills": ["<b></b>"]},
        {"bio": "x" * 2001},
        {"bio": "<i></i>" * 5000},  # refused by its raw length, before any cleaning
        {"acceptsRemote": "perhaps"},
    ]
    for body in bad_bodies:
        response = await client.post("/api/mentors", json=body, headers=woman.headers)
        assert response.status_code == 422, body
        assert response.json()["code"] == "validation_error"
    ok = await client.post(
        "/api/mentors",
        json={"maxMentees": 50, "yearsExperience": 70, "skills": ["y" * 50] * 2},
        headers=woman.headers,
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["mentor"]["skills"] == ["y" * 50]


async def test_mass_assignment_is_ignored_on_create(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    response = await client.post(
        "/api/mentors",
        json={
            "userId": str(sponsor.id),
            "user_id": str(sponsor.id),
            "currentMenteesCount": 4,
            "id": "00000000-0000-0000-0000-000000000001",
        },
        headers=woman.headers,
    )
    assert response.status_code == 201
    mentor = response.json()["mentor"]
    assert mentor["userId"] == str(woman.id)
    assert mentor["currentMenteesCount"] == 0
    assert mentor["id"] != "00000000-0000-0000-0000-000000000001"


async def test_only_the_owner_or_an_admin_changes_a_profile(
    app: FastAPI,
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    admin: AuthedUser,
) -> None:
    mentor = await become_mentor(client, woman, skills=["baking", "pricing"])
    path = f"/api/mentors/{mentor['id']}"
    stolen = await client.put(path, json={"bio": "mine now"}, headers=sponsor.headers)
    assert stolen.status_code == 403 and stolen.json()["code"] == "not_owner"
    assert (await client.put(path, json={"bio": "x"})).status_code == 401

    changed = await client.put(
        path,
        json={
            "bio": "Bread and business",
            "skills": ["Marketing"],
            "maxMentees": 8,
            "availability": "busy",
            "userId": str(sponsor.id),
            "currentMenteesCount": 7,
            "id": "00000000-0000-0000-0000-000000000001",
        },
        headers=woman.headers,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()["mentor"]
    assert body["id"] == mentor["id"] and body["userId"] == str(woman.id)
    assert body["skills"] == ["marketing"]  # replaced, not added to
    assert (body["bio"], body["maxMentees"], body["availability"]) == (
        "Bread and business",
        8,
        "busy",
    )
    assert body["currentMenteesCount"] == 0
    row = await profile_row(app, mentor["id"])
    assert row.user_id == woman.id and row.current_mentees_count == 0

    by_admin = await client.patch(path, json={"availability": "available"}, headers=admin.headers)
    assert by_admin.status_code == 200
    assert by_admin.json()["mentor"]["availability"] == "available"
    for body in ({"availability": None}, {"maxMentees": None}, {"skills": None}):
        assert (await client.put(path, json=body, headers=woman.headers)).status_code == 422
    cleared = await client.put(path, json={"bio": None}, headers=woman.headers)
    assert cleared.json()["mentor"]["bio"] is None


async def test_capacity_cannot_go_below_the_accepted_mentees(
    client: httpx.AsyncClient, make_user: Callable[..., Any], sponsor: AuthedUser
) -> None:
    mentor = await become_mentor(client, sponsor, maxMentees=3)
    for _ in range(2):
        mentee = await make_user()
        connection = await request_mentoring(client, mentee, mentor["id"])
        response = await client.put(
            f"/api/mentors/{mentor['id']}/connection",
            json={"connectionId": connection["id"], "action": "accept"},
            headers=sponsor.headers,
        )
        assert response.status_code == 200
    path = f"/api/mentors/{mentor['id']}"
    lowered = await client.put(path, json={"maxMentees": 1}, headers=sponsor.headers)
    assert lowered.status_code == 409 and lowered.json()["code"] == "max_mentees_below_current"
    assert (
        await client.put(path, json={"maxMentees": 2}, headers=sponsor.headers)
    ).status_code == 200


async def test_private_banned_and_deleted_mentors_are_hidden(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    woman: AuthedUser,
    admin: AuthedUser,
) -> None:
    private = await make_user("woman", name="Private Mentor")
    banned = await make_user("sponsor", name="Banned Mentor")
    public = await make_user("woman", name="Public Mentor")
    profiles = {user.name: await become_mentor(client, user) for user in (private, banned, public)}
    async with app.state.db.sessionmaker() as session:
        await session.execute(update(User).where(User.id == private.id).values(is_public=False))
        await session.execute(update(User).where(User.id == banned.id).values(is_banned=True))
        await session.commit()

    listed = (await client.get("/api/mentors", headers=woman.headers)).json()
    assert [m["user"]["name"] for m in listed["data"]] == ["Public Mentor"]
    assert listed["pagination"]["total"] == 1
    for name in ("Private Mentor", "Banned Mentor"):
        path = f"/api/mentors/{profiles[name]['id']}"
        hidden = await client.get(path, headers=woman.headers)
        assert hidden.status_code == 404 and hidden.json()["code"] == "mentor_not_found"
        assert (await client.get(path)).status_code == 404
        assert (await client.get(path, headers=admin.headers)).status_code == 200
        asked = await client.post(f"{path}/connect", json={}, headers=woman.headers)
        assert asked.status_code == 404
    own = await client.get(
        f"/api/mentors/{profiles['Private Mentor']['id']}", headers=private.headers
    )
    assert own.status_code == 200

    deleted = await client.delete(f"/api/users/{public.id}", headers=public.headers)
    assert deleted.status_code == 204
    assert (await client.get("/api/mentors")).json()["data"] == []
    gone = await client.get(
        f"/api/mentors/{profiles['Public Mentor']['id']}", headers=admin.headers
    )
    assert gone.status_code == 404


async def test_list_filters_and_search(
    client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> None:
    ada = await make_user("woman", name="Ada Lovelace")
    grace = await make_user("sponsor", name="Grace Hopper")
    hedy = await make_user("woman", name="Hedy Lamarr")
    await become_mentor(client, ada, skills=["mathematics", "Poetry"], bio="Analytical engines")
    await become_mentor(
        client, grace, skills=["compilers"], availability="busy", acceptsRemote=False
    )
    await become_mentor(client, hedy, skills=["radio", "film_making"], bio="100% inventor")

    async def names(**params: Any) -> list[str]:
        response = await client.get("/api/mentors", params=params)
        assert response.status_code == 200, response.text
        return [mentor["user"]["name"] for mentor in response.json()["data"]]

    assert await names() == ["Hedy Lamarr", "Grace Hopper", "Ada Lovelace"]  # newest first
    assert await names(skill="POETRY") == ["Ada Lovelace"]
    assert await names(availability="busy") == ["Grace Hopper"]
    assert await names(acceptsRemote="false") == ["Grace Hopper"]
    assert await names(acceptsRemote="true") == ["Hedy Lamarr", "Ada Lovelace"]
    assert await names(search="hopper") == ["Grace Hopper"]  # name
    assert await names(search="ENGINES") == ["Ada Lovelace"]  # bio
    assert await names(search="Compil") == ["Grace Hopper"]  # a skill
    assert await names(search="%") == ["Hedy Lamarr"]  # taken literally
    assert await names(search="m_k") == []
    assert await names(search="film_") == ["Hedy Lamarr"]
    assert await names(userId=str(grace.id)) == ["Grace Hopper"]
    page = (await client.get("/api/mentors", params={"limit": 2, "page": 2})).json()
    assert [m["user"]["name"] for m in page["data"]] == ["Ada Lovelace"]
    assert page["pagination"] == {
        "page": 2,
        "limit": 2,
        "total": 3,
        "totalPages": 2,
        "hasMore": False,
        "nextCursor": None,
    }
    for params in ({"limit": 101}, {"page": 0}, {"availability": "never"}, {"search": "x" * 101}):
        assert (await client.get("/api/mentors", params=params)).status_code == 422


async def test_unknown_and_malformed_ids(client: httpx.AsyncClient, woman: AuthedUser) -> None:
    missing = "00000000-0000-0000-0000-000000000009"
    assert (await client.get(f"/api/mentors/{missing}")).status_code == 404
    assert (await client.get("/api/mentors/not-a-uuid")).status_code == 422
    put = await client.put(f"/api/mentors/{missing}", json={}, headers=woman.headers)
    assert put.status_code == 404


async def test_the_mentor_page_loads_for_a_plain_woman(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    """The client's /mentor-match page loads both at once: neither may fail."""
    for turn in range(2):  # with no mentor at all, then with one
        if turn:
            await ok(client.post("/api/mentors", json={}, headers=sponsor.headers))
        listed = await client.get("/api/mentors", headers=woman.headers)
        matches = await client.get(
            f"/api/mentors/match/recommendations?userId={woman.id}", headers=woman.headers
        )
        assert listed.status_code == 200 and matches.status_code == 200, matches.text
    assert len(matches.json()["matches"]) == 1
    assert len(listed.json()["data"]) == 1


async def test_deleting_a_profile(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, admin: AuthedUser
) -> None:
    mentor = await become_mentor(client, sponsor)
    await request_mentoring(client, woman, mentor["id"])
    path = f"/api/mentors/{mentor['id']}"
    assert (await client.delete(path, headers=woman.headers)).status_code == 403
    assert (await client.delete(path, headers=sponsor.headers)).status_code == 204
    assert (await client.get(path)).status_code == 404
    mine = (await client.get("/api/mentors/connections", headers=woman.headers)).json()
    assert mine["connections"] == []
    again = await become_mentor(client, sponsor)
    assert (
        await client.delete(f"/api/mentors/{again['id']}", headers=admin.headers)
    ).status_code == 204


async def test_list_runs_a_fixed_number_of_queries(
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    woman: AuthedUser,
    count_queries: QueryCounter,
) -> None:
    async def statements() -> tuple[int, int]:
        count_queries.reset()
        response = await client.get("/api/mentors?limit=100", headers=woman.headers)
        assert response.status_code == 200
        return count_queries.count, len(response.json()["data"])

    first = await make_user("sponsor")
    await become_mentor(client, first, skills=["finance", "pitching"])
    one, listed = await statements()
    assert listed == 1
    for index in range(49):
        user = await make_user("woman" if index % 2 else "sponsor")
        await become_mentor(client, user, skills=[f"skill {index}", "finance"])
    many, listed = await statements()
    assert listed == 50
    assert one == many <= 4  # the caller, the count, the page with people, the skills

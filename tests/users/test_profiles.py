"""Profiles: who sees what, who may change what, and the validation of every field."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from peal.users.models import User
from tests.conftest import AuthedUser
from tests.helpers import assert_owner_only_through_one_statement, ok
from tests.users.conftest import Sql


async def test_owner_sees_email_others_do_not(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, admin: AuthedUser
) -> None:
    mine = await client.get(f"/api/users/{woman.id}", headers=woman.headers)
    assert mine.status_code == 200
    user = mine.json()["user"]
    assert user["id"] == str(woman.id)
    assert user["email"] == woman.email
    assert user["emailVerified"] is True
    assert user["createdAt"].endswith("Z")
    assert "passwordHash" not in user and "password_hash" not in user

    for headers in (sponsor.headers, {}):
        other = (await client.get(f"/api/users/{woman.id}", headers=headers)).json()["user"]
        assert other.get("email") is None
        assert other.get("emailVerified") is None
        assert other["name"] == "Amara Woman"

    as_admin = (await client.get(f"/api/users/{woman.id}", headers=admin.headers)).json()["user"]
    assert as_admin["email"] == woman.email


async def test_user_resource_has_every_api_field(
    client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    user = (await client.get(f"/api/users/{woman.id}", headers=woman.headers)).json()["user"]
    assert set(user) == {
        "id", "name", "email", "avatarUrl", "role", "bio", "location", "isPublic",
        "emailVerified", "pendingEmail", "skills", "interests", "followersCount",
        "followingCount", "isFollowing", "createdAt",
    }  # fmt: skip


@pytest.mark.parametrize("hidden", [{"is_public": False}, {"is_banned": True}])
async def test_private_or_banned_profile_is_404_except_to_owner_and_admin(
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    sponsor: AuthedUser,
    admin: AuthedUser,
    hidden: dict[str, bool],
) -> None:
    target: AuthedUser = await make_user("woman", **hidden)
    for headers in (sponsor.headers, {}):
        response = await client.get(f"/api/users/{target.id}", headers=headers)
        assert response.status_code == 404
        assert response.json()["code"] == "user_not_found"
        for sub in ("skills", "interests", "followers", "following"):
            assert (
                await client.get(f"/api/users/{target.id}/{sub}", headers=headers)
            ).status_code == 404
    assert (await client.get(f"/api/users/{target.id}", headers=admin.headers)).status_code == 200
    if not hidden.get("is_banned"):  # a banned user's token is refused altogether
        own = await client.get(f"/api/users/{target.id}", headers=target.headers)
        assert own.status_code == 200
        assert own.json()["user"]["isPublic"] is False


async def test_unknown_and_malformed_ids(client: httpx.AsyncClient, woman: AuthedUser) -> None:
    missing = await client.get(f"/api/users/{uuid.uuid4()}", headers=woman.headers)
    assert missing.status_code == 404
    assert missing.json()["code"] == "user_not_found"
    malformed = await client.get("/api/users/not-a-uuid", headers=woman.headers)
    assert malformed.status_code == 422
    assert malformed.json()["details"][0]["field"] == "userId"


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_owner_updates_profile_html_stripped(
    client: httpx.AsyncClient, woman: AuthedUser, method: str
) -> None:
    response = await client.request(
        method,
        f"/api/users/{woman.id}",
        headers=woman.headers,
        json={
            "name": "  <b>Amara</b> O. ",
            "bio": "I bake <script>alert(1)</script>bread",
            "location": "<i>Lagos</i>",
            "avatarUrl": "https://cdn.example.com/a.png",
            "isPublic": False,
        },
    )
    assert response.status_code == 200, response.text
    user = response.json()["user"]
    assert user["name"] == "Amara O."
    assert "<" not in user["bio"] and user["bio"].startswith("I bake")
    assert user["location"] == "Lagos"
    assert user["avatarUrl"] == "https://cdn.example.com/a.png"
    assert user["isPublic"] is False
    again = await client.get(f"/api/users/{woman.id}", headers=woman.headers)
    assert again.json()["user"]["name"] == "Amara O."


async def test_partial_update_changes_only_fields_sent(
    client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    await ok(
        client.put(
            f"/api/users/{woman.id}",
            headers=woman.headers,
            json={"bio": "Baker", "location": "Accra"},
        )
    )
    response = await client.patch(
        f"/api/users/{woman.id}", headers=woman.headers, json={"location": None}
    )
    user = response.json()["user"]
    assert user["bio"] == "Baker"
    assert user["location"] is None
    assert user["name"] == "Amara Woman"
    cleared = await client.patch(f"/api/users/{woman.id}", headers=woman.headers, json={"bio": ""})
    assert cleared.json()["user"]["bio"] is None


async def test_mass_assignment_is_ignored(
    client: httpx.AsyncClient, woman: AuthedUser, sql: Sql
) -> None:
    before = await sql.scalar(select(User.password_hash).where(User.id == woman.id))
    response = await client.put(
        f"/api/users/{woman.id}",
        headers=woman.headers,
        json={
            "name": "New Name",
            "role": "admin",
            "emailVerified": False,
            "email_verified": False,
            "followersCount": 1000,
            "followingCount": 1000,
            "isBanned": True,
            "is_banned": True,
            "passwordHash": "x",
            "password_hash": "x",
            "deletedAt": "2026-01-01T00:00:00Z",
            "id": str(uuid.uuid4()),
            "createdAt": "2000-01-01T00:00:00Z",
        },
    )
    assert response.status_code == 200
    user = response.json()["user"]
    assert user["id"] == str(woman.id)
    assert user["name"] == "New Name"
    assert user["role"] == "woman"
    assert user["email"] == woman.email
    assert user["emailVerified"] is True
    assert user["followersCount"] == 0
    assert user["followingCount"] == 0
    assert not user["createdAt"].startswith("2000")
    row = (await sql.scalars(select(User).where(User.id == woman.id)))[0]
    assert (row.role, row.email, row.is_banned, row.deleted_at) == (
        "woman",
        woman.email,
        False,
        None,
    )
    assert row.password_hash == before
    # The token still works: the account was neither banned nor deleted.
    assert (await client.get(f"/api/users/{woman.id}", headers=woman.headers)).status_code == 200


async def test_another_user_cannot_update_admin_can(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    admin: AuthedUser,
) -> None:
    url = f"/api/users/{woman.id}"
    forbidden = await client.put(url, headers=sponsor.headers, json={"name": "Hacked"})
    assert forbidden.status_code == 403
    assert forbidden.json()["code"] == "not_owner"
    assert (await client.patch(url, headers=sponsor.headers, json={"name": "X"})).status_code == 403
    assert (await client.put(url, json={"name": "Anon"})).status_code == 401
    by_admin = await client.put(url, headers=admin.headers, json={"bio": "Moderated"})
    assert by_admin.status_code == 200
    assert by_admin.json()["user"]["bio"] == "Moderated"
    assert (await client.get(url)).json()["user"]["name"] == "Amara Woman"


async def test_private_profile_update_by_other_is_404(
    client: httpx.AsyncClient, make_user: Callable[..., Any], sponsor: AuthedUser
) -> None:
    target: AuthedUser = await make_user("woman", is_public=False)
    response = await client.put(
        f"/api/users/{target.id}", headers=sponsor.headers, json={"name": "X"}
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "<b></b>"}, "name"),
        ({"name": None}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"bio": "x" * 2001}, "bio"),
        ({"location": "x" * 256}, "location"),
        ({"avatarUrl": "javascript:alert(1)"}, "avatarUrl"),
        ({"avatarUrl": "ftp://example.com/a.png"}, "avatarUrl"),
        ({"avatarUrl": "https://"}, "avatarUrl"),
        ({"avatarUrl": "https://example.com/" + "a" * 2048}, "avatarUrl"),
        ({"isPublic": None}, "isPublic"),
        ({"isPublic": "maybe"}, "isPublic"),
    ],
)
async def test_profile_validation(
    client: httpx.AsyncClient, woman: AuthedUser, body: dict[str, Any], field: str
) -> None:
    response = await client.put(f"/api/users/{woman.id}", headers=woman.headers, json=body)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["code"] == "validation_error"
    assert [detail["field"] for detail in error["details"]] == [field]


async def test_limits_are_inclusive(client: httpx.AsyncClient, woman: AuthedUser) -> None:
    response = await client.put(
        f"/api/users/{woman.id}",
        headers=woman.headers,
        json={"name": "n" * 100, "bio": "b" * 2000, "location": "l" * 255},
    )
    assert response.status_code == 200


# --- skills and interests ---------------------------------------------------------------------

LISTS = ["skills", "interests"]


@pytest.mark.parametrize("kind", LISTS)
async def test_replace_list_normalises_and_deduplicates(
    client: httpx.AsyncClient, woman: AuthedUser, kind: str
) -> None:
    url = f"/api/users/{woman.id}/{kind}"
    assert (await client.get(url)).json() == {kind: []}
    response = await client.put(
        url,
        headers=woman.headers,
        json={kind: ["  Web   Design ", "web design", "<b>Baking</b>", "WEB DESIGN", "baking"]},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {kind: ["baking", "web design"]}
    assert (await client.get(url)).json() == {kind: ["baking", "web design"]}
    profile = (await client.get(f"/api/users/{woman.id}")).json()["user"]
    assert profile[kind] == ["baking", "web design"]

    replaced = await client.put(url, headers=woman.headers, json={kind: ["Finance"]})
    assert replaced.json() == {kind: ["finance"]}
    emptied = await client.put(url, headers=woman.headers, json={kind: []})
    assert emptied.json() == {kind: []}
    assert (await client.get(url)).json() == {kind: []}


@pytest.mark.parametrize("kind", LISTS)
@pytest.mark.parametrize(
    "values",
    [
        [f"item {n}" for n in range(21)],
        ["x" * 51],
        ["ok", ""],
        ["ok", "<p> </p>"],
        "not a list",
        [42],
    ],
)
async def test_list_validation(
    client: httpx.AsyncClient, woman: AuthedUser, kind: str, values: Any
) -> None:
    url = f"/api/users/{woman.id}/{kind}"
    await ok(client.put(url, headers=woman.headers, json={kind: ["kept"]}))
    response = await client.put(url, headers=woman.headers, json={kind: values})
    assert response.status_code == 422, response.text
    assert response.json()["details"][0]["field"].startswith(kind)
    # Nothing was replaced.
    assert (await client.get(url)).json() == {kind: ["kept"]}


@pytest.mark.parametrize("kind", LISTS)
async def test_list_limits_are_inclusive(
    client: httpx.AsyncClient, woman: AuthedUser, kind: str
) -> None:
    values = [f"{n:02d}" + "x" * 48 for n in range(20)]
    response = await client.put(
        f"/api/users/{woman.id}/{kind}", headers=woman.headers, json={kind: values}
    )
    assert response.status_code == 200
    assert len(response.json()[kind]) == 20


@pytest.mark.parametrize("kind", LISTS)
async def test_list_of_another_user_is_403(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    admin: AuthedUser,
    kind: str,
) -> None:
    url = f"/api/users/{woman.id}/{kind}"
    response = await client.put(url, headers=sponsor.headers, json={kind: ["spam"]})
    assert response.status_code == 403
    assert (await client.put(url, json={kind: ["spam"]})).status_code == 401
    assert (await client.get(url)).json() == {kind: []}
    by_admin = await client.put(url, headers=admin.headers, json={kind: ["moderated"]})
    assert by_admin.status_code == 200


async def test_skills_and_interests_of_many_users_come_apart_in_order(
    client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> None:
    """One statement reads every listed user's skills and interests: each keeps her own, each
    kind its own, in order, even where the same word is a skill of one and an interest of
    another."""
    ada, bea = await make_user(name="Ada Skills"), await make_user(name="Bea Skills")
    for user, skills, interests in (
        (ada, ["welding", "baking"], ["zines", "baking"]),
        (bea, ["zines"], ["welding", "art"]),
    ):
        base = f"/api/users/{user.id}"
        await ok(client.put(f"{base}/skills", headers=user.headers, json={"skills": skills}))
        await ok(
            client.put(f"{base}/interests", headers=user.headers, json={"interests": interests})
        )
    listed = (await client.get("/api/users?search=Skills&limit=10")).json()["data"]
    shown = {item["id"]: (item["skills"], item["interests"]) for item in listed}
    assert shown == {
        str(ada.id): (["baking", "welding"], ["baking", "zines"]),
        str(bea.id): (["zines"], ["art", "welding"]),
    }


async def test_one_profile_statement_serves_every_viewer_with_her_own_values(
    client: httpx.AsyncClient, make_user: Callable[..., Any], admin: AuthedUser
) -> None:
    """The profile lookup is built once per viewer shape and bound per call: a private
    profile is 404 to another member and found by its owner, whoever asked first."""
    from peal.users import service

    ada = await make_user(is_public=False)
    bea = await make_user(is_public=False)
    urls = [(owner, other, f"/api/users/{owner.id}") for owner, other in ((ada, bea), (bea, ada))]
    await assert_owner_only_through_one_statement(client, service._visible_user, urls, admin)

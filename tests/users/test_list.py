"""GET /api/users: who is listed, the filters, the envelope, and a fixed number of queries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from peal.db import utcnow
from peal.users.models import UserInterest, UserSkill
from tests.conftest import AuthedUser, QueryCounter
from tests.helpers import ok
from tests.users.conftest import Sql


async def _names(client: httpx.AsyncClient, query: str = "", **kwargs: Any) -> list[str]:
    response = await client.get(f"/api/users?limit=100{query}", **kwargs)
    assert response.status_code == 200, response.text
    return [user["name"] for user in response.json()["data"]]


async def test_only_public_active_users_are_listed(
    client: httpx.AsyncClient, make_user: Callable[..., Any], admin: AuthedUser
) -> None:
    await make_user("woman", name="Public", is_public=True)
    private: AuthedUser = await make_user("woman", name="Private", is_public=False)
    await make_user("woman", name="Banned", is_banned=True)
    await make_user("woman", name="Gone", deleted_at=utcnow())

    # Admins are listed to admins only (issue 8, item 6).
    assert set(await _names(client)) == {"Public"}
    assert set(await _names(client, headers=private.headers)) == {"Public"}
    # `includePrivate` is for admins; others asking for it get the public list.
    assert "Private" not in await _names(client, "&includePrivate=true", headers=private.headers)
    with_private = await _names(client, "&includePrivate=true", headers=admin.headers)
    assert set(with_private) == {"Public", "Private", "Ada Admin"}


async def test_envelope_and_pagination(
    client: httpx.AsyncClient, insert_users: Callable[..., Any]
) -> None:
    await insert_users(5)
    first = await client.get("/api/users?limit=2")
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"data", "pagination"}
    assert [user["name"] for user in body["data"]] == ["Bulk 4", "Bulk 3"]
    assert body["pagination"] == {
        "page": 1,
        "limit": 2,
        "total": 5,
        "totalPages": 3,
        "hasMore": True,
        "nextCursor": None,
    }
    last = (await client.get("/api/users?limit=2&page=3")).json()
    assert [user["name"] for user in last["data"]] == ["Bulk 0"]
    assert last["pagination"]["hasMore"] is False
    beyond = (await client.get("/api/users?limit=2&page=9")).json()
    assert beyond["data"] == []
    assert beyond["pagination"]["total"] == 5
    assert beyond["pagination"]["hasMore"] is False
    default = (await client.get("/api/users")).json()["pagination"]
    assert (default["page"], default["limit"]) == (1, 20)


async def test_newest_first_with_a_stable_tie_break(
    client: httpx.AsyncClient, insert_users: Callable[..., Any]
) -> None:
    same_time = utcnow() - timedelta(hours=1)
    ids = await insert_users(4, start=same_time, created_at=same_time)
    expected = [str(user_id) for user_id in sorted(ids, reverse=True)]
    pages = []
    for page in (1, 2):
        response = await client.get(f"/api/users?limit=2&page={page}")
        pages += [user["id"] for user in response.json()["data"]]
    assert pages == expected


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=101", "page=0", "page=-1", "limit=abc", "role=superuser", "role=Admin"],
)
async def test_bad_query_parameters_are_422(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"/api/users?{query}")
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert response.json()["details"][0]["field"] == query.split("=")[0]


async def test_role_filter(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, admin: AuthedUser
) -> None:
    assert await _names(client, "&role=woman") == ["Amara Woman"]
    assert await _names(client, "&role=sponsor") == ["Sofia Sponsor"]
    assert await _names(client, "&role=admin") == []
    assert await _names(client, "&role=admin", headers=admin.headers) == ["Ada Admin"]


@pytest.mark.parametrize(("kind", "model"), [("skill", UserSkill), ("interest", UserInterest)])
async def test_skill_and_interest_filters_match_exactly_ignoring_case(
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    sql: Sql,
    kind: str,
    model: Any,
) -> None:
    baker: AuthedUser = await make_user("woman", name="Baker")
    coder: AuthedUser = await make_user("woman", name="Coder")
    await make_user("woman", name="Nothing")
    await sql.add(
        model(user_id=baker.id, **{kind: "baking"}),
        model(user_id=coder.id, **{kind: "web design"}),
        model(user_id=coder.id, **{kind: "baking bread"}),
    )
    assert await _names(client, f"&{kind}=Baking") == ["Baker"]
    assert await _names(client, f"&{kind}=%20WEB%20%20Design%20") == ["Coder"]
    assert await _names(client, f"&{kind}=web") == []
    assert await _names(client, f"&{kind}=bak%25") == []


async def test_filters_use_the_stored_form_written_through_the_api(
    client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    await ok(
        client.put(
            f"/api/users/{woman.id}/skills", headers=woman.headers, json={"skills": ["JavaScript"]}
        )
    )
    assert await _names(client, "&skill=javascript") == ["Amara Woman"]
    assert await _names(client, "&skill=JAVASCRIPT") == ["Amara Woman"]


async def test_location_filter_is_a_case_insensitive_substring(
    client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> None:
    await make_user("woman", name="Lagos", location="Lagos, Nigeria")
    await make_user("woman", name="Accra", location="Accra, Ghana")
    await make_user("woman", name="Nowhere")
    assert await _names(client, "&location=nigeria") == ["Lagos"]
    assert set(await _names(client, "&location=A")) == {"Lagos", "Accra"}
    assert await _names(client, "&location=%25") == []


async def test_search_covers_name_and_bio_and_escapes_wildcards(
    client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> None:
    await make_user("woman", name="Grace Hopper", bio="Writes compilers")
    await make_user("woman", name="Ada", bio="100% committed to BAKING")
    await make_user("woman", name="snake_case fan")
    assert await _names(client, "&search=grace") == ["Grace Hopper"]
    assert await _names(client, "&search=baking") == ["Ada"]
    assert await _names(client, "&search=COMPILER") == ["Grace Hopper"]
    assert await _names(client, "&search=%25") == ["Ada"]
    assert await _names(client, "&search=_") == ["snake_case fan"]
    assert await _names(client, "&search=e_c") == ["snake_case fan"]
    assert await _names(client, "&search=a%25b") == []
    assert await _names(client, "&search=%5C") == []


async def test_filters_combine(client: httpx.AsyncClient, make_user: Callable[..., Any]) -> None:
    await make_user("woman", name="Ann", location="Lagos")
    await make_user("sponsor", name="Ann Sponsor", location="Lagos")
    await make_user("woman", name="Ann Abroad", location="Paris")
    assert await _names(client, "&role=woman&location=lagos&search=ann") == ["Ann"]


@pytest.mark.parametrize("authed", [True, False])
async def test_list_runs_a_fixed_number_of_queries(
    client: httpx.AsyncClient,
    insert_users: Callable[..., Any],
    make_user: Callable[..., Any],
    sql: Sql,
    count_queries: QueryCounter,
    authed: bool,
) -> None:
    viewer: AuthedUser = await make_user("sponsor", is_public=False)
    headers = viewer.headers if authed else {}
    first = await insert_users(1)
    await sql.add(
        UserSkill(user_id=first[0], skill="a"), UserInterest(user_id=first[0], interest="b")
    )

    count_queries.reset()
    one = await client.get("/api/users?limit=100", headers=headers)
    assert len(one.json()["data"]) == 1
    queries_for_one = count_queries.count

    ids = await insert_users(99)
    await sql.add(
        *(UserSkill(user_id=user_id, skill="a") for user_id in ids),
        *(UserInterest(user_id=user_id, interest="b") for user_id in ids),
    )
    count_queries.reset()
    hundred = await client.get("/api/users?limit=100", headers=headers)
    assert len(hundred.json()["data"]) == 100
    assert count_queries.count == queries_for_one
    # count + page + skills + interests (+ isFollowing and the caller's row when signed in).
    assert queries_for_one <= (6 if authed else 4)


async def test_blank_filters_are_no_filters(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    everyone = set(await _names(client))
    assert everyone == {"Amara Woman", "Sofia Sponsor"}
    for name in ("skill", "interest", "location", "search"):
        assert set(await _names(client, f"&{name}=")) == everyone
        assert set(await _names(client, f"&{name}=%20%20")) == everyone
    assert await _names(client, "&search=%20amara%20") == ["Amara Woman"]

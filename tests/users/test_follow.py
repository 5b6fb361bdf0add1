"""Follows: idempotent, counted once, notified once, and listed newest first."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from peal.db import utcnow
from peal.notifications.models import Notification
from peal.users.models import UserFollow
from tests.conftest import AuthedUser, QueryCounter
from tests.helpers import ok
from tests.users.conftest import Sql


async def _counts(client: httpx.AsyncClient, user: AuthedUser) -> tuple[int, int]:
    body = (await client.get(f"/api/users/{user.id}", headers=user.headers)).json()["user"]
    return body["followersCount"], body["followingCount"]


async def test_follow_is_idempotent_counted_and_notified_once(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, sql: Sql
) -> None:
    url = f"/api/users/{woman.id}/follow"
    first = await client.post(url, headers=sponsor.headers)
    assert first.status_code == 200
    assert first.json() == {"following": True, "followersCount": 1}
    second = await client.post(url, headers=sponsor.headers)
    assert second.json() == {"following": True, "followersCount": 1}

    assert await _counts(client, woman) == (1, 0)
    assert await _counts(client, sponsor) == (0, 1)
    seen = (await client.get(f"/api/users/{woman.id}", headers=sponsor.headers)).json()["user"]
    assert seen["isFollowing"] is True
    anonymous = (await client.get(f"/api/users/{woman.id}")).json()["user"]
    assert anonymous["isFollowing"] is False

    notifications = await sql.scalars(select(Notification).where(Notification.user_id == woman.id))
    assert len(notifications) == 1
    assert notifications[0].type == "follow"
    assert notifications[0].data == {"followerId": str(sponsor.id), "followerName": "Sofia Sponsor"}
    assert await sql.scalar(select(func.count()).select_from(UserFollow)) == 1


async def test_unfollow_is_idempotent_and_fixes_counters(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, admin: AuthedUser
) -> None:
    url = f"/api/users/{woman.id}/follow"
    await ok(client.post(url, headers=sponsor.headers))
    await ok(client.post(url, headers=admin.headers))
    first = await client.delete(url, headers=sponsor.headers)
    assert first.status_code == 200
    assert first.json() == {"following": False, "followersCount": 1}
    second = await client.delete(url, headers=sponsor.headers)
    assert second.json() == {"following": False, "followersCount": 1}
    assert await _counts(client, woman) == (1, 0)
    assert await _counts(client, sponsor) == (0, 0)
    assert await _counts(client, admin) == (0, 1)
    # Following again notifies again: it is a new follow.
    again = await client.post(url, headers=sponsor.headers)
    assert again.json()["followersCount"] == 2


async def test_cannot_follow_yourself(client: httpx.AsyncClient, woman: AuthedUser) -> None:
    response = await client.post(f"/api/users/{woman.id}/follow", headers=woman.headers)
    assert response.status_code == 400
    assert response.json()["code"] == "cannot_follow_self"
    assert await _counts(client, woman) == (0, 0)


@pytest.mark.parametrize(
    "hidden", [{"is_public": False}, {"is_banned": True}, {"deleted_at": "now"}, None]
)
async def test_cannot_follow_who_you_cannot_see(
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    sponsor: AuthedUser,
    hidden: dict[str, Any] | None,
    sql: Sql,
) -> None:
    if hidden is None:
        target_id = uuid.uuid4()
    else:
        fields = {key: utcnow() if value == "now" else value for key, value in hidden.items()}
        target_id = (await make_user("woman", **fields)).id
    response = await client.post(f"/api/users/{target_id}/follow", headers=sponsor.headers)
    assert response.status_code == 404
    unfollow = await client.delete(f"/api/users/{target_id}/follow", headers=sponsor.headers)
    assert unfollow.status_code == 404
    assert await sql.scalar(select(func.count()).select_from(UserFollow)) == 0


async def test_follow_needs_authentication(client: httpx.AsyncClient, woman: AuthedUser) -> None:
    assert (await client.post(f"/api/users/{woman.id}/follow")).status_code == 401
    assert (await client.delete(f"/api/users/{woman.id}/follow")).status_code == 401
    bad = {"Authorization": "Bearer not-a-token"}
    assert (await client.post(f"/api/users/{woman.id}/follow", headers=bad)).status_code == 401


async def test_unfollow_still_works_after_profile_turns_private(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    await ok(client.post(f"/api/users/{woman.id}/follow", headers=sponsor.headers))
    await ok(
        client.patch(f"/api/users/{woman.id}", headers=woman.headers, json={"isPublic": False})
    )
    response = await client.delete(f"/api/users/{woman.id}/follow", headers=sponsor.headers)
    assert response.json() == {"following": False, "followersCount": 0}
    assert (
        await client.post(f"/api/users/{woman.id}/follow", headers=sponsor.headers)
    ).status_code == 404


async def _follow_at(sql: Sql, follower: uuid.UUID, followed: uuid.UUID, minutes_ago: int) -> None:
    await sql.add(
        UserFollow(
            follower_id=follower,
            following_id=followed,
            created_at=utcnow() - timedelta(minutes=minutes_ago),
        )
    )


async def test_followers_and_following_newest_follow_first(
    client: httpx.AsyncClient, make_user: Callable[..., Any], woman: AuthedUser, sql: Sql
) -> None:
    first: AuthedUser = await make_user("sponsor", name="First")
    second: AuthedUser = await make_user("sponsor", name="Second")
    await _follow_at(sql, first.id, woman.id, 10)
    await _follow_at(sql, second.id, woman.id, 5)
    await _follow_at(sql, woman.id, second.id, 7)
    await _follow_at(sql, woman.id, first.id, 3)

    followers = (await client.get(f"/api/users/{woman.id}/followers")).json()
    assert [user["name"] for user in followers["data"]] == ["Second", "First"]
    assert followers["pagination"]["total"] == 2
    following = (await client.get(f"/api/users/{woman.id}/following")).json()
    assert [user["name"] for user in following["data"]] == ["First", "Second"]
    page = (await client.get(f"/api/users/{woman.id}/followers?limit=1&page=2")).json()
    assert [user["name"] for user in page["data"]] == ["First"]
    assert page["pagination"] == {
        "page": 2, "limit": 1, "total": 2, "totalPages": 2, "hasMore": False, "nextCursor": None
    }  # fmt: skip
    mine = await client.get(f"/api/users/{woman.id}/followers", headers=first.headers)
    assert [user["isFollowing"] for user in mine.json()["data"]] == [False, False]
    assert (await client.get(f"/api/users/{woman.id}/followers?limit=0")).status_code == 422


async def test_private_and_banned_followers_are_hidden_from_others(
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    woman: AuthedUser,
    sponsor: AuthedUser,
    admin: AuthedUser,
    sql: Sql,
) -> None:
    shy: AuthedUser = await make_user("sponsor", name="Shy", is_public=False)
    banned: AuthedUser = await make_user("sponsor", name="Banned", is_banned=True)
    await make_user("sponsor", name="Open")
    for index, follower in enumerate((shy, banned)):
        await _follow_at(sql, follower.id, woman.id, index)
    await _follow_at(sql, woman.id, shy.id, 1)

    url = f"/api/users/{woman.id}"
    for headers in ({}, sponsor.headers):
        listed = (await client.get(f"{url}/followers", headers=headers)).json()
        assert listed["data"] == []
        assert listed["pagination"]["total"] == 0
        assert (await client.get(f"{url}/following", headers=headers)).json()["data"] == []
    for viewer in (woman, admin):
        names = (await client.get(f"{url}/followers", headers=viewer.headers)).json()["data"]
        assert [user["name"] for user in names] == ["Shy"]
    # The private follower sees themselves in the list.
    names = (await client.get(f"{url}/followers", headers=shy.headers)).json()["data"]
    assert [user["name"] for user in names] == ["Shy"]


async def test_follow_lists_run_a_fixed_number_of_queries(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    insert_users: Callable[..., Any],
    sql: Sql,
    count_queries: QueryCounter,
) -> None:
    first = await insert_users(1)
    await sql.add(UserFollow(follower_id=first[0], following_id=woman.id))
    count_queries.reset()
    one = await client.get(f"/api/users/{woman.id}/followers?limit=100", headers=sponsor.headers)
    assert len(one.json()["data"]) == 1
    queries_for_one = count_queries.count

    ids = await insert_users(99)
    await sql.add(*(UserFollow(follower_id=user_id, following_id=woman.id) for user_id in ids))
    count_queries.reset()
    hundred = await client.get(
        f"/api/users/{woman.id}/followers?limit=100", headers=sponsor.headers
    )
    assert len(hundred.json()["data"]) == 100
    assert count_queries.count == queries_for_one
    # caller + owner + count + page + skills + interests + isFollowing
    assert queries_for_one <= 7


@pytest.mark.committing  # its requests race each other
async def test_concurrent_follows_count_once(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, sql: Sql
) -> None:
    url = f"/api/users/{woman.id}/follow"
    responses = await asyncio.gather(*(client.post(url, headers=sponsor.headers) for _ in range(5)))
    assert {response.status_code for response in responses} == {200}
    assert {response.json()["followersCount"] for response in responses} == {1}
    assert await _counts(client, woman) == (1, 0)
    assert await _counts(client, sponsor) == (0, 1)
    assert await sql.scalar(select(func.count()).select_from(Notification)) == 1

"""Blocks and mutes over HTTP: a blocked person trying every way back in, both directions;
mutes hide one way (feeds, notifications); lists keep a fixed number of queries."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import AuthedUser, QueryCounter
from tests.events.test_events import create_event
from tests.funding.helpers import create_request, donate, notifications_of
from tests.stories.test_stories import create_story
from tests.uploads.helpers import insert_videos


async def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code < 300, response.text
    body: dict[str, Any] = response.json()
    return body


async def _block(client: httpx.AsyncClient, me: AuthedUser, other: AuthedUser) -> None:
    body = await _ok(await client.post(f"/api/users/{other.id}/block", headers=me.headers))
    assert body == {"blocked": True}


def _ids(items: list[dict[str, Any]], key: str = "id") -> set[str]:
    return {item[key] for item in items}


@pytest.fixture
async def pair(make_user: Callable[..., Any]) -> tuple[AuthedUser, AuthedUser]:
    amara: AuthedUser = await make_user("woman", name="Amara Blocker")
    stalker: AuthedUser = await make_user("woman", name="Stalker Blocked")
    return amara, stalker


@pytest.mark.parametrize("who_blocks", ["amara", "stalker"])
async def test_blocked_people_vanish_from_each_other_everywhere(
    client: httpx.AsyncClient,
    app: FastAPI,
    pair: tuple[AuthedUser, AuthedUser],
    sponsor: AuthedUser,
    who_blocks: str,
) -> None:
    amara, stalker = pair
    video = (await insert_videos(app, amara.id, 1, title="Amara's bakery pitch"))[0]
    their_video = (await insert_videos(app, stalker.id, 1, title="Stalker's bakery pitch"))[0]
    story = await create_story(client, amara, title="Amara's bakery story")
    request = await create_request(client, amara, title="Amara's bakery oven")
    event = await create_event(client, amara, title="Amara's bakery meetup")
    comment = await _ok(
        await client.post(
            f"/api/videos/{their_video}/comments", json={"content": "hi"}, headers=amara.headers
        )
    )
    await _ok(await client.post(f"/api/users/{amara.id}/follow", headers=stalker.headers))
    await _ok(await client.post(f"/api/users/{stalker.id}/follow", headers=amara.headers))
    await _ok(await client.post(f"/api/users/{amara.id}/follow", headers=sponsor.headers))

    if who_blocks == "amara":
        await _block(client, amara, stalker)
    else:
        await _block(client, stalker, amara)

    for me, other, other_video in ((stalker, amara, video), (amara, stalker, their_video)):
        h = me.headers
        # Profile and its sub-resources: 404.
        for path in ("", "/skills", "/interests", "/followers", "/following", "/videos"):
            response = await client.get(f"/api/users/{other.id}{path}", headers=h)
            assert response.status_code == 404, (path, response.text)
        # Following back in: 404; nothing left of the old follows.
        assert (await client.post(f"/api/users/{other.id}/follow", headers=h)).status_code == 404
        # Lists of people.
        listed = (await _ok(await client.get("/api/users?limit=100", headers=h)))["data"]
        assert str(other.id) not in _ids(listed)
        followers = await _ok(await client.get(f"/api/users/{sponsor.id}/following", headers=h))
        assert str(other.id) not in _ids(followers["data"])
        # Search.
        found = await _ok(await client.get("/api/search?q=bakery", headers=h))
        for kind in ("users", "videos", "requests", "stories"):
            authors = {item.get("author", item).get("id") for item in found[kind]}
            assert str(other.id) not in authors, kind
        # Videos: the video, its comments, lists and feeds.
        assert (await client.get(f"/api/videos/{other_video}", headers=h)).status_code == 404
        comment_try = await client.post(
            f"/api/videos/{other_video}/comments", json={"content": "back"}, headers=h
        )
        assert comment_try.status_code == 404
        for path in ("/api/videos?limit=100", "/api/videos/trending", "/api/videos/feed"):
            page = await _ok(await client.get(path, headers=h))
            items = page.get("data", page.get("videos", []))
            assert str(other.id) not in {v["author"]["id"] for v in items}, path
        # Stories, funding requests, events she hosts.
        stories = (await _ok(await client.get("/api/stories", headers=h)))["data"]
        requests = (await _ok(await client.get("/api/requests", headers=h)))["data"]
        events = (await _ok(await client.get("/api/events", headers=h)))["events"]
        assert str(other.id) not in {s["author"]["id"] for s in stories}
        assert str(other.id) not in {r["author"]["id"] for r in requests}
        assert str(other.id) not in {e["hostId"] for e in events}

    # Her comment on his video is gone from his view, and his single lookups 404.
    listed = await _ok(
        await client.get(f"/api/videos/{their_video}/comments", headers=stalker.headers)
    )
    assert comment["comment"]["id"] not in _ids(listed["data"])
    for path in (f"/api/stories/{story['id']}", f"/api/requests/{request['id']}"):
        assert (await client.get(path, headers=stalker.headers)).status_code == 404, path
    assert (
        await client.get(f"/api/events/{event['id']}", headers=stalker.headers)
    ).status_code == 404
    # Everyone else still sees both.
    assert (await client.get(f"/api/users/{amara.id}", headers=sponsor.headers)).status_code == 200
    amara_row = await _ok(await client.get(f"/api/users/{amara.id}", headers=amara.headers))
    assert amara_row["user"]["followersCount"] == 1  # only the sponsor still follows her


async def test_no_reply_to_a_blocked_persons_comment_and_no_notification(
    client: httpx.AsyncClient,
    app: FastAPI,
    pair: tuple[AuthedUser, AuthedUser],
    sponsor: AuthedUser,
) -> None:
    amara, stalker = pair
    video = (await insert_videos(app, sponsor.id, 1))[0]
    mine = await _ok(
        await client.post(
            f"/api/videos/{video}/comments", json={"content": "mine"}, headers=amara.headers
        )
    )
    await _block(client, amara, stalker)
    reply = await client.post(
        f"/api/videos/{video}/comments",
        json={"content": "reply", "parentId": mine["comment"]["id"]},
        headers=stalker.headers,
    )
    assert reply.status_code == 422
    assert await notifications_of(app, amara.id, "reply") == []


async def test_block_is_silent_idempotent_and_listed(
    client: httpx.AsyncClient, app: FastAPI, pair: tuple[AuthedUser, AuthedUser]
) -> None:
    amara, stalker = pair
    await _block(client, amara, stalker)
    await _block(client, amara, stalker)
    page = await _ok(await client.get("/api/users/me/blocks", headers=amara.headers))
    assert [p["id"] for p in page["data"]] == [str(stalker.id)]
    assert page["pagination"]["total"] == 1
    assert set(page["data"][0]) == {"id", "name", "avatarUrl", "createdAt"}
    # The blocked person is not told, and sees no list of who blocked her.
    assert await notifications_of(app, stalker.id) == []
    theirs = await _ok(await client.get("/api/users/me/blocks", headers=stalker.headers))
    assert theirs["data"] == []
    # Refusals.
    self_block = await client.post(f"/api/users/{amara.id}/block", headers=amara.headers)
    assert self_block.status_code == 400
    unknown = await client.post(f"/api/users/{uuid.uuid4()}/block", headers=amara.headers)
    assert unknown.status_code == 404
    assert (await client.post(f"/api/users/{stalker.id}/block")).status_code == 401
    # Unblocking restores visibility (not the follows).
    unblocked = await client.delete(f"/api/users/{stalker.id}/block", headers=amara.headers)
    assert (await _ok(unblocked)) == {"blocked": False}
    assert (await client.get(f"/api/users/{amara.id}", headers=stalker.headers)).status_code == 200


async def test_notifications_from_blocked_or_muted_people_are_not_created(
    client: httpx.AsyncClient,
    app: FastAPI,
    pair: tuple[AuthedUser, AuthedUser],
    make_user: Callable[..., Any],
) -> None:
    amara, _stalker = pair
    noisy: AuthedUser = await make_user("sponsor")
    story = await create_story(client, amara)
    request = await create_request(client, amara)
    await _ok(await client.post(f"/api/users/{noisy.id}/mute", headers=amara.headers))
    await _ok(await client.post(f"/api/stories/{story['id']}/celebrate", headers=noisy.headers))
    await _ok(await client.post(f"/api/users/{amara.id}/follow", headers=noisy.headers))
    await donate(client, noisy, request["id"], 10)
    assert await notifications_of(app, amara.id) == []
    # A mute is one way: the muted person still sees her.
    assert (await client.get(f"/api/users/{amara.id}", headers=noisy.headers)).status_code == 200
    mutes = await _ok(await client.get("/api/users/me/mutes", headers=amara.headers))
    assert [p["id"] for p in mutes["data"]] == [str(noisy.id)]


async def test_a_mute_hides_the_person_from_my_feeds_only(
    client: httpx.AsyncClient, app: FastAPI, woman: AuthedUser, make_user: Callable[..., Any]
) -> None:
    noisy: AuthedUser = await make_user("woman")
    await insert_videos(app, noisy.id, 2)
    await _ok(await client.post(f"/api/users/{noisy.id}/mute", headers=woman.headers))
    for path in ("/api/videos", "/api/videos/trending", "/api/videos/feed"):
        page = await _ok(await client.get(path, headers=woman.headers))
        items = page.get("data", page.get("videos", []))
        assert str(noisy.id) not in {v["author"]["id"] for v in items}, path
    # Her own page is not a feed: still there.
    own = await _ok(await client.get(f"/api/users/{noisy.id}/videos", headers=woman.headers))
    assert len(own["data"]) == 2
    await _ok(await client.delete(f"/api/users/{noisy.id}/mute", headers=woman.headers))
    page = await _ok(await client.get("/api/videos", headers=woman.headers))
    assert len(page["data"]) == 2


async def test_block_lists_run_a_fixed_number_of_queries(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    make_user: Callable[..., Any],
    count_queries: QueryCounter,
) -> None:
    counts = []
    for size in (1, 6):
        while (
            len(
                (
                    await _ok(
                        await client.get("/api/users/me/blocks?limit=100", headers=woman.headers)
                    )
                )["data"]
            )
            < size
        ):
            other: AuthedUser = await make_user("woman")
            await _block(client, woman, other)
        count_queries.reset()
        await _ok(await client.get("/api/users/me/blocks?limit=100", headers=woman.headers))
        counts.append(count_queries.count)
    assert counts[0] == counts[1]


async def test_lists_that_filter_blocks_keep_their_query_counts(
    client: httpx.AsyncClient,
    app: FastAPI,
    woman: AuthedUser,
    make_user: Callable[..., Any],
    count_queries: QueryCounter,
) -> None:
    """Blocks are part of each list's SQL: as many queries for 1 row as for 8, with blocks."""
    blocked: AuthedUser = await make_user("woman")
    await insert_videos(app, blocked.id, 3)
    await _block(client, woman, blocked)
    paths = ("/api/users?limit=50", "/api/videos?limit=50", "/api/stories?limit=50")
    counts: dict[str, list[int]] = {path: [] for path in paths}
    for size in (1, 8):
        people = [await make_user("woman") for _ in range(size if size == 1 else 7)]
        for person in people:
            await insert_videos(app, person.id, 1)
            await create_story(client, person)
        for path in paths:
            count_queries.reset()
            await _ok(await client.get(path, headers=woman.headers))
            counts[path].append(count_queries.count)
    for path, (small, large) in counts.items():
        assert small == large, path


async def test_more_lists_that_filter_blocks_keep_their_query_counts(
    client: httpx.AsyncClient,
    app: FastAPI,
    woman: AuthedUser,
    make_user: Callable[..., Any],
    count_queries: QueryCounter,
) -> None:
    """Followers, comments, donations, requests, events and search: same count for 1 and 6."""
    hub: AuthedUser = await make_user("woman", name="Hub Helen")
    video = (await insert_videos(app, hub.id, 1))[0]
    request = await create_request(client, hub, title="Hub oven")
    blocked: AuthedUser = await make_user("woman", name="Zed Blocked")
    await _block(client, woman, blocked)
    paths = (
        f"/api/users/{hub.id}/followers?limit=50",
        f"/api/videos/{video}/comments?limit=50",
        f"/api/requests/{request['id']}/donations?limit=50",
        "/api/requests?limit=50",
        "/api/events?limit=50",
        "/api/search?q=zed&limit=20",
    )
    counts: dict[str, list[int]] = {path: [] for path in paths}
    for batch in (1, 5):
        for _ in range(batch):
            person: AuthedUser = await make_user("woman", name="Zed Person")
            await _ok(await client.post(f"/api/users/{hub.id}/follow", headers=person.headers))
            await _ok(
                await client.post(
                    f"/api/videos/{video}/comments", json={"content": "hi"}, headers=person.headers
                )
            )
            await donate(client, person, request["id"], 5)
            await create_request(client, person, title="Zed oven")
            await create_event(client, person)
        for path in paths:
            count_queries.reset()
            await _ok(await client.get(path, headers=woman.headers))
            counts[path].append(count_queries.count)
    for path, (small, large) in counts.items():
        assert small == large, (path, small, large)

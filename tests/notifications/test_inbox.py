"""The notifications API: the caller's inbox, its pages and unread count, read marks, deletes."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from peal.auth.dependencies import ACCESS_COOKIE
from peal.core.schemas import encode_cursor
from peal.db import utcnow
from tests.conftest import AuthedUser, QueryCounter
from tests.notifications.conftest import AddNotifications

URL = "/api/notifications"


async def test_list_is_newest_first_with_the_unread_count(
    client: httpx.AsyncClient, woman: AuthedUser, add_notifications: AddNotifications
) -> None:
    read = await add_notifications(woman.id, 2, read=True, start=utcnow() - timedelta(hours=1))
    unread = await add_notifications(woman.id, 3)

    response = await client.get(URL, headers=woman.headers)

    assert response.status_code == 200
    body = response.json()
    assert [item["id"] for item in body["data"]] == [str(i) for i in [*read, *unread][::-1]]
    assert body["unreadCount"] == 3
    assert body["pagination"] == {
        "page": 1,
        "limit": 20,
        "total": 5,
        "totalPages": 1,
        "hasMore": False,
        "nextCursor": None,
    }
    first = body["data"][0]
    assert set(first) == {"id", "type", "title", "message", "data", "isRead", "createdAt"}
    assert first["isRead"] is False
    assert first["data"] == {"n": 2}
    assert first["createdAt"].endswith("Z")


async def test_unread_only_lists_the_unread_ones(
    client: httpx.AsyncClient, woman: AuthedUser, add_notifications: AddNotifications
) -> None:
    await add_notifications(woman.id, 2, read=True)
    unread = await add_notifications(woman.id, 3, start=utcnow())

    response = await client.get(URL, params={"unreadOnly": "true"}, headers=woman.headers)

    body = response.json()
    assert {item["id"] for item in body["data"]} == {str(i) for i in unread}
    assert body["pagination"]["total"] == 3
    assert body["unreadCount"] == 3


async def test_only_my_own_notifications_are_listed(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    add_notifications: AddNotifications,
) -> None:
    await add_notifications(sponsor.id, 4)
    mine = await add_notifications(woman.id, 1)

    body = (await client.get(URL, headers=woman.headers)).json()

    assert [item["id"] for item in body["data"]] == [str(mine[0])]
    assert body["unreadCount"] == 1


async def test_cursor_pages_have_no_duplicates_or_gaps(
    client: httpx.AsyncClient, woman: AuthedUser, add_notifications: AddNotifications
) -> None:
    start = utcnow() - timedelta(hours=1)
    # Ties on created_at (a fan-out stores a batch at one instant) are ordered by id.
    ids = await add_notifications(woman.id, 9, start=start, step=timedelta(seconds=10))
    ids += await add_notifications(
        woman.id, 8, start=start + timedelta(seconds=45), step=timedelta(0)
    )
    expected = await _ids_in_api_order(client, woman)
    assert sorted(expected) == sorted(str(i) for i in ids)

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        body = (await client.get(URL, params=params, headers=woman.headers)).json()
        seen += [item["id"] for item in body["data"]]
        pages += 1
        if pages == 2:  # a new notification arriving mid-walk does not shift the pages
            await add_notifications(woman.id, 1, start=utcnow())
        cursor = body["pagination"]["nextCursor"]
        assert body["pagination"]["hasMore"] is (cursor is not None)
        if cursor is None:
            break

    assert seen == expected
    assert pages == 5


async def _ids_in_api_order(client: httpx.AsyncClient, user: AuthedUser) -> list[str]:
    body = (await client.get(URL, params={"limit": 100}, headers=user.headers)).json()
    return [item["id"] for item in body["data"]]


async def test_page_numbers_work_and_offer_a_cursor(
    client: httpx.AsyncClient, woman: AuthedUser, add_notifications: AddNotifications
) -> None:
    ids = [str(i) for i in reversed(await add_notifications(woman.id, 5))]

    body = (await client.get(URL, params={"page": 2, "limit": 2}, headers=woman.headers)).json()

    assert [item["id"] for item in body["data"]] == ids[2:4]
    assert body["pagination"]["totalPages"] == 3
    assert body["pagination"]["hasMore"] is True
    after = await client.get(
        URL, params={"cursor": body["pagination"]["nextCursor"]}, headers=woman.headers
    )
    assert [item["id"] for item in after.json()["data"]] == ids[4:]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"page": 0},
        {"cursor": "not-a-cursor"},
        {"cursor": "eyJjIjoxfQ"},  # valid base64 JSON, wrong content
        {"unreadOnly": "perhaps"},
    ],
)
async def test_bad_list_parameters_are_422(
    client: httpx.AsyncClient, woman: AuthedUser, params: dict[str, Any]
) -> None:
    response = await client.get(URL, params=params, headers=woman.headers)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_a_cursor_without_a_time_zone_is_read_as_utc(
    client: httpx.AsyncClient, woman: AuthedUser, add_notifications: AddNotifications
) -> None:
    await add_notifications(woman.id, 2, start=utcnow() - timedelta(days=2))
    raw = json.dumps({"c": "2999-01-01T00:00:00", "i": str(uuid.uuid4())}).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")

    response = await client.get(URL, params={"cursor": cursor}, headers=woman.headers)

    assert response.status_code == 200
    assert len(response.json()["data"]) == 2


@pytest.mark.parametrize(
    "position",
    [
        {"c": "0001-01-01T00:00:00+23:59", "i": "00000000-0000-0000-0000-000000000000"},
        {"c": "9999-12-31T23:59:59-23:59", "i": "00000000-0000-0000-0000-000000000000"},
        {"c": "2026-01-01T00:00:00Z", "i": 1},
        {"c": "2026-01-01T00:00:00Z", "i": None},
        {"c": 20260101, "i": "00000000-0000-0000-0000-000000000000"},
    ],
)
async def test_a_hand_made_cursor_out_of_range_or_mistyped_is_a_validation_error(
    client: httpx.AsyncClient, woman: AuthedUser, position: dict[str, Any]
) -> None:
    # The shared keyset cursor (notifications, comments, donations, videos, stories): a time
    # that is not representable in UTC, or an id that is not a string, is a 422, never a 500.
    raw = json.dumps(position).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")

    response = await client.get(URL, params={"cursor": cursor}, headers=woman.headers)

    assert response.status_code == 422, response.text
    assert response.json()["details"] == [{"field": "cursor", "message": "Invalid cursor"}]


async def test_listing_runs_the_same_number_of_queries_for_1_or_100_rows(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    add_notifications: AddNotifications,
    count_queries: QueryCounter,
) -> None:
    await add_notifications(woman.id, 1)
    await add_notifications(sponsor.id, 100)

    count_queries.reset()
    one = await client.get(URL, params={"limit": 100}, headers=woman.headers)
    queries_for_one = count_queries.count
    count_queries.reset()
    hundred = await client.get(URL, params={"limit": 100}, headers=sponsor.headers)
    queries_for_hundred = count_queries.count

    assert len(one.json()["data"]) == 1
    assert len(hundred.json()["data"]) == 100
    assert queries_for_one == queries_for_hundred <= 3

    last = hundred.json()["data"][50]
    count_queries.reset()
    cursor = encode_cursor(_parse(last["createdAt"]), uuid.UUID(last["id"]))
    await client.get(URL, params={"limit": 100, "cursor": cursor}, headers=sponsor.headers)
    assert count_queries.count == queries_for_one


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_mark_one_read(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    add_notifications: AddNotifications,
    method: str,
) -> None:
    target, other = await add_notifications(woman.id, 2)

    response = await client.request(method, f"{URL}/{target}/read", headers=woman.headers)

    assert response.status_code == 200
    notification = response.json()["notification"]
    assert notification["id"] == str(target)
    assert notification["isRead"] is True
    again = await client.request(method, f"{URL}/{target}/read", headers=woman.headers)
    assert again.status_code == 200  # idempotent
    body = (await client.get(URL, headers=woman.headers)).json()
    assert body["unreadCount"] == 1
    assert {i["id"]: i["isRead"] for i in body["data"]} == {str(target): True, str(other): False}


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_mark_all_read(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    add_notifications: AddNotifications,
    method: str,
) -> None:
    await add_notifications(woman.id, 3)
    await add_notifications(woman.id, 1, read=True)
    await add_notifications(sponsor.id, 2)

    response = await client.request(method, f"{URL}/read-all", headers=woman.headers)

    assert response.status_code == 200
    assert response.json() == {"updated": 3, "unreadCount": 0}
    assert (await client.get(URL, headers=woman.headers)).json()["unreadCount"] == 0
    # Someone else's inbox is untouched.
    assert (await client.get(URL, headers=sponsor.headers)).json()["unreadCount"] == 2
    again = await client.request(method, f"{URL}/read-all", headers=woman.headers)
    assert again.json() == {"updated": 0, "unreadCount": 0}


async def test_delete_my_notification(
    client: httpx.AsyncClient, woman: AuthedUser, add_notifications: AddNotifications
) -> None:
    target, kept = await add_notifications(woman.id, 2)

    response = await client.delete(f"{URL}/{target}", headers=woman.headers)

    assert response.status_code == 204
    assert response.content == b""
    ids = [item["id"] for item in (await client.get(URL, headers=woman.headers)).json()["data"]]
    assert ids == [str(kept)]
    gone = await client.delete(f"{URL}/{target}", headers=woman.headers)
    assert gone.status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/{id}/read"), ("PATCH", "/{id}/read"), ("DELETE", "/{id}")],
)
async def test_another_users_notification_is_404_and_unchanged(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    add_notifications: AddNotifications,
    method: str,
    path: str,
) -> None:
    (theirs,) = await add_notifications(sponsor.id, 1)

    response = await client.request(method, URL + path.format(id=theirs), headers=woman.headers)

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    body = (await client.get(URL, headers=sponsor.headers)).json()
    assert [(i["id"], i["isRead"]) for i in body["data"]] == [(str(theirs), False)]


async def test_unknown_notification_is_404(client: httpx.AsyncClient, woman: AuthedUser) -> None:
    response = await client.put(f"{URL}/{uuid.uuid4()}/read", headers=woman.headers)
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", ""),
        ("PUT", "/read-all"),
        ("PATCH", "/read-all"),
        ("PUT", f"/{uuid.UUID(int=1)}/read"),
        ("DELETE", f"/{uuid.UUID(int=1)}"),
    ],
)
async def test_every_route_needs_a_signed_in_user(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, URL + path)
    assert response.status_code == 401
    bad = await client.request(method, URL + path, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


async def test_a_cookie_session_needs_the_csrf_token_to_change_anything(
    client: httpx.AsyncClient, woman: AuthedUser, add_notifications: AddNotifications
) -> None:
    await add_notifications(woman.id, 1)
    client.cookies.set(ACCESS_COOKIE, woman.token)

    response = await client.put(f"{URL}/read-all")

    assert response.status_code == 403
    assert (await client.get(URL)).json()["unreadCount"] == 1

"""The messaging API: one conversation per pair, participants only, exact unread counts,
keyset pages, plain-text content, the `/api/messages` aliases and message notifications."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from peal.core.schemas import encode_cursor
from peal.db import utcnow
from peal.settings.models import UserSettings
from peal.users.models import User
from tests.conftest import AuthedUser, QueryCounter
from tests.helpers import ok
from tests.messaging.conftest import Send, Start

URL = "/api/conversations"


async def _set_user(app: FastAPI, user_id: uuid.UUID, **values: Any) -> None:
    async with app.state.db.sessionmaker() as session:
        await session.execute(update(User).where(User.id == user_id).values(**values))
        await session.commit()


async def _notifications(client: httpx.AsyncClient, user: AuthedUser) -> list[dict[str, Any]]:
    response = await client.get("/api/notifications", headers=user.headers)
    assert response.status_code == 200
    data: list[dict[str, Any]] = response.json()["data"]
    return data


# --- starting a conversation ----------------------------------------------------------------


async def test_start_returns_the_same_conversation_for_the_pair(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    first = await client.post(URL, json={"participantId": str(sponsor.id)}, headers=woman.headers)
    again = await client.post(URL, json={"participantId": str(sponsor.id)}, headers=woman.headers)
    other_side = await client.post(
        URL, json={"participantId": str(woman.id)}, headers=sponsor.headers
    )

    assert first.status_code == 201
    assert again.status_code == 200
    assert other_side.status_code == 200
    conversation = first.json()["conversation"]
    assert again.json()["conversation"]["id"] == conversation["id"]
    assert other_side.json()["conversation"]["id"] == conversation["id"]
    assert set(conversation) == {
        "id",
        "participants",
        "lastMessage",
        "lastMessageAt",
        "unreadCount",
        "isRequest",
        "createdAt",
    }
    assert {p["id"] for p in conversation["participants"]} == {str(woman.id), str(sponsor.id)}
    assert set(conversation["participants"][0]) == {"id", "name", "avatarUrl"}
    assert conversation["lastMessage"] is None
    assert conversation["unreadCount"] == 0


async def test_start_with_content_sends_it(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    response = await client.post(
        URL, json={"participantId": str(sponsor.id), "content": "Hello"}, headers=woman.headers
    )

    assert response.status_code == 201
    conversation = response.json()["conversation"]
    assert conversation["lastMessage"]["content"] == "Hello"
    assert conversation["lastMessageAt"] == conversation["lastMessage"]["createdAt"]


async def test_you_cannot_message_yourself(client: httpx.AsyncClient, woman: AuthedUser) -> None:
    started = await client.post(URL, json={"participantId": str(woman.id)}, headers=woman.headers)
    direct = await client.post(
        "/api/messages", json={"recipientId": str(woman.id), "content": "me"}, headers=woman.headers
    )

    assert started.status_code == 400
    assert started.json()["code"] == "cannot_message_self"
    assert direct.status_code == 400


@pytest.mark.parametrize(
    "state",
    [
        {"is_banned": True},
        {"deleted_at": utcnow()},
        {"is_public": False},
    ],
    ids=["banned", "deleted", "private"],
)
async def test_you_cannot_start_with_banned_deleted_or_hidden_people(
    app: FastAPI,
    client: httpx.AsyncClient,
    woman: AuthedUser,
    make_user: Callable[..., Any],
    state: dict[str, Any],
) -> None:
    other: AuthedUser = await make_user("sponsor")
    await _set_user(app, other.id, **state)

    response = await client.post(URL, json={"participantId": str(other.id)}, headers=woman.headers)

    assert response.status_code == 404
    assert response.json()["code"] == "user_not_found"


async def test_an_unknown_person_is_404(client: httpx.AsyncClient, woman: AuthedUser) -> None:
    response = await client.post(
        URL, json={"participantId": str(uuid.uuid4())}, headers=woman.headers
    )
    assert response.status_code == 404


async def test_a_banned_participant_can_no_longer_be_written_to(
    app: FastAPI, client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, start: Start
) -> None:
    conversation = await start(woman, sponsor)
    await _set_user(app, sponsor.id, is_banned=True)

    response = await client.post(
        f"{URL}/{conversation['id']}/messages", json={"content": "hi"}, headers=woman.headers
    )

    assert response.status_code == 404


async def test_messaging_needs_a_token(client: httpx.AsyncClient) -> None:
    assert (await client.get(URL)).status_code == 401
    assert (await client.get("/api/messages")).status_code == 401
    assert (await client.post(URL, json={"participantId": str(uuid.uuid4())})).status_code == 401


# --- participants only ----------------------------------------------------------------------


async def test_a_stranger_can_neither_read_nor_write(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    make_user: Callable[..., Any],
    start: Start,
    send: Send,
) -> None:
    conversation = await start(woman, sponsor)
    await send(woman, conversation["id"], "private words")
    stranger: AuthedUser = await make_user("woman")
    cid = conversation["id"]

    for prefix in (URL, "/api/messages"):
        assert (await client.get(f"{prefix}/{cid}", headers=stranger.headers)).status_code == 404
        assert (
            await client.get(f"{prefix}/{cid}/messages", headers=stranger.headers)
        ).status_code == 404
        posted = await client.post(
            f"{prefix}/{cid}/messages", json={"content": "intrusion"}, headers=stranger.headers
        )
        assert posted.status_code == 404
        assert posted.json()["code"] == "conversation_not_found"
        assert (
            await client.put(f"{prefix}/{cid}/read", headers=stranger.headers)
        ).status_code == 404
    listed = await client.get(URL, headers=stranger.headers)
    assert listed.json()["data"] == []
    # Nothing the stranger tried reached the conversation.
    page = await client.get(f"{URL}/{cid}/messages", headers=woman.headers)
    assert [m["content"] for m in page.json()["data"]] == ["private words"]


async def test_an_unknown_conversation_is_404(client: httpx.AsyncClient, woman: AuthedUser) -> None:
    response = await client.get(f"{URL}/{uuid.uuid4()}", headers=woman.headers)
    assert response.status_code == 404
    assert (await client.get(f"{URL}/not-a-uuid", headers=woman.headers)).status_code == 422


# --- content --------------------------------------------------------------------------------


async def test_a_message_is_plain_text_stored_stripped(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, start: Start
) -> None:
    conversation = await start(woman, sponsor)

    response = await client.post(
        f"{URL}/{conversation['id']}/messages",
        json={"content": "  <b>Hi</b> <script>alert(1)</script>there &amp; 2 < 3  "},
        headers=woman.headers,
    )

    assert response.status_code == 201
    message = response.json()["message"]
    assert message["content"] == "Hi there & 2 < 3"
    assert set(message) == {
        "id",
        "conversationId",
        "senderId",
        "sender",
        "content",
        "isRead",
        "createdAt",
    }
    assert message["senderId"] == str(woman.id)
    assert message["sender"] == {"id": str(woman.id), "name": woman.name, "avatarUrl": None}
    assert message["isRead"] is False
    assert message["createdAt"].endswith("Z")


@pytest.mark.parametrize(
    "content",
    ["", "   ", "<p></p>", "x" * 5001, "<b></b>" * 4000],
    ids=["empty", "blank", "only-markup", "too-long", "huge-raw"],
)
async def test_bad_content_is_422(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, start: Start, content: str
) -> None:
    conversation = await start(woman, sponsor)

    response = await client.post(
        f"{URL}/{conversation['id']}/messages", json={"content": content}, headers=woman.headers
    )

    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "content"


async def test_five_thousand_characters_are_accepted(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, start: Start
) -> None:
    conversation = await start(woman, sponsor)
    response = await client.post(
        f"{URL}/{conversation['id']}/messages", json={"content": "y" * 5000}, headers=woman.headers
    )
    assert response.status_code == 201


# --- unread counts, reading, ordering -------------------------------------------------------


async def test_unread_counts_and_reading(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, start: Start, send: Send
) -> None:
    conversation = await start(woman, sponsor)
    for n in range(3):
        await send(sponsor, conversation["id"], f"m{n}")

    mine = (await client.get(URL, headers=woman.headers)).json()["data"][0]
    theirs = (await client.get(URL, headers=sponsor.headers)).json()["data"][0]
    assert mine["unreadCount"] == 3
    assert theirs["unreadCount"] == 0
    assert mine["lastMessage"]["content"] == "m2"

    read = await client.put(f"{URL}/{conversation['id']}/read", headers=woman.headers)

    assert read.status_code == 200
    assert read.json() == {"conversationId": conversation["id"], "unreadCount": 0, "updated": 3}
    mine = (await client.get(URL, headers=woman.headers)).json()["data"][0]
    assert mine["unreadCount"] == 0
    page = (await client.get(f"{URL}/{conversation['id']}/messages", headers=woman.headers)).json()
    assert all(m["isRead"] for m in page["data"])
    again = await client.put(f"{URL}/{conversation['id']}/read", headers=woman.headers)
    assert again.json()["updated"] == 0


async def test_reading_marks_only_what_others_sent(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, start: Start, send: Send
) -> None:
    conversation = await start(woman, sponsor)
    await send(woman, conversation["id"], "mine")
    await send(sponsor, conversation["id"], "theirs")

    await ok(client.put(f"{URL}/{conversation['id']}/read", headers=woman.headers))

    page = (await client.get(f"{URL}/{conversation['id']}/messages", headers=woman.headers)).json()
    assert {m["content"]: m["isRead"] for m in page["data"]} == {"mine": False, "theirs": True}
    theirs = (await client.get(URL, headers=sponsor.headers)).json()["data"][0]
    assert theirs["unreadCount"] == 1


async def test_conversations_are_listed_by_most_recent_activity(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    make_user: Callable[..., Any],
    start: Start,
    send: Send,
) -> None:
    others = [await make_user("sponsor") for _ in range(3)]
    conversations = [await start(woman, other) for other in others]
    await send(others[1], conversations[1]["id"], "newest activity")

    listed = (await client.get(URL, headers=woman.headers)).json()

    ids = [c["id"] for c in listed["data"]]
    assert ids[0] == conversations[1]["id"]
    assert set(ids) == {c["id"] for c in conversations}
    assert listed["pagination"]["total"] == 3


async def test_the_conversation_list_pages_by_cursor(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    make_user: Callable[..., Any],
    start: Start,
    send: Send,
) -> None:
    for n in range(5):
        other: AuthedUser = await make_user("sponsor")
        conversation = await start(woman, other)
        await send(other, conversation["id"], f"c{n}")

    first = (await client.get(URL, params={"limit": 2}, headers=woman.headers)).json()
    seen = [c["lastMessage"]["content"] for c in first["data"]]
    cursor = first["pagination"]["nextCursor"]
    while cursor:
        page = (
            await client.get(URL, params={"limit": 2, "cursor": cursor}, headers=woman.headers)
        ).json()
        seen += [c["lastMessage"]["content"] for c in page["data"]]
        cursor = page["pagination"]["nextCursor"]

    assert seen == ["c4", "c3", "c2", "c1", "c0"]


# --- messages pages -------------------------------------------------------------------------


async def test_messages_page_newest_first_by_cursor_and_detail_is_oldest_first(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, start: Start, send: Send
) -> None:
    conversation = await start(woman, sponsor)
    cid = conversation["id"]
    for n in range(7):
        await send(woman if n % 2 else sponsor, cid, f"m{n}")

    first = (
        await client.get(f"{URL}/{cid}/messages", params={"limit": 3}, headers=woman.headers)
    ).json()
    second = (
        await client.get(
            f"{URL}/{cid}/messages",
            params={"limit": 3, "cursor": first["pagination"]["nextCursor"]},
            headers=woman.headers,
        )
    ).json()
    detail = (await client.get(f"{URL}/{cid}", params={"limit": 3}, headers=woman.headers)).json()

    assert [m["content"] for m in first["data"]] == ["m6", "m5", "m4"]
    assert [m["content"] for m in second["data"]] == ["m3", "m2", "m1"]
    assert first["pagination"]["total"] == 7
    body = detail["conversation"]
    assert [m["content"] for m in body["messages"]] == ["m4", "m5", "m6"]
    assert body["lastMessage"]["content"] == "m6"
    assert body["nextCursor"] == first["pagination"]["nextCursor"]


@pytest.mark.parametrize(
    "cursor",
    ["garbage", "eyJjIjoxfQ", encode_cursor(utcnow(), uuid.uuid4())[:-3] + "!!!"],
    ids=["garbage", "wrong-shape", "mangled"],
)
async def test_a_forged_cursor_is_422(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, start: Start, cursor: str
) -> None:
    conversation = await start(woman, sponsor)
    for url in (f"{URL}/{conversation['id']}/messages", URL):
        response = await client.get(url, params={"cursor": cursor}, headers=woman.headers)
        assert response.status_code == 422


async def test_a_cursor_from_another_conversation_leaks_nothing(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    make_user: Callable[..., Any],
    start: Start,
    send: Send,
) -> None:
    other: AuthedUser = await make_user("sponsor")
    theirs = await start(sponsor, other)
    await send(other, theirs["id"], "secret")
    mine = await start(woman, sponsor)
    cursor = encode_cursor(utcnow(), uuid.uuid4())

    response = await client.get(
        f"{URL}/{mine['id']}/messages", params={"cursor": cursor}, headers=woman.headers
    )

    assert response.status_code == 200
    assert response.json()["data"] == []


# --- the web client's aliases ---------------------------------------------------------------


async def test_the_messages_aliases(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    sent = await client.post(
        "/api/messages",
        json={"recipientId": str(sponsor.id), "content": "Hello Sofia"},
        headers=woman.headers,
    )
    assert sent.status_code == 201
    cid = sent.json()["conversation"]["id"]
    assert sent.json()["message"]["content"] == "Hello Sofia"
    again = await client.post(
        "/api/messages",
        json={"recipientId": str(woman.id), "content": "Hi"},
        headers=sponsor.headers,
    )
    assert again.json()["conversation"]["id"] == cid

    listed = await client.get("/api/messages", headers=woman.headers)
    detail = await client.get(f"/api/messages/{cid}", headers=woman.headers)
    posted = await client.post(
        f"/api/messages/{cid}/messages", json={"content": "third"}, headers=woman.headers
    )
    read = await client.put(f"/api/messages/{cid}/read", headers=woman.headers)

    assert [c["id"] for c in listed.json()["data"]] == [cid]
    assert listed.json()["data"][0]["unreadCount"] == 1
    assert [m["content"] for m in detail.json()["conversation"]["messages"]] == [
        "Hello Sofia",
        "Hi",
    ]
    assert posted.status_code == 201
    assert posted.json()["message"]["content"] == "third"
    assert read.status_code == 200
    assert read.json()["updated"] == 1


# --- notifications --------------------------------------------------------------------------


async def test_an_offline_recipient_gets_one_notification_until_they_read(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, start: Start, send: Send
) -> None:
    conversation = await start(sponsor, woman)
    first = await send(sponsor, conversation["id"], "first")
    await send(sponsor, conversation["id"], "second")

    notes = await _notifications(client, woman)
    assert len(notes) == 1
    assert notes[0]["type"] == "message"
    assert notes[0]["message"] == "first"
    assert notes[0]["data"] == {
        "conversationId": conversation["id"],
        "senderId": str(sponsor.id),
        "messageId": first["id"],
    }
    assert await _notifications(client, sponsor) == []

    await ok(client.put(f"{URL}/{conversation['id']}/read", headers=woman.headers))
    await send(sponsor, conversation["id"], "after reading")

    assert len(await _notifications(client, woman)) == 2


async def test_message_notifications_follow_the_setting(
    app: FastAPI,
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    start: Start,
    send: Send,
) -> None:
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(UserSettings)
            .where(UserSettings.user_id == woman.id)
            .values(mentor_messages_notifications=False)
        )
        await session.commit()
    conversation = await start(sponsor, woman)
    await send(sponsor, conversation["id"], "quiet")

    assert await _notifications(client, woman) == []


# --- fixed number of queries ----------------------------------------------------------------


async def test_the_conversation_list_runs_a_fixed_number_of_queries(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    make_user: Callable[..., Any],
    start: Start,
    send: Send,
    count_queries: QueryCounter,
) -> None:
    async def count() -> int:
        count_queries.reset()
        response = await client.get(URL, headers=woman.headers)
        assert response.status_code == 200
        return count_queries.count

    other: AuthedUser = await make_user("sponsor")
    conversation = await start(woman, other)
    await send(other, conversation["id"], "one")
    with_one = await count()
    for _ in range(6):
        other = await make_user("sponsor")
        conversation = await start(woman, other)
        await send(other, conversation["id"], "more")
        await send(woman, conversation["id"], "reply")
    with_seven = await count()

    assert with_one == with_seven


async def test_the_messages_list_and_detail_run_a_fixed_number_of_queries(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    start: Start,
    send: Send,
    count_queries: QueryCounter,
) -> None:
    conversation = await start(woman, sponsor)
    cid = conversation["id"]

    async def count(url: str) -> int:
        count_queries.reset()
        response = await client.get(url, headers=woman.headers)
        assert response.status_code == 200
        return count_queries.count

    await send(sponsor, cid, "one")
    small = (await count(f"{URL}/{cid}/messages"), await count(f"{URL}/{cid}"))
    for n in range(9):
        await send(woman if n % 2 else sponsor, cid, f"n{n}")
    large = (await count(f"{URL}/{cid}/messages"), await count(f"{URL}/{cid}"))

    assert small == large

"""Message requests (API.md "Safety", "Who may message me"): `messagePrivacy` decides who
writes straight in; anyone else's first message is a request the recipient accepts (endpoint
or reply) or declines (hidden, nobody told). Blocks still come first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select

from peal.notifications.models import Notification
from peal.settings.models import UserSettings
from tests.conftest import AuthedUser, QueryCounter
from tests.mentors.helpers import accept, become_mentor, request_mentoring
from tests.messaging.conftest import Send, Start

URL = "/api/conversations"


async def _notification_types(app: FastAPI, user: AuthedUser) -> list[str]:
    async with app.state.db.sessionmaker() as session:
        rows = await session.scalars(
            select(Notification.type)
            .where(Notification.user_id == user.id)
            .order_by(Notification.created_at)
        )
        return list(rows.all())


async def _write(client: httpx.AsyncClient, me: AuthedUser, cid: str, text: str) -> httpx.Response:
    return await client.post(f"{URL}/{cid}/messages", json={"content": text}, headers=me.headers)


async def _listed(client: httpx.AsyncClient, me: AuthedUser) -> dict[str, dict[str, Any]]:
    response = await client.get(URL, headers=me.headers)
    assert response.status_code == 200, response.text
    return {c["id"]: c for c in response.json()["data"]}


async def _follow(client: httpx.AsyncClient, follower: AuthedUser, other: AuthedUser) -> None:
    response = await client.post(f"/api/users/{other.id}/follow", headers=follower.headers)
    assert response.status_code < 300, response.text


async def _is_request(client: httpx.AsyncClient, me: AuthedUser, cid: str) -> bool:
    response = await client.get(f"{URL}/{cid}", headers=me.headers)
    assert response.status_code == 200, response.text
    flag: bool = response.json()["conversation"]["isRequest"]
    return flag


# --- the setting ----------------------------------------------------------------------------


async def test_message_privacy_defaults_to_following_and_is_validated(
    client: httpx.AsyncClient, app: FastAPI, woman: AuthedUser
) -> None:
    async with app.state.db.sessionmaker() as session:
        await session.execute(delete(UserSettings).where(UserSettings.user_id == woman.id))
        await session.commit()
    fresh = await client.get("/api/settings", headers=woman.headers)
    assert fresh.status_code == 200
    assert fresh.json()["settings"]["messagePrivacy"] == "following"

    for value in ("connections", "everyone", "following"):
        changed = await client.patch(
            "/api/settings", json={"messagePrivacy": value}, headers=woman.headers
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["settings"]["messagePrivacy"] == value
    for bad in ("nobody", None, 3):
        refused = await client.put(
            "/api/settings", json={"messagePrivacy": bad}, headers=woman.headers
        )
        assert refused.status_code == 422, refused.text
    kept = await client.get("/api/settings", headers=woman.headers)
    assert kept.json()["settings"]["messagePrivacy"] == "following"


# --- who is admitted ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("privacy", "follows", "admitted"),
    [
        ("everyone", False, True),
        ("following", True, True),
        ("following", False, False),
        ("connections", True, False),
        ("connections", False, False),
    ],
)
async def test_each_privacy_value(
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    start: Start,
    privacy: str,
    follows: bool,
    admitted: bool,
) -> None:
    amara: AuthedUser = await make_user("woman", message_privacy=privacy)
    sofia: AuthedUser = await make_user("sponsor")
    if follows:
        await _follow(client, amara, sofia)
    conversation = await start(sofia, amara, content="Hello Amara")
    assert conversation["isRequest"] is False  # never for the sender
    assert await _is_request(client, amara, conversation["id"]) is not admitted
    second = await _write(client, sofia, conversation["id"], "Still there?")
    assert second.status_code == (201 if admitted else 403), second.text
    if not admitted:
        assert second.json()["code"] == "message_request_pending"


async def test_the_always_admitted_even_under_connections(
    client: httpx.AsyncClient, make_user: Callable[..., Any], start: Start
) -> None:
    amara: AuthedUser = await make_user("woman", message_privacy="connections")
    # Her accepted mentor connection.
    mentor: AuthedUser = await make_user("woman", name="Mentor Maya")
    profile = await become_mentor(client, mentor)
    connection = await request_mentoring(client, amara, profile["id"], "Please mentor me")
    await accept(client, mentor, profile["id"], connection["id"])
    # An admin.
    ada: AuthedUser = await make_user("admin", name="Ada Admin")
    for sender in (mentor, ada):
        conversation = await start(sender, amara, content="Hi Amara")
        assert await _is_request(client, amara, conversation["id"]) is False
        assert (await _write(client, sender, conversation["id"], "again")).status_code == 201

    # Someone she already talks with: she wrote first (admitted by his setting), so his
    # answers go straight in, though her setting would not admit him.
    friend: AuthedUser = await make_user("sponsor", message_privacy="everyone")
    conversation = await start(amara, friend, content="Hi friend")
    for text in ("Hi!", "How are you?"):
        assert (await _write(client, friend, conversation["id"], text)).status_code == 201
    assert await _is_request(client, amara, conversation["id"]) is False


async def test_a_pending_request_mentor_connection_is_not_enough(
    client: httpx.AsyncClient, make_user: Callable[..., Any], start: Start
) -> None:
    amara: AuthedUser = await make_user("woman", message_privacy="connections")
    mentor: AuthedUser = await make_user("woman")
    profile = await become_mentor(client, mentor)
    await request_mentoring(client, amara, profile["id"], "Please mentor me")  # not accepted
    conversation = await start(mentor, amara, content="Hi")
    assert await _is_request(client, amara, conversation["id"]) is True


# --- the request ----------------------------------------------------------------------------


async def test_a_request_shows_to_her_only_notifies_once_and_counts_no_unread(
    client: httpx.AsyncClient, app: FastAPI, make_user: Callable[..., Any], start: Start
) -> None:
    amara: AuthedUser = await make_user("woman", message_privacy="following")
    sofia: AuthedUser = await make_user("sponsor")
    conversation = await start(sofia, amara, content="Hello, can we talk?")
    cid = conversation["id"]
    refused = await _write(client, sofia, cid, "Hello??")
    assert refused.status_code == 403
    assert refused.json()["code"] == "message_request_pending"

    hers = (await _listed(client, amara))[cid]
    assert hers["isRequest"] is True
    assert hers["unreadCount"] == 0
    assert hers["lastMessage"]["content"] == "Hello, can we talk?"
    assert (await _listed(client, sofia))[cid]["isRequest"] is False
    assert await _notification_types(app, amara) == ["message_request"]
    # Reading it before accepting sends its sender no read receipt.
    read = await client.put(f"{URL}/{cid}/read", headers=amara.headers)
    assert read.status_code == 200
    assert read.json()["updated"] == 0
    seen = await client.get(f"{URL}/{cid}", headers=sofia.headers)
    assert [m["isRead"] for m in seen.json()["conversation"]["messages"]] == [False]
    # Opening it again is allowed to the sender, it stays one request.
    again = await client.post(URL, json={"participantId": str(amara.id)}, headers=sofia.headers)
    assert again.status_code == 200
    assert (await client.post(f"/api/messages/{cid}/messages", json={"content": "x"},
                              headers=sofia.headers)).status_code == 403  # fmt: skip
    assert await _notification_types(app, amara) == ["message_request"]


async def test_request_notifications_respect_mutes_and_settings(
    client: httpx.AsyncClient, app: FastAPI, make_user: Callable[..., Any], start: Start
) -> None:
    amara: AuthedUser = await make_user("woman", message_privacy="following")
    noisy: AuthedUser = await make_user("sponsor")
    muted = await client.post(f"/api/users/{noisy.id}/mute", headers=amara.headers)
    assert muted.status_code < 300
    conversation = await start(noisy, amara, content="Hello")
    assert await _is_request(client, amara, conversation["id"]) is True

    quiet: AuthedUser = await make_user("woman", message_privacy="following")
    off = await client.patch(
        "/api/settings", json={"mentorMessagesNotifications": False}, headers=quiet.headers
    )
    assert off.status_code == 200
    await start(noisy, quiet, content="Hello")
    assert await _notification_types(app, amara) == []
    assert await _notification_types(app, quiet) == []


async def test_accepting_by_the_endpoint(
    client: httpx.AsyncClient, make_user: Callable[..., Any], start: Start
) -> None:
    amara: AuthedUser = await make_user("woman", message_privacy="following")
    sofia: AuthedUser = await make_user("sponsor")
    stranger: AuthedUser = await make_user("woman")
    cid = (await start(sofia, amara, content="Hello"))["id"]

    assert (await client.post(f"{URL}/{cid}/accept", headers=stranger.headers)).status_code == 404
    by_sender = await client.post(f"{URL}/{cid}/accept", headers=sofia.headers)
    assert by_sender.status_code == 409
    assert by_sender.json()["code"] == "not_a_request"

    accepted = await client.post(f"{URL}/{cid}/accept", headers=amara.headers)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["conversation"]["isRequest"] is False
    assert accepted.json()["conversation"]["unreadCount"] == 1  # the request's message
    again = await client.post(f"/api/messages/{cid}/accept", headers=amara.headers)
    assert again.status_code == 200  # idempotent, and under the alias too
    assert (await _write(client, sofia, cid, "Thanks!")).status_code == 201
    assert (await _listed(client, amara))[cid]["unreadCount"] == 2
    # An accepted conversation is no request to decline.
    declined = await client.post(f"{URL}/{cid}/decline", headers=amara.headers)
    assert declined.status_code == 409


async def test_accepting_by_replying(
    client: httpx.AsyncClient, make_user: Callable[..., Any], start: Start
) -> None:
    amara: AuthedUser = await make_user("woman", message_privacy="connections")
    sofia: AuthedUser = await make_user("sponsor", message_privacy="connections")
    cid = (await start(sofia, amara, content="Hello"))["id"]
    assert (await _write(client, amara, cid, "Hi Sofia")).status_code == 201
    assert await _is_request(client, amara, cid) is False
    assert await _is_request(client, sofia, cid) is False
    for who in (sofia, amara, sofia):
        assert (await _write(client, who, cid, "more")).status_code == 201


async def test_declining_hides_it_and_tells_nobody(
    client: httpx.AsyncClient, app: FastAPI, make_user: Callable[..., Any], start: Start
) -> None:
    amara: AuthedUser = await make_user("woman", message_privacy="following")
    sofia: AuthedUser = await make_user("sponsor")
    stranger: AuthedUser = await make_user("woman")
    cid = (await start(sofia, amara, content="Hello"))["id"]
    before = await _notification_types(app, sofia)

    assert (await client.post(f"{URL}/{cid}/decline", headers=stranger.headers)).status_code == 404
    assert (await client.post(f"{URL}/{cid}/decline", headers=sofia.headers)).status_code == 409
    declined = await client.post(f"/api/messages/{cid}/decline", headers=amara.headers)
    assert declined.status_code == 200, declined.text
    assert (await client.post(f"{URL}/{cid}/decline", headers=amara.headers)).status_code == 200

    assert cid not in await _listed(client, amara)
    listed = await client.get(URL, headers=amara.headers)
    assert listed.json()["pagination"]["total"] == 0
    # Her sender sees nothing changed and gets the same answer as before.
    assert (await _listed(client, sofia))[cid]["isRequest"] is False
    refused = await _write(client, sofia, cid, "Hello??")
    assert refused.status_code == 403
    assert refused.json()["code"] == "message_request_pending"
    assert await _notification_types(app, sofia) == before
    # She may still change her mind.
    assert (await client.post(f"{URL}/{cid}/accept", headers=amara.headers)).status_code == 200
    assert cid in await _listed(client, amara)


async def test_blocks_still_come_first(
    client: httpx.AsyncClient, make_user: Callable[..., Any], start: Start
) -> None:
    amara: AuthedUser = await make_user("woman", message_privacy="following")
    sofia: AuthedUser = await make_user("sponsor")
    cid = (await start(sofia, amara, content="Hello"))["id"]
    blocked = await client.post(f"/api/users/{sofia.id}/block", headers=amara.headers)
    assert blocked.status_code < 300
    for who, other in ((sofia, amara), (amara, sofia)):
        refused = await _write(client, who, cid, "Hello")
        assert refused.status_code == 403
        assert refused.json()["code"] == "blocked"
        direct = await client.post(
            "/api/messages", json={"recipientId": str(other.id), "content": "x"},
            headers=who.headers,
        )  # fmt: skip
        assert direct.status_code in (403, 404)


async def test_the_list_stays_a_fixed_number_of_queries_with_requests(
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    start: Start,
    send: Send,
    count_queries: QueryCounter,
) -> None:
    amara: AuthedUser = await make_user("woman", message_privacy="following")

    async def count() -> int:
        count_queries.reset()
        response = await client.get(URL, headers=amara.headers)
        assert response.status_code == 200
        return count_queries.count

    await start(await make_user("sponsor"), amara, content="first")
    with_one = await count()
    for index in range(6):
        cid = (await start(await make_user("sponsor"), amara, content="hi"))["id"]
        action = ("accept", "decline", None)[index % 3]
        if action is not None:
            answer = await client.post(f"{URL}/{cid}/{action}", headers=amara.headers)
            assert answer.status_code == 200
        else:
            await send(amara, cid, "reply")
    assert with_one == await count()

"""Socket.IO and Server-Sent Events against a real server (uvicorn on a loopback port).

The handshake refuses bad tokens; joins are for participants; typing reaches the others only;
REST writes reach sockets after their commit; notifications reach sockets and SSE streams;
`Last-Event-ID` replays; account deletion and password resets end live connections.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
import socketio
from fastapi import FastAPI
from sqlalchemy import update

from peal.core.security import JWT_ALGORITHM
from peal.db import utcnow
from peal.users.models import User
from tests.auth.conftest import link_token
from tests.conftest import AuthedUser, Mailbox
from tests.helpers import ok
from tests.realtime.conftest import EVENT_WAIT, Connect, Recorder

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def http(live_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_url, timeout=EVENT_WAIT) as client:
        yield client


async def _conversation(http: httpx.AsyncClient, me: AuthedUser, other: AuthedUser) -> str:
    response = await http.post(
        "/api/conversations", json={"participantId": str(other.id)}, headers=me.headers
    )
    assert response.status_code in (200, 201), response.text
    conversation_id: str = response.json()["conversation"]["id"]
    return conversation_id


def _forged(app: FastAPI, user: AuthedUser, **changes: Any) -> str:
    """The user's token with some claims changed, signed with the real secret."""
    claims = jwt.decode(
        user.token,
        app.state.settings.jwt_secret,
        algorithms=[JWT_ALGORITHM],
        audience=app.state.settings.jwt_audience,
    )
    claims.update(changes)
    return jwt.encode(claims, app.state.settings.jwt_secret, algorithm=JWT_ALGORITHM)


async def test_the_handshake_refuses_bad_tokens(
    app: FastAPI, connect: Connect, woman: AuthedUser, make_user: Callable[..., Any]
) -> None:
    banned: AuthedUser = await make_user("woman")
    async with app.state.db.sessionmaker() as session:
        await session.execute(update(User).where(User.id == banned.id).values(is_banned=True))
        await session.commit()
    past = int((utcnow() - timedelta(hours=1)).timestamp())
    bad_tokens = [
        None,
        "",
        "not-a-jwt",
        woman.token[:-4] + "AAAA",
        _forged(app, woman, exp=past, iat=past - 900, nbf=past - 900),
        _forged(app, woman, typ="refresh"),
        banned.token,
    ]
    for token in bad_tokens:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await connect(token=token)

    good = await connect(woman)
    assert good.client.connected


async def test_typing_reaches_the_others_and_not_the_typist(
    http: httpx.AsyncClient, connect: Connect, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    cid = await _conversation(http, woman, sponsor)
    a = await connect(woman)
    b = await connect(sponsor)
    assert await a.call("join_conversation", cid) == {"ok": True, "conversationId": cid}
    assert (await b.call("join_conversation", cid))["ok"] is True

    assert await b.call("typing", {"conversationId": cid, "isTyping": True}) == {"ok": True}
    typed = await a.next("user_typing")
    assert typed == {"userId": str(sponsor.id), "conversationId": cid, "isTyping": True}

    # A's answer reaches B after anything B's own typing would have sent B.
    await a.call("typing", {"conversationId": cid, "isTyping": False})
    back = await b.next("user_typing")
    assert back["userId"] == str(woman.id)
    assert back["isTyping"] is False
    assert b.pending("user_typing") == []
    assert a.pending("user_typing") == []


@dataclass
class PendingRequest:
    """Sofia's first message to Amara, who doesn't follow her: a message request, both online."""

    amara: AuthedUser
    sofia: AuthedUser
    a: Recorder  # Amara's socket
    s: Recorder  # Sofia's socket
    cid: str
    first: httpx.Response


async def _pending_request(
    http: httpx.AsyncClient, connect: Connect, make_user: Callable[..., Any]
) -> PendingRequest:
    amara: AuthedUser = await make_user("woman", message_privacy="following")
    sofia: AuthedUser = await make_user("sponsor")
    a = await connect(amara)
    s = await connect(sofia)
    cid = await _conversation(http, sofia, amara)
    first = await http.post(
        f"/api/conversations/{cid}/messages", json={"content": "may I?"}, headers=sofia.headers
    )
    assert first.status_code == 201
    return PendingRequest(amara, sofia, a, s, cid, first)


async def test_a_message_request_reaches_its_recipient_only_once_accepted(
    http: httpx.AsyncClient, connect: Connect, make_user: Callable[..., Any]
) -> None:
    r = await _pending_request(http, connect, make_user)
    assert await r.s.next("message_received") == r.first.json()["message"]
    # Her `message_request` notification arrives live; the message itself does not.
    assert (await r.a.next("notification"))["type"] == "message_request"
    accepted = await http.post(f"/api/conversations/{r.cid}/accept", headers=r.amara.headers)
    assert accepted.status_code == 200
    second = await http.post(
        f"/api/conversations/{r.cid}/messages", json={"content": "thanks"}, headers=r.sofia.headers
    )
    assert second.status_code == 201
    # The first message she receives live is the one sent after she accepted.
    assert await r.a.next("message_received") == second.json()["message"]
    assert r.a.pending("message_received") == []


async def test_typing_in_a_message_request_reaches_nobody_until_accepted(
    http: httpx.AsyncClient, connect: Connect, make_user: Callable[..., Any]
) -> None:
    r = await _pending_request(http, connect, make_user)
    assert (await r.a.call("join_conversation", r.cid))["ok"] is True
    assert (await r.s.call("join_conversation", r.cid))["ok"] is True

    # The sender's typing doesn't reach her, and hers doesn't tell the sender she opened it.
    assert await r.s.call("typing", {"conversationId": r.cid, "isTyping": True}) == {"ok": True}
    assert await r.a.call("typing", {"conversationId": r.cid, "isTyping": True}) == {"ok": True}
    accepted = await http.post(f"/api/conversations/{r.cid}/accept", headers=r.amara.headers)
    assert accepted.status_code == 200

    # Accepted: typing flows both ways, on the sockets that joined while it was a request.
    await r.s.call("typing", {"conversationId": r.cid, "isTyping": False})
    assert (await r.a.next("user_typing"))["isTyping"] is False
    await r.a.call("typing", {"conversationId": r.cid, "isTyping": False})
    assert (await r.s.next("user_typing"))["userId"] == str(r.amara.id)
    assert r.a.pending("user_typing") == []
    assert r.s.pending("user_typing") == []


async def test_typing_before_a_first_message_reaches_only_who_would_take_it(
    http: httpx.AsyncClient, connect: Connect, make_user: Callable[..., Any]
) -> None:
    """Nothing sent yet: Sofia's first message to Amara (who doesn't follow her) would be a
    request, so Sofia's typing must not tell Amara someone is writing. Amara's typing may
    reach Sofia, who takes everyone's messages."""
    amara: AuthedUser = await make_user("woman", message_privacy="following")
    sofia: AuthedUser = await make_user("sponsor")
    a = await connect(amara)
    s = await connect(sofia)
    cid = await _conversation(http, sofia, amara)
    assert (await a.call("join_conversation", cid))["ok"] is True
    assert (await s.call("join_conversation", cid))["ok"] is True

    assert await s.call("typing", {"conversationId": cid, "isTyping": True}) == {"ok": True}
    await a.call("typing", {"conversationId": cid, "isTyping": True})
    assert (await s.next("user_typing"))["userId"] == str(amara.id)
    first = await http.post(
        f"/api/conversations/{cid}/messages", json={"content": "may I?"}, headers=sofia.headers
    )
    assert first.status_code == 201
    # Her request notification comes after anything Sofia's typing would have sent her.
    assert (await a.next("notification"))["type"] == "message_request"
    assert a.pending("user_typing") == []


async def test_a_rest_message_reaches_both_participants(
    http: httpx.AsyncClient, connect: Connect, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    cid = await _conversation(http, woman, sponsor)
    a = await connect(woman)
    b = await connect(sponsor)

    posted = await http.post(
        f"/api/conversations/{cid}/messages", json={"content": "live!"}, headers=sponsor.headers
    )

    assert posted.status_code == 201
    message = posted.json()["message"]
    assert await a.next("message_received") == message
    assert await b.next("message_received") == message
    # A was online: no `message` notification was stored for her.
    inbox = await http.get("/api/notifications", headers=woman.headers)
    assert inbox.json()["data"] == []

    read = await http.put(f"/api/conversations/{cid}/read", headers=woman.headers)
    assert read.status_code == 200
    expected = {"conversationId": cid, "userId": str(woman.id)}
    assert await b.next("conversation_read") == expected


async def test_a_stranger_cannot_join(
    http: httpx.AsyncClient,
    connect: Connect,
    woman: AuthedUser,
    sponsor: AuthedUser,
    make_user: Callable[..., Any],
) -> None:
    cid = await _conversation(http, woman, sponsor)
    stranger: AuthedUser = await make_user("woman")
    s = await connect(stranger)
    a = await connect(woman)
    await a.call("join_conversation", cid)

    answer = await s.call("join_conversation", cid)
    error = await s.next("error")

    assert answer["ok"] is False
    assert error == {"code": "conversation_not_found", "message": "Conversation not found"}
    # Not joined: typing there is refused, and A hears nothing from the stranger.
    await s.call("typing", {"conversationId": cid, "isTyping": True})
    assert (await s.next("error"))["code"] == "not_joined"
    garbage = await s.call("join_conversation", {"conversationId": "../../etc"})
    assert garbage["ok"] is False
    await a.call("typing", {"conversationId": cid, "isTyping": True})  # a sync point
    assert a.pending("user_typing") == []


async def test_typing_is_rate_limited(
    http: httpx.AsyncClient, connect: Connect, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    cid = await _conversation(http, woman, sponsor)
    b = await connect(sponsor)
    await b.call("join_conversation", cid)

    answers = [await b.call("typing", {"conversationId": cid, "isTyping": True}) for _ in range(60)]

    refused = [a for a in answers if not a["ok"]]
    assert refused
    assert refused[0]["error"]["code"] == "rate_limited"


async def _follow(http: httpx.AsyncClient, follower: AuthedUser, user: AuthedUser) -> None:
    response = await http.post(f"/api/users/{user.id}/follow", headers=follower.headers)
    assert response.status_code == 200, response.text


class SSE:
    """Reads `event`/`id`/`data` records off a live text/event-stream response."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.aiter_lines()

    async def next_event(self) -> dict[str, Any]:
        async def read() -> dict[str, Any]:
            record: dict[str, Any] = {}
            async for line in self.lines:
                if not line:
                    if "data" in record:
                        return record
                    record = {}
                    continue
                if line.startswith(":"):
                    continue
                key, _, value = line.partition(":")
                record[key] = value.lstrip(" ")
            raise AssertionError("stream ended")

        return await asyncio.wait_for(read(), EVENT_WAIT)


async def test_a_notification_reaches_the_socket_and_the_sse_stream(
    http: httpx.AsyncClient,
    connect: Connect,
    woman: AuthedUser,
    sponsor: AuthedUser,
    make_user: Callable[..., Any],
) -> None:
    a = await connect(woman)
    headers = {**woman.headers, "Accept": "text/event-stream"}
    async with http.stream("GET", "/api/notifications/stream", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = SSE(response)
        # The stream is subscribed once its headers are out: what follows must arrive.
        await _follow(http, sponsor, woman)

        on_socket = await a.next("notification")
        on_stream = await stream.next_event()

    assert on_socket["type"] == "follow"
    assert on_stream["event"] == "notification"
    assert on_stream["id"] == on_socket["id"]
    assert json.loads(on_stream["data"]) == on_socket
    inbox = (await http.get("/api/notifications", headers=woman.headers)).json()["data"]
    assert inbox[0] == on_socket


async def test_last_event_id_replays_what_was_missed(
    http: httpx.AsyncClient, woman: AuthedUser, make_user: Callable[..., Any]
) -> None:
    followers = [await make_user("sponsor") for _ in range(3)]
    for follower in followers:
        await _follow(http, follower, woman)
    inbox = (await http.get("/api/notifications", headers=woman.headers)).json()["data"]
    oldest_first = [n["id"] for n in reversed(inbox)]
    assert len(oldest_first) == 3

    headers = {**woman.headers, "Last-Event-ID": oldest_first[0]}
    async with http.stream("GET", "/api/notifications/stream", headers=headers) as response:
        stream = SSE(response)
        replayed = [(await stream.next_event())["id"] for _ in range(2)]
        late: AuthedUser = await make_user("sponsor")
        await _follow(http, late, woman)
        live = await stream.next_event()

    assert replayed == oldest_first[1:]
    assert live["id"] not in oldest_first


async def test_the_stream_needs_a_token_and_ignores_a_foreign_last_event_id(
    http: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, make_user: Callable[..., Any]
) -> None:
    assert (await http.get("/api/notifications/stream")).status_code == 401
    await _follow(http, woman, sponsor)
    theirs = (await http.get("/api/notifications", headers=sponsor.headers)).json()["data"]
    headers = {**woman.headers, "Last-Event-ID": theirs[0]["id"]}
    async with http.stream("GET", "/api/notifications/stream", headers=headers) as response:
        stream = SSE(response)
        late: AuthedUser = await make_user("sponsor")
        await _follow(http, late, woman)
        first = await stream.next_event()
    # Nothing of the other person's inbox was replayed: the first event is her own new one.
    assert json.loads(first["data"])["type"] == "follow"
    assert first["id"] != theirs[0]["id"]


async def test_deleting_the_account_disconnects_its_sockets_and_streams(
    http: httpx.AsyncClient, connect: Connect, woman: AuthedUser
) -> None:
    a = await connect(woman)
    async with http.stream("GET", "/api/notifications/stream", headers=woman.headers) as response:
        deleted = await http.delete(f"/api/users/{woman.id}", headers=woman.headers)
        assert deleted.status_code == 204, deleted.text
        await asyncio.wait_for(a.disconnected.wait(), EVENT_WAIT)

        async def drain() -> None:
            async for _line in response.aiter_lines():
                pass

        await asyncio.wait_for(drain(), EVENT_WAIT)  # the stream ends


async def test_unknown_conversation_ids_are_refused(connect: Connect, woman: AuthedUser) -> None:
    a = await connect(woman)
    answer = await a.call("join_conversation", str(uuid.uuid4()))
    assert answer["ok"] is False
    assert (await a.next("error"))["code"] == "conversation_not_found"


async def test_a_password_reset_disconnects_the_sockets(
    http: httpx.AsyncClient, connect: Connect, woman: AuthedUser, mailbox: Mailbox
) -> None:
    a = await connect(woman)
    await ok(http.post("/api/auth/forgot-password", json={"email": woman.email}))
    await mailbox.wait()
    token = link_token(mailbox.to(woman.email)[-1], "reset-password")

    reset = await http.post(
        "/api/auth/reset-password", json={"token": token, "password": "A-new-Horse-Battery-77"}
    )

    assert reset.status_code == 200, reset.text
    await asyncio.wait_for(a.disconnected.wait(), EVENT_WAIT)

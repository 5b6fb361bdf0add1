"""A message can be reported by a participant only; a stranger gets the same 404 as reading it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI

from tests.conftest import AuthedUser
from tests.messaging.conftest import Send, Start
from tests.moderation.helpers import notifications_of, report, review


async def test_only_a_participant_reports_a_message(
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    start: Start,
    send: Send,
) -> None:
    amara: AuthedUser = await make_user("woman", name="Amara")
    scammer: AuthedUser = await make_user("woman", name="Scammer")
    stranger: AuthedUser = await make_user("woman", name="Stranger")
    conversation = await start(amara, scammer)
    message = await send(scammer, conversation["id"], "Pay me off-site and I will double it")

    def report(who: AuthedUser) -> Any:
        return client.post(
            "/api/moderation/report",
            json={"contentType": "message", "contentId": message["id"], "reason": "scam"},
            headers=who.headers,
        )

    assert (await report(stranger)).status_code == 404
    answer = await report(amara)
    assert answer.status_code == 201, answer.text
    assert answer.json()["report"]["contentType"] == "message"
    assert (await report(scammer)).status_code == 400  # one's own message


async def test_a_removed_message_leaves_the_conversation_for_everyone_but_admins(
    client: httpx.AsyncClient,
    app: FastAPI,
    make_user: Callable[..., Any],
    start: Start,
    send: Send,
    admin: AuthedUser,
) -> None:
    amara: AuthedUser = await make_user("woman", name="Amara")
    scammer: AuthedUser = await make_user("woman", name="Scammer")
    cid = (await start(amara, scammer))["id"]
    await send(amara, cid, "Hello")
    bad = await send(scammer, cid, "Pay me off-site and I will double it")
    filed = (await report(client, amara, "message", bad["id"]))["report"]
    admin_cid = (await start(admin, scammer))["id"]
    also_bad = await send(scammer, admin_cid, "Pay me too")
    assert (await _unread(client, amara, cid)) == 1
    (told,) = [n for n in await notifications_of(app, amara.id) if n.type == "message"]
    assert told.message == "Pay me off-site and I will double it"

    reviewed = await review(client, admin, filed["id"], "remove_content", note="Scam")
    assert reviewed["report"]["status"] == "actioned"
    assert reviewed["report"]["action"] == "remove_content"

    for who in (amara, scammer):
        detail = (await client.get(f"/api/conversations/{cid}", headers=who.headers)).json()
        assert [m["content"] for m in detail["conversation"]["messages"]] == ["Hello"]
        assert detail["conversation"]["lastMessage"]["content"] == "Hello"
        page = (await client.get(f"/api/conversations/{cid}/messages", headers=who.headers)).json()
        assert [m["content"] for m in page["data"]] == ["Hello"]
        assert page["pagination"]["total"] == 1
    assert (await _unread(client, amara, cid)) == 0  # it left her unread count too
    # Her notification of it no longer quotes it; the scammer's of "Hello" still does.
    (told,) = [n for n in await notifications_of(app, amara.id) if n.type == "message"]
    assert told.message == "This message was removed."
    assert told.data is not None and told.data["messageId"] == bad["id"]
    (hello,) = [n for n in await notifications_of(app, scammer.id) if n.type == "message"]
    assert hello.message == "Hello"
    removed = [n for n in await notifications_of(app, scammer.id) if n.type == "content_removed"]
    assert len(removed) == 1
    assert "message" in removed[0].message
    assert "Amara" not in removed[0].message
    # It cannot be reported again.
    await report(client, amara, "message", bad["id"], expect=404)
    # An admin who is in the conversation still sees a removed message; its sender does not.
    second = (await report(client, admin, "message", also_bad["id"]))["report"]
    await review(client, admin, second["id"], "remove_content")
    seen = (await client.get(f"/api/conversations/{admin_cid}", headers=admin.headers)).json()
    assert also_bad["id"] in {m["id"] for m in seen["conversation"]["messages"]}
    gone = (await client.get(f"/api/conversations/{admin_cid}", headers=scammer.headers)).json()
    assert gone["conversation"]["messages"] == []


async def _unread(client: httpx.AsyncClient, who: AuthedUser, cid: str) -> int:
    listed = (await client.get("/api/conversations", headers=who.headers)).json()["data"]
    unread: int = next(c["unreadCount"] for c in listed if c["id"] == cid)
    return unread

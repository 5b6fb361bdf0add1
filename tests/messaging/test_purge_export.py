"""What messaging gives the account flows: `purge_user` (deletion) and `export_user` (data
export), and what the remaining participant sees after the other account is deleted."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from peal.messaging.service import export_user, purge_user
from tests.conftest import AuthedUser
from tests.messaging.conftest import Send, Start


async def test_export_holds_my_conversations_and_names_others_by_id_and_name_only(
    app: FastAPI, woman: AuthedUser, sponsor: AuthedUser, start: Start, send: Send
) -> None:
    conversation = await start(woman, sponsor)
    await send(woman, conversation["id"], "hello")
    await send(sponsor, conversation["id"], "hi back")

    async with app.state.db.sessionmaker() as session:
        exported = await export_user(session, woman.id)

    [only] = exported["conversations"]
    assert only["id"] == conversation["id"]
    assert only["unreadCount"] == 1
    assert sorted(only["participants"], key=lambda p: p["name"]) == sorted(
        [{"id": str(woman.id), "name": woman.name}, {"id": str(sponsor.id), "name": sponsor.name}],
        key=lambda p: p["name"],
    )
    assert [(m["content"], m["fromMe"]) for m in only["messages"]] == [
        ("hello", True),
        ("hi back", False),
    ]
    assert set(only["messages"][0]) == {
        "id",
        "senderId",
        "fromMe",
        "content",
        "isRead",
        "createdAt",
    }
    assert only["messages"][0]["createdAt"].endswith("Z")


async def test_export_of_someone_without_conversations_is_empty(
    app: FastAPI, woman: AuthedUser
) -> None:
    async with app.state.db.sessionmaker() as session:
        assert await export_user(session, woman.id) == {"conversations": []}


async def test_purge_removes_the_person_and_fixes_the_others_counters(
    app: FastAPI,
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    start: Start,
    send: Send,
) -> None:
    conversation = await start(woman, sponsor)
    await send(woman, conversation["id"], "mine")
    await send(sponsor, conversation["id"], "theirs 1")
    await send(sponsor, conversation["id"], "theirs 2")

    async with app.state.db.sessionmaker() as session:
        await purge_user(session, sponsor.id)
        await session.commit()

    listed = (await client.get("/api/conversations", headers=woman.headers)).json()["data"]
    assert len(listed) == 1
    assert listed[0]["unreadCount"] == 0
    assert [p["id"] for p in listed[0]["participants"]] == [str(woman.id)]
    assert listed[0]["lastMessage"]["content"] == "mine"
    async with app.state.db.sessionmaker() as session:
        assert await export_user(session, sponsor.id) == {"conversations": []}
    # Nobody is left to write to.
    posted = await client.post(
        f"/api/conversations/{conversation['id']}/messages",
        json={"content": "anyone?"},
        headers=woman.headers,
    )
    assert posted.status_code == 403
    assert posted.json()["code"] == "conversation_closed"


async def test_a_deleted_account_leaves_the_other_a_readable_conversation(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, start: Start, send: Send
) -> None:
    conversation = await start(woman, sponsor)
    await send(woman, conversation["id"], "kept")

    deleted = await client.delete(f"/api/users/{sponsor.id}", headers=sponsor.headers)

    assert deleted.status_code == 204
    detail = await client.get(f"/api/conversations/{conversation['id']}", headers=woman.headers)
    assert [m["content"] for m in detail.json()["conversation"]["messages"]] == ["kept"]
    again = await client.post(
        "/api/conversations", json={"participantId": str(sponsor.id)}, headers=woman.headers
    )
    assert again.status_code == 404

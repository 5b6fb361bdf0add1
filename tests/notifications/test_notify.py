"""`notify` and `notify_many` as other domains call them: settings, self-actions, fan-out, email."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete

from peal.notifications.models import Notification
from peal.notifications.service import TITLE_MAX, notify, notify_many
from peal.settings.models import UserSettings
from tests.conftest import AuthedUser, Mailbox, QueryCounter

Transaction = Callable[[], Any]
Stored = Callable[[uuid.UUID], Awaitable[list[Notification]]]
Preferences = Callable[..., Awaitable[None]]


async def test_notify_stores_a_notification_the_recipient_lists(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, transaction: Transaction
) -> None:
    async with transaction() as session:
        created = await notify(
            session,
            woman.id,
            "donation",
            "New donation",
            "Sofia donated $25.00",
            {"requestId": uuid.UUID(int=7), "amount": 25},
            actor_id=sponsor.id,
        )
    assert created is not None

    body = (await client.get("/api/notifications", headers=woman.headers)).json()
    assert body["unreadCount"] == 1
    (item,) = body["data"]
    assert item["id"] == str(created.id)
    assert item["type"] == "donation"
    assert item["title"] == "New donation"
    assert item["message"] == "Sofia donated $25.00"
    assert item["data"] == {"requestId": str(uuid.UUID(int=7)), "amount": 25}


@pytest.mark.parametrize(
    ("setting", "gated", "free"),
    [
        (
            "mentor_messages_notifications",
            ["message", "mentor_request", "mentor_accepted", "mentor_rejected"],
            ["donation", "like"],
        ),
        (
            "supporter_updates_notifications",
            ["donation", "request_funded"],
            ["mentor_request", "comment"],
        ),
        # The device push toggle does not empty the in-app list.
        ("push_notifications", [], ["like", "donation", "message", "follow"]),
        ("email_notifications", [], ["like", "donation", "message"]),
    ],
)
async def test_category_toggles_decide_what_is_stored(
    woman: AuthedUser,
    transaction: Transaction,
    set_preferences: Preferences,
    stored: Stored,
    setting: str,
    gated: list[str],
    free: list[str],
) -> None:
    await set_preferences(woman.id, **{setting: False})

    async with transaction() as session:
        results = {
            kind: await notify(session, woman.id, kind, "Title", "Message")
            for kind in [*gated, *free]
        }

    assert {kind for kind, result in results.items() if result is None} == set(gated)
    assert sorted(n.type for n in await stored(woman.id)) == sorted(free)


async def test_a_user_without_a_settings_row_gets_the_defaults(
    make_user: Callable[..., Any], app: FastAPI, transaction: Transaction, stored: Stored
) -> None:
    user = await make_user()
    async with app.state.db.sessionmaker() as session:
        await session.execute(delete(UserSettings).where(UserSettings.user_id == user.id))
        await session.commit()

    async with transaction() as session:
        assert await notify(session, user.id, "mentor_request", "T", "M") is not None
    assert len(await stored(user.id)) == 1


async def test_nobody_is_notified_of_their_own_action(
    woman: AuthedUser, transaction: Transaction, stored: Stored
) -> None:
    async with transaction() as session:
        result = await notify(session, woman.id, "like", "T", "M", actor_id=woman.id)
        count = await notify_many(session, [woman.id], "video_upload", "T", "M", actor_id=woman.id)

    assert result is None
    assert count == 0
    assert await stored(woman.id) == []


async def test_a_long_title_is_cut_to_fit(
    woman: AuthedUser, transaction: Transaction, stored: Stored
) -> None:
    async with transaction() as session:
        await notify(session, woman.id, "comment", "x" * 400, "M")
    (notification,) = await stored(woman.id)
    assert notification.title == "x" * TITLE_MAX


async def test_notify_many_fans_out_in_one_insert_respecting_settings(
    make_user: Callable[..., Any],
    transaction: Transaction,
    set_preferences: Preferences,
    stored: Stored,
    count_queries: QueryCounter,
) -> None:
    author = await make_user()
    followers = [await make_user() for _ in range(6)]
    muted = followers[0]
    await set_preferences(muted.id, mentor_messages_notifications=False)
    recipients = [f.id for f in followers] + [followers[1].id, author.id]  # a duplicate, the actor

    count_queries.reset()
    async with transaction() as session:
        count = await notify_many(
            session,
            recipients,
            "mentor_request",
            "Ada is looking for a mentor",
            "Can you help?",
            {"userId": author.id},
            actor_id=author.id,
        )
    statements = [s.lstrip().split(None, 1)[0].upper() for s in count_queries.statements]

    assert count == 5
    assert statements.count("INSERT") == 1
    # The recipients who blocked or muted the actor, then their settings: each all at once.
    assert statements.count("SELECT") == 2
    assert await stored(muted.id) == []
    assert await stored(author.id) == []
    for follower in followers[1:]:
        (notification,) = await stored(follower.id)
        assert notification.type == "mentor_request"
        assert notification.data == {"userId": str(author.id)}


async def test_notify_many_with_nobody_to_notify_runs_no_insert(
    woman: AuthedUser, transaction: Transaction, count_queries: QueryCounter
) -> None:
    count_queries.reset()
    async with transaction() as session:
        assert await notify_many(session, [], "video_upload", "T", "M") == 0
    assert count_queries.count == 0


async def test_email_copy_in_the_recipients_language(
    woman: AuthedUser,
    sponsor: AuthedUser,
    transaction: Transaction,
    set_preferences: Preferences,
    mailbox: Mailbox,
) -> None:
    await set_preferences(woman.id, language="es")

    async with transaction() as session:
        await notify(
            session,
            woman.id,
            "donation",
            "Nueva donación",
            "<b>Sofia</b> donó $25.00",
            actor_id=sponsor.id,
            email=True,
        )
    await mailbox.wait()

    (message,) = mailbox.to(woman.email)
    assert message["Subject"] == "Novedades en PEAL: Nueva donación"
    assert message["Content-Language"] == "es"
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Hola, Amara Woman:" in html
    assert "&lt;b&gt;Sofia&lt;/b&gt;" in html
    assert "<b>Sofia</b>" not in html
    assert "http://localhost:5173/notifications" in text


@pytest.mark.parametrize(
    ("email", "preferences", "user_fields"),
    [
        (False, {}, {}),  # the caller did not ask
        (True, {"email_notifications": False}, {}),  # the recipient turned emails off
        (True, {"supporter_updates_notifications": False}, {}),  # the category is off
        (True, {}, {"email_verified": False}),  # the address is not proven to be theirs
        (True, {}, {"is_banned": True}),
    ],
)
async def test_no_email_copy_when(
    make_user: Callable[..., Any],
    transaction: Transaction,
    set_preferences: Preferences,
    mailbox: Mailbox,
    email: bool,
    preferences: dict[str, Any],
    user_fields: dict[str, Any],
) -> None:
    user = await make_user(**user_fields)
    if preferences:
        await set_preferences(user.id, **preferences)

    async with transaction() as session:
        await notify(session, user.id, "donation", "T", "M", email=email)
    await mailbox.wait()

    assert mailbox.to(user.email) == []


async def test_no_email_when_the_transaction_rolls_back(
    app: FastAPI, woman: AuthedUser, mailbox: Mailbox, stored: Stored
) -> None:
    async with app.state.db.sessionmaker() as session:
        await notify(session, woman.id, "donation", "T", "M", email=True)
        await session.rollback()
    await mailbox.wait()

    assert mailbox.messages() == []
    assert await stored(woman.id) == []


async def test_one_statement_shuts_out_blocks_either_way_and_mutes_for_every_actor(
    make_user: Callable[..., Any], transaction: Transaction, stored: Stored, app: FastAPI
) -> None:
    """Who must not hear of an actor is asked through one statement, built once, its
    recipients and actor bound: each actor gets her own answer from it."""
    from peal.notifications.service import _shut_out_statement
    from peal.users.models import UserBlock, UserMute

    actor, other = await make_user(), await make_user()
    blocker, blocked, muter, free = [await make_user() for _ in range(4)]
    async with app.state.db.sessionmaker() as session:
        session.add_all(
            [
                UserBlock(blocker_id=blocker.id, blocked_id=actor.id),
                UserBlock(blocker_id=actor.id, blocked_id=blocked.id),
                UserMute(muter_id=muter.id, muted_id=actor.id),
                UserMute(muter_id=free.id, muted_id=other.id),
            ]
        )
        await session.commit()
    everyone = [blocker.id, blocked.id, muter.id, free.id]
    _shut_out_statement.cache_clear()
    async with transaction() as session:
        assert await notify_many(session, everyone, "like", "A like", "…", actor_id=actor.id) == 1
        assert await notify_many(session, everyone, "like", "A like", "…", actor_id=other.id) == 3
    assert _shut_out_statement.cache_info().misses == 1
    # The actor's like reached only `free`; `other`'s reached all but `free`, who muted her.
    assert [len(await stored(person)) for person in everyone] == [1, 1, 1, 1]

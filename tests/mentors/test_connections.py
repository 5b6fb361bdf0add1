"""Connection requests over HTTP: asking, answering, withdrawing, ending, and the lists."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update

from peal.db import utcnow
from peal.mentors.models import MentorConnection
from peal.mentors.service import MAX_PENDING_REQUESTS, REJECTED_COOLDOWN
from peal.notifications.models import Notification
from peal.settings.models import UserSettings
from peal.users.models import User
from tests.conftest import AuthedUser, Mailbox, QueryCounter
from tests.mentors.helpers import (
    accept,
    answer,
    become_mentor,
    connection_rows,
    profile_row,
    request_mentoring,
)


async def _notifications(app: FastAPI, user_id: uuid.UUID) -> list[Notification]:
    async with app.state.db.sessionmaker() as session:
        result = await session.scalars(select(Notification).where(Notification.user_id == user_id))
        return list(result.all())


async def test_a_request_notifies_and_emails_the_mentor(
    app: FastAPI,
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    mailbox: Mailbox,
) -> None:
    mentor = await become_mentor(client, sponsor)
    connection = await request_mentoring(
        client, woman, mentor["id"], "<script>x</script>I need help with pricing"
    )
    assert set(connection) == {
        "id", "mentorId", "menteeId", "mentor", "mentee", "status", "message",
        "createdAt", "updatedAt",
    }  # fmt: skip
    assert connection["status"] == "pending"
    assert connection["mentorId"] == mentor["id"] and connection["menteeId"] == str(woman.id)
    assert connection["message"] == "I need help with pricing"
    assert connection["mentee"]["name"] == woman.name
    assert connection["mentor"]["userId"] == str(sponsor.id)
    assert connection["mentor"]["user"]["name"] == sponsor.name

    [notification] = await _notifications(app, sponsor.id)
    assert notification.type == "mentor_request"
    assert notification.data is not None
    assert notification.data["connectionId"] == connection["id"]
    assert notification.data["menteeId"] == str(woman.id)
    await mailbox.wait()
    [email] = mailbox.to(sponsor.email)
    assert "would like you to mentor them" in email.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_the_mentor_settings_silence_mentoring_notifications(
    app: FastAPI,
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    mailbox: Mailbox,
) -> None:
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(UserSettings)
            .where(UserSettings.user_id.in_([woman.id, sponsor.id]))
            .values(mentor_messages_notifications=False)
        )
        await session.commit()
    mentor = await become_mentor(client, sponsor)
    connection = await request_mentoring(client, woman, mentor["id"])
    await accept(client, sponsor, mentor["id"], connection["id"])
    assert await _notifications(app, sponsor.id) == []
    assert await _notifications(app, woman.id) == []
    await mailbox.wait()
    assert mailbox.messages() == []


async def test_hostile_and_impossible_requests(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    woman: AuthedUser,
    sponsor: AuthedUser,
) -> None:
    mentor = await become_mentor(client, sponsor, maxMentees=1)
    path = f"/api/mentors/{mentor['id']}/connect"
    to_self = await client.post(path, json={}, headers=sponsor.headers)
    assert to_self.status_code == 400 and to_self.json()["code"] == "cannot_connect_to_self"
    assert (await client.post(path, json={})).status_code == 401
    too_long = await client.post(path, json={"message": "x" * 1001}, headers=woman.headers)
    assert too_long.status_code == 422

    connection = await request_mentoring(client, woman, mentor["id"])
    twice = await client.post(path, json={}, headers=woman.headers)
    assert twice.status_code == 409 and twice.json()["code"] == "connection_exists"
    await accept(client, sponsor, mentor["id"], connection["id"])
    while_accepted = await client.post(path, headers=woman.headers)
    assert (
        while_accepted.status_code == 409 and while_accepted.json()["code"] == "connection_exists"
    )

    other = await make_user()
    full = await client.post(path, json={}, headers=other.headers)
    assert full.status_code == 409 and full.json()["code"] == "mentor_full"

    closed = await become_mentor(client, await make_user("sponsor"), availability="unavailable")
    refused = await client.post(
        f"/api/mentors/{closed['id']}/connect", json={}, headers=other.headers
    )
    assert refused.status_code == 409 and refused.json()["code"] == "mentor_unavailable"
    missing = await client.post(
        f"/api/mentors/{uuid.uuid4()}/connect", json={}, headers=other.headers
    )
    assert missing.status_code == 404
    assert len(await connection_rows(app)) == 1


async def test_a_mentee_cannot_ask_everyone_at_once(
    client: httpx.AsyncClient, make_user: Callable[..., Any], woman: AuthedUser
) -> None:
    mentors = [
        await become_mentor(client, await make_user("sponsor"))
        for _ in range(MAX_PENDING_REQUESTS + 1)
    ]
    for mentor in mentors[:-1]:
        await request_mentoring(client, woman, mentor["id"])
    response = await client.post(
        f"/api/mentors/{mentors[-1]['id']}/connect", json={}, headers=woman.headers
    )
    assert response.status_code == 409 and response.json()["code"] == "too_many_pending_requests"


async def test_accepting_takes_a_place_and_tells_the_mentee(
    app: FastAPI,
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    mailbox: Mailbox,
) -> None:
    mentor = await become_mentor(client, sponsor, maxMentees=2)
    connection = await request_mentoring(client, woman, mentor["id"])
    accepted = await accept(client, sponsor, mentor["id"], connection["id"])
    assert accepted["status"] == "accepted" and accepted["id"] == connection["id"]
    assert (await profile_row(app, mentor["id"])).current_mentees_count == 1
    [notification] = await _notifications(app, woman.id)
    assert notification.type == "mentor_accepted"
    assert notification.data is not None and notification.data["mentorId"] == mentor["id"]
    await mailbox.wait()
    assert len(mailbox.to(woman.email)) == 1

    again = await answer(client, sponsor, mentor["id"], connection["id"], "accept")
    assert again.status_code == 409 and again.json()["code"] == "connection_not_pending"
    reject_after = await answer(client, sponsor, mentor["id"], connection["id"], "reject")
    assert reject_after.status_code == 409
    assert (await profile_row(app, mentor["id"])).current_mentees_count == 1
    shown = (await client.get(f"/api/mentors/{mentor['id']}")).json()["mentor"]
    assert shown["currentMenteesCount"] == 1


async def test_rejecting_tells_the_mentee_without_email(
    app: FastAPI,
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    mailbox: Mailbox,
) -> None:
    mentor = await become_mentor(client, sponsor)
    connection = await request_mentoring(client, woman, mentor["id"])
    response = await answer(client, sponsor, mentor["id"], connection["id"], "reject")
    assert response.status_code == 200
    assert response.json()["connection"]["status"] == "rejected"
    assert (await profile_row(app, mentor["id"])).current_mentees_count == 0
    [notification] = await _notifications(app, woman.id)
    assert notification.type == "mentor_rejected"
    await mailbox.wait()
    assert mailbox.to(woman.email) == []
    accept_after = await answer(client, sponsor, mentor["id"], connection["id"], "accept")
    assert accept_after.status_code == 409

    # Asking again: not within the cooldown, then allowed (the pair keeps one row).
    path = f"/api/mentors/{mentor['id']}/connect"
    soon = await client.post(path, json={}, headers=woman.headers)
    assert soon.status_code == 409 and soon.json()["code"] == "request_recently_rejected"
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(MentorConnection).values(
                updated_at=utcnow() - REJECTED_COOLDOWN - timedelta(minutes=1)
            )
        )
        await session.commit()
    later = await request_mentoring(client, woman, mentor["id"], "Trying again")
    assert later["id"] == connection["id"] and later["status"] == "pending"
    assert later["message"] == "Trying again"


async def test_only_that_mentor_answers_its_requests(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    woman: AuthedUser,
    sponsor: AuthedUser,
    admin: AuthedUser,
) -> None:
    mentor = await become_mentor(client, sponsor)
    other_user = await make_user("sponsor")
    other_mentor = await become_mentor(client, other_user)
    connection = await request_mentoring(client, woman, mentor["id"])

    # The mentee herself, a stranger, an admin: none of them may answer.
    for intruder in (woman, other_user, admin):
        response = await answer(client, intruder, mentor["id"], connection["id"], "accept")
        assert response.status_code == 403, intruder.name
    # Another mentor naming this connection under her own profile finds nothing.
    response = await answer(client, other_user, other_mentor["id"], connection["id"], "accept")
    assert response.status_code == 404 and response.json()["code"] == "connection_not_found"
    unknown = await answer(client, sponsor, mentor["id"], str(uuid.uuid4()), "accept")
    assert unknown.status_code == 404
    bad = await client.put(
        f"/api/mentors/{mentor['id']}/connection",
        json={"connectionId": connection["id"], "action": "maybe"},
        headers=sponsor.headers,
    )
    assert bad.status_code == 422
    [row] = await connection_rows(app)
    assert row.status == "pending"
    assert (await profile_row(app, mentor["id"])).current_mentees_count == 0


async def test_a_full_mentor_cannot_accept_and_the_request_stays_pending(
    app: FastAPI, client: httpx.AsyncClient, make_user: Callable[..., Any], sponsor: AuthedUser
) -> None:
    mentor = await become_mentor(client, sponsor, maxMentees=1)
    first, second = await make_user(), await make_user()
    one = await request_mentoring(client, first, mentor["id"])
    two = await request_mentoring(client, second, mentor["id"])
    await accept(client, sponsor, mentor["id"], one["id"])
    refused = await answer(client, sponsor, mentor["id"], two["id"], "accept")
    assert refused.status_code == 409 and refused.json()["code"] == "mentor_full"
    statuses = {row.mentee_id: row.status for row in await connection_rows(app)}
    assert statuses == {first.id: "accepted", second.id: "pending"}
    assert (await profile_row(app, mentor["id"])).current_mentees_count == 1
    assert [n.type for n in await _notifications(app, second.id)] == []

    # A place frees up: the same request can now be accepted.
    ended = await client.delete(f"/api/mentors/{mentor['id']}/connection", headers=first.headers)
    assert ended.status_code == 204
    await accept(client, sponsor, mentor["id"], two["id"])
    assert (await profile_row(app, mentor["id"])).current_mentees_count == 1


async def test_withdrawing_and_ending(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    woman: AuthedUser,
    sponsor: AuthedUser,
) -> None:
    mentor = await become_mentor(client, sponsor)
    path = f"/api/mentors/{mentor['id']}/connection"
    stranger = await make_user()

    connection = await request_mentoring(client, woman, mentor["id"])
    mentor_deletes_pending = await client.delete(
        path, params={"connectionId": connection["id"]}, headers=sponsor.headers
    )
    assert mentor_deletes_pending.status_code == 409
    assert (await client.delete(path, headers=stranger.headers)).status_code == 404
    assert (await client.delete(path, headers=woman.headers)).status_code == 204  # withdrawn
    assert await connection_rows(app) == []
    assert (await client.delete(path, headers=woman.headers)).status_code == 404

    connection = await request_mentoring(client, woman, mentor["id"])
    await accept(client, sponsor, mentor["id"], connection["id"])
    no_id = await client.delete(path, headers=sponsor.headers)
    assert no_id.status_code == 422
    ended = await client.request(
        "DELETE", path, json={"connectionId": connection["id"]}, headers=sponsor.headers
    )
    assert ended.status_code == 204
    assert (await profile_row(app, mentor["id"])).current_mentees_count == 0
    [row] = await connection_rows(app)
    assert row.status == "ended"
    # The count goes down once: ending again, from either side, finds nothing to end.
    for caller in (woman, sponsor):
        again = await client.delete(
            path, params={"connectionId": connection["id"]}, headers=caller.headers
        )
        assert again.status_code == 404
    assert (await profile_row(app, mentor["id"])).current_mentees_count == 0

    # An ended mentorship can be asked for again, and the mentee can end it herself.
    again = await request_mentoring(client, woman, mentor["id"])
    assert again["id"] == connection["id"]
    await accept(client, sponsor, mentor["id"], again["id"])
    assert (await profile_row(app, mentor["id"])).current_mentees_count == 1
    assert (await client.delete(path, headers=woman.headers)).status_code == 204
    assert (await profile_row(app, mentor["id"])).current_mentees_count == 0


async def test_a_mentee_can_leave_a_mentor_who_went_private(
    app: FastAPI, client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    mentor = await become_mentor(client, sponsor)
    connection = await request_mentoring(client, woman, mentor["id"])
    await accept(client, sponsor, mentor["id"], connection["id"])
    async with app.state.db.sessionmaker() as session:
        await session.execute(update(User).where(User.id == sponsor.id).values(is_public=False))
        await session.commit()
    path = f"/api/mentors/{mentor['id']}/connection"
    assert (await client.delete(path, headers=woman.headers)).status_code == 204
    assert (await profile_row(app, mentor["id"])).current_mentees_count == 0


async def test_connection_and_mentee_lists(
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    woman: AuthedUser,
    sponsor: AuthedUser,
    admin: AuthedUser,
) -> None:
    grace = await become_mentor(client, sponsor)
    amara = await become_mentor(client, woman)  # a mentor who is also a mentee
    mentees = [await make_user(name=f"Mentee {i}") for i in range(3)]
    requests = [await request_mentoring(client, m, grace["id"]) for m in mentees]
    await accept(client, sponsor, grace["id"], requests[0]["id"])
    await accept(client, sponsor, grace["id"], requests[1]["id"])
    mine = await request_mentoring(client, woman, grace["id"])
    asking_amara = await request_mentoring(client, mentees[2], amara["id"])

    theirs = (await client.get("/api/mentors/connections", headers=woman.headers)).json()
    ids = {c["id"] for c in theirs["connections"]}
    assert ids == {mine["id"], asking_amara["id"]}  # as mentee and as mentor
    assert theirs["pagination"]["total"] == 2
    as_mentor = await client.get(
        "/api/mentors/connections", params={"role": "mentor"}, headers=woman.headers
    )
    assert [c["id"] for c in as_mentor.json()["connections"]] == [asking_amara["id"]]
    accepted = await client.get(
        "/api/mentors/connections", params={"status": "accepted"}, headers=sponsor.headers
    )
    assert {c["mentee"]["name"] for c in accepted.json()["connections"]} == {
        "Mentee 0",
        "Mentee 1",
    }

    my_mentees = (await client.get("/api/mentors/mentees", headers=sponsor.headers)).json()
    assert {m["name"] for m in my_mentees["mentees"]} == {"Mentee 0", "Mentee 1"}
    assert all(m["status"] == "accepted" for m in my_mentees["mentees"])
    none = (await client.get("/api/mentors/mentees", headers=mentees[0].headers)).json()
    assert none["mentees"] == []

    path = f"/api/mentors/{grace['id']}/mentees"
    page = (await client.get(path, headers=sponsor.headers)).json()
    assert page["pagination"]["total"] == 2 and len(page["data"]) == 2
    pending = (await client.get(path, params={"status": "pending"}, headers=admin.headers)).json()
    assert {m["name"] for m in pending["data"]} == {"Mentee 2", woman.name}
    for outsider in (woman, mentees[0]):
        forbidden = await client.get(path, headers=outsider.headers)
        assert forbidden.status_code == 403
    assert (await client.get(path)).status_code == 401
    assert (await client.get("/api/mentors/connections")).status_code == 401


async def test_connection_lists_run_a_fixed_number_of_queries(
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    sponsor: AuthedUser,
    count_queries: QueryCounter,
) -> None:
    mentor = await become_mentor(client, sponsor, maxMentees=50)
    paths = [
        "/api/mentors/connections?limit=100",
        "/api/mentors/mentees?limit=100",
        f"/api/mentors/{mentor['id']}/mentees?limit=100",
    ]

    async def statements() -> dict[str, int]:
        counts = {}
        for path in paths:
            count_queries.reset()
            assert (await client.get(path, headers=sponsor.headers)).status_code == 200
            counts[path] = count_queries.count
        return counts

    async def add_mentees(how_many: int) -> None:
        for _ in range(how_many):
            mentee = await make_user()
            connection = await request_mentoring(client, mentee, mentor["id"])
            await accept(client, sponsor, mentor["id"], connection["id"])

    await add_mentees(1)
    one = await statements()
    await add_mentees(20)
    assert await statements() == one
    assert max(one.values()) <= 4

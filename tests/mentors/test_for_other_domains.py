"""What mentoring offers other domains: account deletion and export, blocks and bans, and
whether two people may message each other as mentor and mentee."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from peal.mentors import service
from peal.mentors.models import MentorProfile, MentorSkill
from tests.conftest import AuthedUser
from tests.mentors.helpers import (
    accept,
    answer,
    become_mentor,
    connection_rows,
    profile_row,
    request_mentoring,
)


async def _run(app: FastAPI, work: Callable[[Any], Any]) -> Any:
    async with app.state.db.sessionmaker() as session:
        result = await work(session)
        await session.commit()
        return result


async def test_have_accepted_connection_either_way(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    woman: AuthedUser,
    sponsor: AuthedUser,
) -> None:
    mentor = await become_mentor(client, sponsor)
    stranger = await make_user()
    connection = await request_mentoring(client, woman, mentor["id"])

    async def linked(a: AuthedUser, b: AuthedUser) -> bool:
        return bool(await _run(app, lambda s: service.have_accepted_connection(s, a.id, b.id)))

    assert not await linked(woman, sponsor)  # pending is not enough
    await accept(client, sponsor, mentor["id"], connection["id"])
    assert await linked(woman, sponsor) and await linked(sponsor, woman)
    assert not await linked(woman, stranger) and not await linked(sponsor, stranger)
    ended = await client.delete(f"/api/mentors/{mentor['id']}/connection", headers=woman.headers)
    assert ended.status_code == 204
    assert not await linked(woman, sponsor)


async def test_close_pending_between_two_people(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    woman: AuthedUser,
    sponsor: AuthedUser,
) -> None:
    """A block: the pending requests between the two go (both ways), nothing else does."""
    her_profile = await become_mentor(client, woman)
    his_profile = await become_mentor(client, sponsor)
    third = await make_user()
    await request_mentoring(client, woman, his_profile["id"])
    await request_mentoring(client, sponsor, her_profile["id"])
    kept_pending = await request_mentoring(client, third, his_profile["id"])
    kept_accepted = await request_mentoring(client, third, her_profile["id"])
    await accept(client, woman, her_profile["id"], kept_accepted["id"])

    closed = await _run(app, lambda s: service.close_pending_between(s, sponsor.id, woman.id))
    assert closed == 2
    assert {row.id for row in await connection_rows(app)} == {
        uuid.UUID(kept_pending["id"]),
        uuid.UUID(kept_accepted["id"]),
    }
    assert await _run(app, lambda s: service.close_pending_between(s, woman.id, sponsor.id)) == 0
    assert (await profile_row(app, her_profile["id"])).current_mentees_count == 1


async def test_close_for_user_ends_pending_requests_to_and_from_a_banned_person(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    woman: AuthedUser,
    sponsor: AuthedUser,
) -> None:
    banned_profile = await become_mentor(client, woman)
    other_profile = await become_mentor(client, sponsor)
    fans = [await make_user() for _ in range(3)]
    asking_her = [await request_mentoring(client, fan, banned_profile["id"]) for fan in fans]
    await request_mentoring(client, woman, other_profile["id"])  # her own request
    mentorship = await request_mentoring(client, fans[0], other_profile["id"])
    await accept(client, sponsor, other_profile["id"], mentorship["id"])
    unrelated = await request_mentoring(client, fans[1], other_profile["id"])
    accepted_of_hers = await answer(
        client, woman, banned_profile["id"], asking_her[0]["id"], "accept"
    )
    assert accepted_of_hers.status_code == 200

    closed = await _run(app, lambda s: service.close_for_user(s, woman.id))
    assert closed == 3  # two waiting for her, and hers to the other mentor
    rows = {row.id: row.status for row in await connection_rows(app)}
    assert rows == {
        uuid.UUID(accepted_of_hers.json()["connection"]["id"]): "accepted",
        uuid.UUID(mentorship["id"]): "accepted",
        uuid.UUID(unrelated["id"]): "pending",
    }


async def test_purge_user_keeps_the_other_mentors_counts_exact(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    woman: AuthedUser,
) -> None:
    """The leaving person mentors two people and is the mentee of two mentors (one accepted,
    one pending) and was rejected by a third."""
    mentors = [await make_user("sponsor") for _ in range(3)]
    profiles = [await become_mentor(client, m, skills=["finance"]) for m in mentors]
    for index, (mentor, profile) in enumerate(zip(mentors, profiles, strict=True)):
        connection = await request_mentoring(client, woman, profile["id"])
        if index == 0:
            await accept(client, mentor, profile["id"], connection["id"])
        if index == 2:
            await answer(client, mentor, profile["id"], connection["id"], "reject")
    others_mentee = await make_user()
    kept = await request_mentoring(client, others_mentee, profiles[0]["id"])
    await accept(client, mentors[0], profiles[0]["id"], kept["id"])
    her_profile = await become_mentor(client, woman, skills=["baking", "pricing"])
    for _ in range(2):
        mentee = await make_user()
        connection = await request_mentoring(client, mentee, her_profile["id"])
        await accept(client, woman, her_profile["id"], connection["id"])

    await _run(app, lambda s: service.purge_user(s, woman.id))

    assert [(await profile_row(app, p["id"])).current_mentees_count for p in profiles] == [1, 0, 0]
    rows = await connection_rows(app)
    assert [row.id for row in rows] == [uuid.UUID(kept["id"])]

    async def count(model: Any) -> int:
        return int(await _run(app, lambda s: s.scalar(select(func.count()).select_from(model))))

    assert await count(MentorProfile) == 3
    assert await count(MentorSkill) == 3  # the three mentors' "finance"


async def test_deleting_an_account_over_http_frees_the_mentors_place(
    app: FastAPI,
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
) -> None:
    mentor = await become_mentor(client, sponsor, maxMentees=1)
    connection = await request_mentoring(client, woman, mentor["id"])
    await accept(client, sponsor, mentor["id"], connection["id"])
    assert (await client.delete(f"/api/users/{woman.id}", headers=woman.headers)).status_code == 204
    shown = (await client.get(f"/api/mentors/{mentor['id']}")).json()["mentor"]
    assert shown["currentMenteesCount"] == 0
    assert await connection_rows(app) == []


async def test_export_user_lists_the_profile_and_connections(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    woman: AuthedUser,
    sponsor: AuthedUser,
) -> None:
    assert await _run(app, lambda s: service.export_user(s, woman.id)) == {
        "mentorProfile": None,
        "mentorConnections": [],
    }
    mentor = await become_mentor(client, sponsor)
    her_profile = await become_mentor(client, woman, skills=["baking", "pricing"], maxMentees=3)
    asked = await request_mentoring(client, woman, mentor["id"], "Help with funding please")
    mentee = await make_user(name="Her Mentee")
    mentoring = await request_mentoring(client, mentee, her_profile["id"])
    await accept(client, woman, her_profile["id"], mentoring["id"])

    exported = await _run(app, lambda s: service.export_user(s, woman.id))
    json.dumps(exported)  # JSON-ready as it is
    profile = exported["mentorProfile"]
    assert profile["id"] == her_profile["id"]
    assert profile["skills"] == ["baking", "pricing"]
    assert (profile["maxMentees"], profile["currentMenteesCount"]) == (3, 1)
    assert profile["createdAt"].endswith("Z")
    by_id = {c["id"]: c for c in exported["mentorConnections"]}
    assert by_id[asked["id"]] == {
        "id": asked["id"],
        "role": "mentee",
        "mentorId": mentor["id"],
        "with": {"id": str(sponsor.id), "name": sponsor.name},
        "status": "pending",
        "message": "Help with funding please",
        "createdAt": asked["createdAt"],
        "updatedAt": asked["updatedAt"],
    }
    assert by_id[mentoring["id"]]["role"] == "mentor"
    assert by_id[mentoring["id"]]["with"] == {"id": str(mentee.id), "name": "Her Mentee"}
    assert by_id[mentoring["id"]]["status"] == "accepted"
    # Only id and name of the other people: never their email or anything else.
    assert sponsor.email not in json.dumps(exported)

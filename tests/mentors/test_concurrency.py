"""A mentor's capacity holds under real concurrency (PostgreSQL: many transactions at once)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from peal.mentors.models import MentorConnection
from tests.conftest import TARGET, AuthedUser
from tests.mentors.helpers import accept, answer, become_mentor, profile_row, request_mentoring

pytestmark = [
    pytest.mark.committing,  # sessions race each other
    pytest.mark.skipif(
        TARGET != "postgres", reason="SQLite serialises writers: real concurrency needs PostgreSQL"
    ),
]


async def _accepted(app: FastAPI, mentor_id: str) -> int:
    async with app.state.db.sessionmaker() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(MentorConnection)
            .where(
                MentorConnection.mentor_id == uuid.UUID(mentor_id),
                MentorConnection.status == "accepted",
            )
        )
        return int(count or 0)


async def test_twenty_concurrent_accepts_fill_exactly_five_places(
    app: FastAPI, client: httpx.AsyncClient, make_user: Callable[..., Any], sponsor: AuthedUser
) -> None:
    mentor = await become_mentor(client, sponsor, maxMentees=5)
    mentees = [await make_user() for _ in range(20)]
    requests = [await request_mentoring(client, mentee, mentor["id"]) for mentee in mentees]

    responses = await asyncio.gather(
        *(answer(client, sponsor, mentor["id"], r["id"], "accept") for r in requests)
    )

    codes = sorted(response.status_code for response in responses)
    assert codes == [200] * 5 + [409] * 15
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"mentor_full"}
    profile = await profile_row(app, mentor["id"])
    assert profile.current_mentees_count == await _accepted(app, mentor["id"]) == 5
    shown = (await client.get(f"/api/mentors/{mentor['id']}")).json()["mentor"]
    assert shown["currentMenteesCount"] == 5


async def test_concurrent_ends_and_accepts_keep_the_count_exact(
    app: FastAPI, client: httpx.AsyncClient, make_user: Callable[..., Any], sponsor: AuthedUser
) -> None:
    mentor = await become_mentor(client, sponsor, maxMentees=5)
    path = f"/api/mentors/{mentor['id']}/connection"
    mentees = [await make_user() for _ in range(15)]
    requests = [await request_mentoring(client, mentee, mentor["id"]) for mentee in mentees]
    for request in requests[:5]:
        await accept(client, sponsor, mentor["id"], request["id"])

    # The five mentees end their mentorships (each twice, and the mentor ends them too)
    # while the mentor accepts the ten waiting requests.
    responses = await asyncio.gather(
        *(client.delete(path, headers=mentee.headers) for mentee in mentees[:5] for _ in range(2)),
        *(
            client.delete(path, params={"connectionId": r["id"]}, headers=sponsor.headers)
            for r in requests[:5]
        ),
        *(answer(client, sponsor, mentor["id"], r["id"], "accept") for r in requests[5:]),
    )
    assert {r.status_code for r in responses} <= {200, 204, 404, 409}
    ended = sum(1 for r in responses[:15] if r.status_code == 204)
    assert ended == 5  # each mentorship ended exactly once
    accepted = sum(1 for r in responses[15:] if r.status_code == 200)
    assert 0 <= accepted <= 5
    profile = await profile_row(app, mentor["id"])
    assert profile.current_mentees_count == await _accepted(app, mentor["id"]) == accepted


async def test_concurrent_requests_from_one_mentee_make_one_connection(
    app: FastAPI, client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    mentor = await become_mentor(client, sponsor)
    path = f"/api/mentors/{mentor['id']}/connect"
    responses = await asyncio.gather(
        *(client.post(path, json={}, headers=woman.headers) for _ in range(10))
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 9
    async with app.state.db.sessionmaker() as session:
        rows = await session.scalar(select(func.count()).select_from(MentorConnection))
    assert rows == 1

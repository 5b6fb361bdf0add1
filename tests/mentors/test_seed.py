"""`peal seed`'s mentoring step: mentors across skills with pending and accepted requests,
added once, so the client's mentor-match page has content."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from peal.mentors.models import MentorConnection, MentorProfile
from peal.seed import DEMO_CONNECTIONS, DEMO_MENTORS, seed_mentoring
from peal.users.models import User
from peal.users.service import get_user_by_email
from tests.conftest import AuthedUser

DEMO_EMAILS = {
    "amara@demo.peal.app": "woman",
    "lucia@demo.peal.app": "woman",
    "grace@demo.peal.app": "sponsor",
}


async def _count(app: FastAPI, query: Any) -> int:
    async with app.state.db.sessionmaker() as session:
        return int(await session.scalar(query) or 0)


async def test_seed_adds_mentors_and_connections_once(
    app: FastAPI, client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> None:
    people: dict[str, AuthedUser] = {
        email: await make_user(role, email=email) for email, role in DEMO_EMAILS.items()
    }
    for _ in range(2):
        async with app.state.db.sessionmaker() as session:
            users: dict[str, User] = {}
            for email, person in people.items():
                user = await session.get(User, person.id)
                assert user is not None
                users[email] = user
            await seed_mentoring(session, app.state.passwords, users)

    assert await _count(app, select(func.count()).select_from(MentorProfile)) == len(DEMO_MENTORS)
    assert await _count(app, select(func.count()).select_from(MentorConnection)) == len(
        DEMO_CONNECTIONS
    )
    statuses = await _count(app, select(func.count()).where(MentorConnection.status == "accepted"))
    assert statuses == sum(1 for *_, accepted in DEMO_CONNECTIONS if accepted)

    amara = people["amara@demo.peal.app"]
    listed = (await client.get("/api/mentors", headers=amara.headers)).json()
    assert listed["pagination"]["total"] == len(DEMO_MENTORS)
    assert len({skill for m in listed["data"] for skill in m["skills"]}) >= 10
    async with app.state.db.sessionmaker() as session:
        nadia = await get_user_by_email(session, "nadia@demo.peal.app")
    assert nadia is not None and nadia.email_verified
    matches = (
        await client.get("/api/mentors/match/recommendations", headers=amara.headers)
    ).json()["matches"]
    # Amara has asked Grace and is mentored by Fatima: the others are suggested.
    assert matches and matches[0]["profile"]["user"]["id"] == str(nadia.id)
    assert len(matches) == len(DEMO_MENTORS) - 2
    grace = people["grace@demo.peal.app"]
    mine = (await client.get("/api/mentors/connections", headers=grace.headers)).json()
    assert {c["status"] for c in mine["connections"]} == {"pending", "accepted"}

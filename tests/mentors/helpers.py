"""Setup calls for the mentoring tests; each checks its own answer."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from peal.mentors.models import MentorConnection, MentorProfile
from peal.users.models import UserInterest, UserSkill
from tests.conftest import AuthedUser


async def become_mentor(
    client: httpx.AsyncClient, user: AuthedUser, **fields: Any
) -> dict[str, Any]:
    body = {"bio": "I mentor founders.", "skills": ["finance"], "yearsExperience": 5, **fields}
    response = await client.post("/api/mentors", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    mentor: dict[str, Any] = response.json()["mentor"]
    return mentor


async def request_mentoring(
    client: httpx.AsyncClient, mentee: AuthedUser, mentor_id: str, message: str | None = None
) -> dict[str, Any]:
    body = {"message": message} if message is not None else {}
    response = await client.post(
        f"/api/mentors/{mentor_id}/connect", json=body, headers=mentee.headers
    )
    assert response.status_code == 201, response.text
    connection: dict[str, Any] = response.json()["connection"]
    return connection


async def answer(
    client: httpx.AsyncClient, mentor: AuthedUser, mentor_id: str, connection_id: str, action: str
) -> httpx.Response:
    return await client.put(
        f"/api/mentors/{mentor_id}/connection",
        json={"connectionId": connection_id, "action": action},
        headers=mentor.headers,
    )


async def accept(
    client: httpx.AsyncClient, mentor: AuthedUser, mentor_id: str, connection_id: str
) -> dict[str, Any]:
    response = await answer(client, mentor, mentor_id, connection_id, "accept")
    assert response.status_code == 200, response.text
    connection: dict[str, Any] = response.json()["connection"]
    return connection


async def add_terms(
    app: FastAPI, user_id: uuid.UUID, skills: tuple[str, ...] = (), interests: tuple[str, ...] = ()
) -> None:
    async with app.state.db.sessionmaker() as session:
        session.add_all(UserSkill(user_id=user_id, skill=skill) for skill in skills)
        session.add_all(UserInterest(user_id=user_id, interest=term) for term in interests)
        await session.commit()


async def profile_row(app: FastAPI, mentor_id: str) -> MentorProfile:
    async with app.state.db.sessionmaker() as session:
        profile = await session.get(MentorProfile, uuid.UUID(mentor_id))
        assert profile is not None
        return profile


async def connection_rows(app: FastAPI) -> list[MentorConnection]:
    async with app.state.db.sessionmaker() as session:
        return list((await session.scalars(select(MentorConnection))).all())

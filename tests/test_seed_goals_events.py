"""`peal seed`'s goals and events step: a full dashboard for the demo users, added once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from peal.events.models import Event, EventRegistration
from peal.goals.models import Goal, GoalMilestone
from peal.seed import DEMO_EVENTS, DEMO_GOALS, seed_goals_and_events
from peal.users.models import User
from tests.conftest import AuthedUser

DEMO_EMAILS = {
    "amara@demo.peal.app": "woman",
    "lucia@demo.peal.app": "woman",
    "grace@demo.peal.app": "sponsor",
}


async def _seed_twice(app: FastAPI, people: dict[str, AuthedUser]) -> None:
    for _ in range(2):
        async with app.state.db.sessionmaker() as session:
            users: dict[str, User] = {}
            for email, person in people.items():
                user = await session.get(User, person.id)
                assert user is not None
                users[email] = user
            await seed_goals_and_events(session, users)


async def _count(app: FastAPI, model: Any) -> int:
    async with app.state.db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_seed_fills_the_dashboard_once(
    app: FastAPI, client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> None:
    people = {email: await make_user(role, email=email) for email, role in DEMO_EMAILS.items()}
    await _seed_twice(app, people)

    assert await _count(app, Goal) == len(DEMO_GOALS)
    assert await _count(app, GoalMilestone) == sum(len(g.milestones) for g in DEMO_GOALS)
    assert await _count(app, Event) == len(DEMO_EVENTS)
    assert await _count(app, EventRegistration) == sum(len(e.attendees) for e in DEMO_EVENTS)

    amara, lucia = people["amara@demo.peal.app"], people["lucia@demo.peal.app"]
    goals = (await client.get("/api/goals", headers=amara.headers)).json()["goals"]
    assert {goal["status"] for goal in goals} == {"in_progress", "completed", "on_hold"}
    bakery = next(goal for goal in goals if goal["title"] == "Open the bakery by spring")
    assert bakery["progress"] == 50
    assert [m["completed"] for m in bakery["milestones"]] == [True, True, False, False]
    in_progress = await client.get("/api/goals?status=in_progress", headers=amara.headers)
    assert len(in_progress.json()["goals"]) == 2
    stats = (await client.get("/api/goals/stats/summary", headers=lucia.headers)).json()["stats"]
    assert stats["total"] == 3 and stats["overdue"] == 1

    upcoming = await client.get("/api/events?status=upcoming", headers=amara.headers)
    events = upcoming.json()["events"]
    assert len(events) == len(DEMO_EVENTS)
    clinic = next(e for e in events if e["title"].startswith("Pitch clinic"))
    assert clinic["isVirtual"] is True and clinic["isRegistered"] is True
    assert clinic["meetingUrl"] == "https://meet.example.com/peal-pitch-clinic"
    assert clinic["attendeeCount"] == 2
    workshop = next(e for e in events if e["title"] == "Code your first web page")
    assert workshop["maxAttendees"] == 12 and workshop["attendeeCount"] == 1
    circle = next(e for e in events if e["title"].startswith("Mentorship circle"))
    assert circle["meetingUrl"] is None  # Amara is not registered for it

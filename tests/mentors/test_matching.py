"""Mentor matching fixed on a small known population: the ranking, the scores, the reasons,
who is never suggested, and a fixed number of queries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from peal.users.models import User
from tests.conftest import AuthedUser, QueryCounter
from tests.mentors.helpers import accept, add_terms, become_mentor, request_mentoring

RECOMMENDATIONS = "/api/mentors/match/recommendations"


@pytest.fixture
async def population(
    app: FastAPI, client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> dict[str, Any]:
    """Amara (skills baking, marketing; interests finance, retail; Lagos) and mentors whose
    points are worked out by hand from the formula in peal.mentors.matching."""
    amara = await make_user("woman", name="Amara", location="Lagos, Nigeria")
    await add_terms(app, amara.id, skills=("baking", "marketing"), interests=("finance", "retail"))

    async def mentor(name: str, location: str | None = None, **fields: Any) -> dict[str, Any]:
        user = await make_user("sponsor", name=name, location=location)
        profile = await become_mentor(client, user, **fields)
        return {"user": user, "profile": profile}

    people = {
        "amara": amara,
        # topics 500 (3 of 4 terms, saturated) + same place 200 + available 100
        # + capacity 50 + experience 150 = 1000
        "a": await mentor(
            "Adaeze",
            "  lagos, NIGERIA ",
            skills=["finance", "retail", "marketing", "cooking"],
            yearsExperience=20,
        ),
        # topics 333 (2 of 3) + same place 200 + busy 40 + capacity 50 + experience 0 = 623
        "c": await mentor(
            "Chioma",
            "Lagos, Nigeria",
            skills=["baking", "marketing"],
            yearsExperience=None,
            availability="busy",
            maxMentees=2,
            acceptsRemote=False,
        ),
        # topics 166 + remote 100 + available 100 + capacity 50 + experience 60 = 476
        "b": await mentor("Bisi", "Accra, Ghana", skills=["finance"], yearsExperience=6),
        # no shared term: remote 100 + available 100 + capacity 50 + experience 150 = 400,
        # twice: a tie, broken by the mentor id
        "d": await mentor("Dora", "Nairobi", skills=["python"], yearsExperience=15, maxMentees=1),
        "j": await mentor("Jade", "Nairobi", skills=["python"], yearsExperience=15, maxMentees=1),
        # never suggested:
        "unavailable": await mentor("Uma", skills=["finance"], availability="unavailable"),
        "full": await mentor("Fola", skills=["finance", "retail", "marketing"], maxMentees=1),
        "private": await mentor("Priya", skills=["finance", "retail", "marketing"]),
        "asked": await mentor("Kemi", skills=["finance", "retail", "marketing"]),
        "self": {"user": amara, "profile": await become_mentor(client, amara, skills=["finance"])},
    }
    other = await make_user()
    filled = await request_mentoring(client, other, people["full"]["profile"]["id"])
    await accept(client, people["full"]["user"], people["full"]["profile"]["id"], filled["id"])
    await request_mentoring(client, amara, people["asked"]["profile"]["id"])
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(User).where(User.id == people["private"]["user"].id).values(is_public=False)
        )
        await session.commit()
    return people


def _ids(people: dict[str, Any], *keys: str) -> list[str]:
    return [people[key]["profile"]["id"] for key in keys]


async def _matches(client: httpx.AsyncClient, user: AuthedUser, **params: Any) -> list[Any]:
    response = await client.get(RECOMMENDATIONS, params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    matches: list[Any] = response.json()["matches"]
    return matches


async def test_ranking_scores_and_reasons(
    client: httpx.AsyncClient, population: dict[str, Any]
) -> None:
    amara = population["amara"]
    matches = await _matches(client, amara, userId=str(amara.id))
    tied = sorted(_ids(population, "d", "j"))
    assert [m["mentorId"] for m in matches] == _ids(population, "a", "c", "b") + tied
    assert [m["score"] for m in matches] == [1.0, 0.623, 0.476, 0.4, 0.4]

    best = matches[0]
    assert set(best) == {
        "mentorId", "score", "matchedSkills", "matchedInterests", "locationMatch",
        "availability", "yearsExperience", "reasons", "profile",
    }  # fmt: skip
    assert best["matchedSkills"] == ["marketing"]
    assert best["matchedInterests"] == ["finance", "retail"]
    assert best["locationMatch"] is True
    assert (best["availability"], best["yearsExperience"]) == ("available", 20)
    assert best["reasons"] == [
        "Shares 2 of your interests: finance, retail",
        "Skilled in 1 of your skills: marketing",
        "Based in lagos, NIGERIA, like you",
        "20 years of experience",
        "Available now",
        "5 of 5 mentee places free",
    ]
    profile = best["profile"]
    assert profile["id"] == best["mentorId"]
    assert profile["skills"] == ["cooking", "finance", "marketing", "retail"]
    assert profile["user"]["name"] == "Adaeze"
    assert set(profile["user"]) == {"id", "name", "avatarUrl", "location", "bio"}
    assert {"bio", "availability", "yearsExperience"} <= set(profile)

    chioma = matches[1]
    assert chioma["matchedSkills"] == ["baking", "marketing"]
    assert chioma["matchedInterests"] == []
    assert chioma["reasons"] == [
        "Skilled in 2 of your skills: baking, marketing",
        "Based in Lagos, Nigeria, like you",
        "Busy, but open to requests",
        "2 of 2 mentee places free",
    ]
    bisi = matches[2]
    assert bisi["reasons"][:2] == ["Shares 1 of your interests: finance", "Mentors remotely"]
    assert bisi["locationMatch"] is True  # remote
    dora = matches[3]
    assert dora["matchedSkills"] == [] and dora["matchedInterests"] == []
    assert dora["reasons"][0] == "Mentors remotely"

    # Deterministic: the same inputs give the same answer; `limit` cuts the same list.
    assert await _matches(client, amara) == matches
    assert await _matches(client, amara, limit=2) == matches[:2]


async def test_criteria_add_terms_replace_the_place_and_filter(
    client: httpx.AsyncClient, population: dict[str, Any]
) -> None:
    amara = population["amara"]

    async def match(criteria: dict[str, Any], limit: int = 10) -> list[Any]:
        response = await client.post(
            "/api/mentors/match",
            json={"userId": str(amara.id), "criteria": criteria, "limit": limit},
            headers=amara.headers,
        )
        assert response.status_code == 200, response.text
        matches: list[Any] = response.json()["matches"]
        return matches

    experienced = await match({"skills": ["Python"], "minExperience": 10})
    tied = sorted(_ids(population, "d", "j"))
    assert [m["mentorId"] for m in experienced] == _ids(population, "a") + tied
    assert experienced[1]["matchedSkills"] == ["python"]
    assert experienced[1]["score"] == 0.566  # 166 + 100 + 100 + 50 + 150

    # In Accra, Bisi is in the same place (476 - 100 + 200) and Adaeze only remote (900).
    in_accra = await match({"location": "accra, ghana"})
    assert [m["score"] for m in in_accra[:2]] == [0.9, 0.576]
    assert in_accra[1]["mentorId"] == population["b"]["profile"]["id"]
    assert in_accra[1]["reasons"][1] == "Based in Accra, Ghana, like you"
    assert in_accra[0]["reasons"][2] == "Mentors remotely"
    assert [m["mentorId"] for m in await match({"availability": "busy"})] == _ids(population, "c")
    remote = await match({"acceptsRemote": True})
    assert population["c"]["profile"]["id"] not in {m["mentorId"] for m in remote}
    assert len(await match({}, limit=1)) == 1


async def test_who_may_ask_for_whose_matches(
    client: httpx.AsyncClient,
    population: dict[str, Any],
    woman: AuthedUser,
    admin: AuthedUser,
) -> None:
    amara = population["amara"]
    other = await client.get(
        RECOMMENDATIONS, params={"userId": str(amara.id)}, headers=woman.headers
    )
    assert other.status_code == 403
    posted = await client.post(
        "/api/mentors/match", json={"userId": str(amara.id)}, headers=woman.headers
    )
    assert posted.status_code == 403
    assert (await client.get(RECOMMENDATIONS)).status_code == 401
    for_her = await _matches(client, admin, userId=str(amara.id))
    assert for_her == await _matches(client, amara)
    missing = await client.get(
        RECOMMENDATIONS,
        params={"userId": "00000000-0000-0000-0000-000000000009"},
        headers=admin.headers,
    )
    assert missing.status_code == 404
    for params in ({"limit": 0}, {"limit": 51}, {"userId": "nope"}):
        bad = await client.get(RECOMMENDATIONS, params=params, headers=amara.headers)
        assert bad.status_code == 422
    too_many = await client.post("/api/mentors/match", json={"limit": 51}, headers=amara.headers)
    assert too_many.status_code == 422


async def test_a_woman_with_no_terms_still_gets_ranked_mentors(
    client: httpx.AsyncClient, population: dict[str, Any], woman: AuthedUser
) -> None:
    matches = await _matches(client, woman)
    # Without terms or a place: remote 100 + availability + capacity + experience, so
    # Adaeze, Dora and Jade tie at 400 (in id order) and Chioma (not remote, busy) is last.
    assert [m["mentorId"] for m in matches[:3]] == sorted(_ids(population, "a", "d", "j"))
    assert [m["score"] for m in matches[:3]] == [0.4, 0.4, 0.4]
    assert matches[-1]["mentorId"] == population["c"]["profile"]["id"]
    assert matches[-1]["score"] == 0.09  # busy 40 + capacity 50
    assert all(m["matchedSkills"] == [] == m["matchedInterests"] for m in matches)
    # Her own pending request does not hide the mentor from others.
    assert population["asked"]["profile"]["id"] in {m["mentorId"] for m in matches}


async def test_recommendations_run_a_fixed_number_of_queries(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    count_queries: QueryCounter,
) -> None:
    mentee = await make_user("woman", location="Lagos")
    await add_terms(app, mentee.id, skills=("finance",), interests=("retail", "marketing"))

    async def statements() -> tuple[tuple[int, int], int, int]:
        count_queries.reset()
        response = await client.get(RECOMMENDATIONS, params={"limit": 50}, headers=mentee.headers)
        assert response.status_code == 200
        got = len(response.json()["matches"])
        by_get = count_queries.count
        count_queries.reset()
        posted = await client.post(
            "/api/mentors/match",
            json={"criteria": {"skills": ["pricing"], "location": "Accra"}, "limit": 50},
            headers=mentee.headers,
        )
        assert posted.status_code == 200
        return (by_get, count_queries.count), got, len(posted.json()["matches"])

    first = await make_user("sponsor", location="Lagos")
    await become_mentor(client, first, skills=["finance", "retail"])
    one, got, posted = await statements()
    assert got == posted == 1
    for index in range(49):
        user = await make_user("sponsor", location="Lagos" if index % 2 else "Accra")
        await become_mentor(client, user, skills=[f"skill {index}", "retail", "pricing"])
    many, got, posted = await statements()
    assert got == posted == 50
    assert one == many
    assert max(one) <= 5  # the caller, her skills, her interests, the ranking, the skills

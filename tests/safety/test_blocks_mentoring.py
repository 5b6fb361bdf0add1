"""Blocks reach mentoring: a blocked mentor vanishes from the directory, her profile and the
matches, neither can connect to the other, and pending requests between them end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import AuthedUser
from tests.mentors.helpers import become_mentor, request_mentoring


@pytest.mark.parametrize("who_blocks", ["mentee", "mentor"])
async def test_blocked_people_vanish_from_each_others_mentoring(
    client: httpx.AsyncClient, make_user: Callable[..., Any], who_blocks: str
) -> None:
    mentor: AuthedUser = await make_user("woman", name="Mentor Blocked")
    mentee: AuthedUser = await make_user("woman", name="Mentee Blocker")
    profile = await become_mentor(client, mentor, skills=["finance"])
    await request_mentoring(client, mentee, profile["id"], "Hello")

    blocker, blocked = (mentee, mentor) if who_blocks == "mentee" else (mentor, mentee)
    answer = await client.post(f"/api/users/{blocked.id}/block", headers=blocker.headers)
    assert answer.status_code == 200, answer.text

    # The pending request is gone for both.
    for person in (mentor, mentee):
        connections = await client.get("/api/mentors/connections", headers=person.headers)
        assert connections.status_code == 200
        assert connections.json()["connections"] == []

    # The mentee no longer finds the mentor anywhere, nor can connect again.
    listed = await client.get("/api/mentors", headers=mentee.headers)
    assert profile["id"] not in {m["id"] for m in listed.json()["data"]}
    one = await client.get(f"/api/mentors/{profile['id']}", headers=mentee.headers)
    assert one.status_code == 404
    matches = await client.get(
        f"/api/mentors/match/recommendations?userId={mentee.id}", headers=mentee.headers
    )
    assert matches.status_code == 200
    assert profile["id"] not in {m["mentorId"] for m in matches.json()["matches"]}
    again = await client.post(
        f"/api/mentors/{profile['id']}/connect", json={}, headers=mentee.headers
    )
    assert again.status_code == 404


@pytest.mark.parametrize("who_blocks", ["amara", "other"])
async def test_a_block_stops_messages_both_ways_and_keeps_the_history(
    client: httpx.AsyncClient, make_user: Callable[..., Any], who_blocks: str
) -> None:
    amara: AuthedUser = await make_user("woman", name="Amara")
    other: AuthedUser = await make_user("woman", name="Other")
    started = await client.post(
        "/api/conversations",
        json={"participantId": str(other.id), "content": "Hello"},
        headers=amara.headers,
    )
    assert started.status_code in (200, 201), started.text
    conversation_id = started.json()["conversation"]["id"]
    blocker, blocked = (amara, other) if who_blocks == "amara" else (other, amara)
    answer = await client.post(f"/api/users/{blocked.id}/block", headers=blocker.headers)
    assert answer.status_code == 200

    for sender in (amara, other):
        sent = await client.post(
            f"/api/conversations/{conversation_id}/messages",
            json={"content": "Are you there?"},
            headers=sender.headers,
        )
        assert sent.status_code == 403
        assert sent.json()["code"] == "blocked"
    history = await client.get(f"/api/conversations/{conversation_id}", headers=blocker.headers)
    assert history.status_code == 200
    assert [m["content"] for m in history.json()["conversation"]["messages"]] == ["Hello"]

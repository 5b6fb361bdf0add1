"""Deletion is complete: files, goals, uploads, registrations (seats freed), hosted events
(cancelled, attendees told); only anonymised money records stay; no drift elsewhere."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from peal.events.models import Event, EventRegistration
from peal.funding.models import FundingDonation
from peal.goals.models import Goal
from peal.uploads.models import Upload
from peal.users.models import UserBlock, UserMute
from tests.conftest import AuthedUser
from tests.events.test_events import create_event
from tests.funding.helpers import create_request, donate, notifications_of
from tests.goals.test_goals import create_goal
from tests.stories.test_stories import create_story
from tests.uploads.helpers import drain_jobs, png_bytes, publish, read_url, uploaded_url
from tests.users.conftest import Sql


async def _count(sql: Sql, model: Any, *where: Any) -> int:
    return int(await sql.scalar(select(func.count()).select_from(model).where(*where)))


async def _delete(client: httpx.AsyncClient, user: AuthedUser) -> None:
    response = await client.delete(f"/api/users/{user.id}", headers=user.headers)
    assert response.status_code == 204, response.text
    await drain_jobs()


async def test_her_files_goals_and_upload_rows_are_gone(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, sql: Sql
) -> None:
    created = await publish(client, woman)
    video = (await client.get(f"/api/videos/{created['id']}", headers=woman.headers)).json()
    video = video.get("video", video)
    image = await uploaded_url(client, woman, png_bytes(), "image/png")
    story = await create_story(client, woman, beforeImageUrl=image)
    theirs = await uploaded_url(client, sponsor, png_bytes(), "image/png")
    await create_goal(client, woman, title="Leave my abusive partner by June")
    urls = [video["videoUrl"], video["thumbnailUrl"], story["beforeImageUrl"]]
    for url in urls:
        assert (await read_url(client, url)).status_code == 200, url

    await _delete(client, woman)

    for url in urls:
        assert (await read_url(client, url)).status_code == 404, url
    assert (await read_url(client, theirs)).status_code == 200
    assert await _count(sql, Goal, Goal.user_id == woman.id) == 0
    assert await _count(sql, Upload, Upload.owner_id == woman.id) == 0
    assert await _count(sql, Upload, Upload.owner_id == sponsor.id) == 1


async def test_her_registrations_free_their_seats(
    client: httpx.AsyncClient, make_user: Callable[..., Any], woman: AuthedUser, sql: Sql
) -> None:
    host: AuthedUser = await make_user("woman")
    next_in_line: AuthedUser = await make_user("sponsor")
    event = await create_event(client, host, maxAttendees=1)
    path = f"/api/events/{event['id']}/register"
    assert (await client.post(path, headers=woman.headers)).status_code in (200, 201)
    full = await client.post(path, headers=next_in_line.headers)
    assert full.status_code == 409 and full.json()["code"] == "event_full"

    await _delete(client, woman)

    assert await _count(sql, EventRegistration, EventRegistration.user_id == woman.id) == 0
    seat = await client.post(path, headers=next_in_line.headers)
    assert seat.status_code in (200, 201), seat.text
    assert seat.json()["attendeeCount"] == 1


async def test_events_she_hosts_are_cancelled_and_attendees_told(
    client: httpx.AsyncClient, app: FastAPI, woman: AuthedUser, sponsor: AuthedUser, sql: Sql
) -> None:
    event = await create_event(client, woman, title="Bakery meetup")
    register = await client.post(f"/api/events/{event['id']}/register", headers=sponsor.headers)
    assert register.status_code in (200, 201)

    await _delete(client, woman)

    assert await _count(sql, Event, Event.host_id == woman.id) == 0
    told = await notifications_of(app, sponsor.id, "event_cancelled")
    assert [n.data["eventTitle"] for n in told if n.data] == ["Bakery meetup"]
    assert (await client.get(f"/api/events/{event['id']}")).status_code == 404


async def test_only_anonymised_money_records_stay(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, sql: Sql
) -> None:
    request = await create_request(client, woman)
    await donate(client, sponsor, request["id"], 30, message="For Amara, from Sofia")
    await _delete(client, sponsor)

    rows: list[FundingDonation] = await sql.scalars(
        select(FundingDonation).where(FundingDonation.donor_id == sponsor.id)
    )
    assert len(rows) == 1 and rows[0].message is None
    shown = (await client.get(f"/api/requests/{request['id']}")).json()["request"]
    assert shown["currentAmount"] == 30
    assert [d["donor"] for d in shown["recentDonations"]] == [None]


async def test_deleting_does_not_move_updated_at_of_stories_she_celebrated(
    client: httpx.AsyncClient, woman: AuthedUser, make_user: Callable[..., Any]
) -> None:
    fan: AuthedUser = await make_user("sponsor")
    story = await create_story(client, woman)
    celebrated = await client.post(f"/api/stories/{story['id']}/celebrate", headers=fan.headers)
    assert celebrated.status_code == 200
    before = (await client.get(f"/api/stories/{story['id']}")).json()["story"]

    await _delete(client, fan)

    after = (await client.get(f"/api/stories/{story['id']}")).json()["story"]
    assert after["celebrationsCount"] == 0
    assert after["updatedAt"] == before["updatedAt"]


async def test_blocks_and_mutes_both_ways_go(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, sql: Sql
) -> None:
    await sql.add(
        UserBlock(blocker_id=woman.id, blocked_id=sponsor.id),
        UserMute(muter_id=sponsor.id, muted_id=woman.id),
    )
    await _delete(client, woman)
    assert await _count(sql, UserBlock) == 0
    assert await _count(sql, UserMute) == 0


async def test_an_admin_deletes_someone_else(
    client: httpx.AsyncClient, woman: AuthedUser, admin: AuthedUser, sql: Sql
) -> None:
    await create_goal(client, woman)
    response = await client.delete(f"/api/users/{woman.id}", headers=admin.headers)
    assert response.status_code == 204
    assert await _count(sql, Goal, Goal.user_id == woman.id) == 0
    assert uuid.UUID(str(woman.id))

"""Events over HTTP: the client's shapes, host rules, meeting URL visibility, registrations."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from peal.events.models import Event, EventRegistration
from peal.notifications.models import Notification
from peal.users.models import User
from tests import conftest
from tests.conftest import AuthedUser, QueryCounter
from tests.helpers import ok

EVENT_FIELDS = {
    "id", "hostId", "host", "title", "description", "coverImage", "eventDate", "endDate",
    "location", "isVirtual", "meetingUrl", "category", "maxAttendees", "attendeeCount", "status",
    "isRegistered", "createdAt", "updatedAt",
}  # fmt: skip
MEETING_URL = "https://meet.example.com/peal-42"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def in_days(days: float) -> str:
    return _iso(datetime.now(UTC) + timedelta(days=days))


async def create_event(
    client: httpx.AsyncClient, host: AuthedUser, **fields: Any
) -> dict[str, Any]:
    body = {
        "title": "Pricing your handmade products",
        "eventDate": in_days(7),
        "category": "workshop",
        "isVirtual": True,
        "meetingUrl": MEETING_URL,
        **fields,
    }
    response = await client.post("/api/events", json=body, headers=host.headers)
    assert response.status_code == 201, response.text
    event: dict[str, Any] = response.json()["event"]
    return event


async def fetch_event(
    client: httpx.AsyncClient, event_id: str, user: AuthedUser | None = None
) -> dict[str, Any]:
    headers = user.headers if user else {}
    response = await client.get(f"/api/events/{event_id}", headers=headers)
    assert response.status_code == 200, response.text
    event: dict[str, Any] = response.json()["event"]
    return event


async def register(client: httpx.AsyncClient, event_id: str, user: AuthedUser) -> httpx.Response:
    return await client.post(f"/api/events/{event_id}/register", headers=user.headers)


async def insert_event(app: FastAPI, host: AuthedUser, **fields: Any) -> uuid.UUID:
    """An event written straight to the database (e.g. in the past, which the API refuses)."""
    values: dict[str, Any] = {
        "title": "Stored event",
        "category": "webinar",
        "event_date": datetime.now(UTC) + timedelta(days=3),
        **fields,
    }
    async with app.state.db.sessionmaker() as session:
        event = Event(host_id=host.id, **values)
        session.add(event)
        await session.commit()
        return event.id


async def scalar(app: FastAPI, statement: Any) -> Any:
    async with app.state.db.sessionmaker() as session:
        return (await session.execute(statement)).scalar_one()


async def notifications_of_type(app: FastAPI, kind: str) -> list[Notification]:
    async with app.state.db.sessionmaker() as session:
        result = await session.execute(select(Notification).where(Notification.type == kind))
        return list(result.scalars().all())


# --- creating and reading -------------------------------------------------------------------


@pytest.mark.parametrize("role", ["woman", "sponsor"])
async def test_any_member_hosts_an_event_with_the_client_shape(
    client: httpx.AsyncClient, make_user: Callable[..., Any], role: str
) -> None:
    host = await make_user(role)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=5)
    response = await client.post(
        "/api/events",
        json={
            "title": "<b>Pricing</b> workshop",
            "description": "Bring <script>x</script>your products",
            "coverImage": "https://cdn.example.com/cover.jpg",
            "eventDate": _iso(start),
            "endDate": _iso(start + timedelta(hours=3)),
            "location": "Online",
            "isVirtual": True,
            "meetingUrl": MEETING_URL,
            "category": "workshop",
            "maxAttendees": 30,
            "attendeeCount": 29,
            "hostId": str(uuid.uuid4()),
        },
        headers=host.headers,
    )
    assert response.status_code == 201, response.text
    event = response.json()["event"]
    assert set(event) == EVENT_FIELDS
    assert event["hostId"] == str(host.id)
    assert event["host"] == {"id": str(host.id), "name": host.name, "avatarUrl": None}
    assert event["title"] == "Pricing workshop"
    assert "<" not in event["description"]
    assert event["eventDate"] == _iso(start)
    assert event["endDate"] == _iso(start + timedelta(hours=3))
    assert event["meetingUrl"] == MEETING_URL  # the host sees it
    assert event["maxAttendees"] == 30
    assert event["attendeeCount"] == 0
    assert event["status"] == "upcoming"
    assert event["isRegistered"] is False
    assert event["createdAt"].endswith("Z")


async def test_hosting_needs_authentication(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/events",
        json={"title": "x", "eventDate": in_days(2), "category": "webinar"},
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"eventDate": "2020-01-01T10:00:00Z"}, "eventDate"),
        ({"eventDate": "2030-01-01T10:00:00"}, "eventDate"),  # no timezone
        ({"endDate": "2020-01-01T10:00:00Z"}, "endDate"),
        # Valid ISO 8601, but past year 9999 once in UTC: a 422, not a failure to store it.
        ({"eventDate": "9999-12-31T23:59:59-23:59"}, "eventDate"),
        ({"endDate": "9999-12-31T23:59:59-23:59"}, "endDate"),
        ({"maxAttendees": 0}, "maxAttendees"),
        ({"maxAttendees": -5}, "maxAttendees"),
        ({"category": "party"}, "category"),
        ({"meetingUrl": "javascript:alert(1)"}, "meetingUrl"),
        ({"meetingUrl": "not a url"}, "meetingUrl"),
        ({"coverImage": "ftp://example.com/a.jpg"}, "coverImage"),
        ({"title": ""}, "title"),
        ({"title": "<i></i>"}, "title"),
        ({"title": "t" * 256}, "title"),
        ({"location": "l" * 256}, "location"),
    ],
)
async def test_create_validation(
    client: httpx.AsyncClient, woman: AuthedUser, changes: dict[str, Any], field: str
) -> None:
    body = {"title": "Workshop", "eventDate": in_days(3), "category": "workshop", **changes}
    response = await client.post("/api/events", json=body, headers=woman.headers)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert field in [detail["field"] for detail in response.json()["details"]]


async def test_events_are_public_but_the_meeting_url_is_not(
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    woman: AuthedUser,
    admin: AuthedUser,
) -> None:
    event = await create_event(client, woman)
    attendee = await make_user("sponsor")
    stranger = await make_user("woman")
    assert (await register(client, event["id"], attendee)).status_code == 201

    anonymous = await fetch_event(client, event["id"])
    assert anonymous["meetingUrl"] is None
    assert anonymous["isRegistered"] is False
    assert anonymous["title"] == event["title"]

    other = await fetch_event(client, event["id"], stranger)
    assert (other["meetingUrl"], other["isRegistered"]) == (None, False)

    registered = await fetch_event(client, event["id"], attendee)
    assert (registered["meetingUrl"], registered["isRegistered"]) == (MEETING_URL, True)

    for privileged in (woman, admin):
        seen = await fetch_event(client, event["id"], privileged)
        assert seen["meetingUrl"] == MEETING_URL

    listed = await client.get("/api/events")
    assert listed.json()["events"][0]["meetingUrl"] is None
    listed_by_attendee = await client.get("/api/events", headers=attendee.headers)
    assert listed_by_attendee.json()["events"][0]["meetingUrl"] == MEETING_URL
    assert listed_by_attendee.json()["events"][0]["isRegistered"] is True


async def test_unknown_event_is_404(client: httpx.AsyncClient, woman: AuthedUser) -> None:
    response = await client.get(f"/api/events/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json()["code"] == "event_not_found"
    assert (await register(client, str(uuid.uuid4()), woman)).status_code == 404


async def test_events_of_banned_hosts_are_hidden(
    app: FastAPI, client: httpx.AsyncClient, woman: AuthedUser, admin: AuthedUser
) -> None:
    event = await create_event(client, woman)
    async with app.state.db.sessionmaker() as session:
        await session.execute(update(User).where(User.id == woman.id).values(is_banned=True))
        await session.commit()
    assert (await client.get(f"/api/events/{event['id']}")).status_code == 404
    assert (await client.get("/api/events")).json()["events"] == []
    # Admins still see (and can remove) them.
    assert (await fetch_event(client, event["id"], admin))["id"] == event["id"]


# --- host rules -----------------------------------------------------------------------------


async def test_only_the_host_or_an_admin_changes_an_event(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, admin: AuthedUser
) -> None:
    event = await create_event(client, woman)
    path = f"/api/events/{event['id']}"

    refused = await client.put(path, json={"title": "Mine now"}, headers=sponsor.headers)
    assert refused.status_code == 403
    assert refused.json()["code"] == "not_event_host"
    assert (
        await client.patch(path, json={"title": "x"}, headers=sponsor.headers)
    ).status_code == 403
    assert (await client.delete(path, headers=sponsor.headers)).status_code == 403
    assert (await client.put(path, json={"title": "x"})).status_code == 401

    by_host = await client.put(
        path,
        json={
            "title": "Pricing, part 2",
            "location": "Lagos",
            "isVirtual": False,
            "meetingUrl": None,
            "category": "networking",
            "maxAttendees": 10,
            "attendeeCount": 5,
            "hostId": str(sponsor.id),
        },
        headers=woman.headers,
    )
    assert by_host.status_code == 200, by_host.text
    changed = by_host.json()["event"]
    assert changed["title"] == "Pricing, part 2"
    assert (changed["location"], changed["isVirtual"], changed["meetingUrl"]) == (
        "Lagos",
        False,
        None,
    )
    assert changed["category"] == "networking"
    assert changed["maxAttendees"] == 10
    assert changed["attendeeCount"] == 0
    assert changed["hostId"] == str(woman.id)

    by_admin = await client.patch(path, json={"maxAttendees": None}, headers=admin.headers)
    assert by_admin.status_code == 200
    assert by_admin.json()["event"]["maxAttendees"] is None
    assert by_admin.json()["event"]["title"] == "Pricing, part 2"


async def test_update_validation(client: httpx.AsyncClient, woman: AuthedUser) -> None:
    start = datetime.now(UTC) + timedelta(days=4)
    event = await create_event(
        client, woman, eventDate=_iso(start), endDate=_iso(start + timedelta(hours=2))
    )
    path = f"/api/events/{event['id']}"
    cases = [
        ({"eventDate": in_days(-1)}, "eventDate"),
        ({"endDate": _iso(start - timedelta(hours=1))}, "endDate"),
        # Moving the start after the stored end is refused too.
        ({"eventDate": _iso(start + timedelta(days=1))}, "endDate"),
        ({"maxAttendees": 0}, "maxAttendees"),
        ({"title": None}, "title"),
        ({"status": "postponed"}, "status"),
        ({"meetingUrl": "mailto:a@b.c"}, "meetingUrl"),
    ]
    for body, field in cases:
        response = await client.put(path, json=body, headers=woman.headers)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["details"][0]["field"] == field

    moved = await client.put(
        path,
        json={
            "eventDate": _iso(start + timedelta(days=1)),
            "endDate": _iso(start + timedelta(days=1, hours=1)),
        },
        headers=woman.headers,
    )
    assert moved.status_code == 200


async def test_capacity_cannot_go_below_the_attendees(
    client: httpx.AsyncClient, make_user: Callable[..., Any], woman: AuthedUser
) -> None:
    event = await create_event(client, woman, maxAttendees=5)
    for _ in range(3):
        assert (await register(client, event["id"], await make_user())).status_code == 201
    path = f"/api/events/{event['id']}"
    refused = await client.put(path, json={"maxAttendees": 2}, headers=woman.headers)
    assert refused.status_code == 409
    assert refused.json()["code"] == "max_attendees_below_attendee_count"
    accepted = await client.put(path, json={"maxAttendees": 3}, headers=woman.headers)
    assert accepted.status_code == 200
    assert accepted.json()["event"]["maxAttendees"] == 3


# --- registrations --------------------------------------------------------------------------


async def test_registration_is_idempotent_and_counted(
    app: FastAPI, client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    event = await create_event(client, woman)
    event_id = event["id"]

    first = await register(client, event_id, sponsor)
    assert first.status_code == 201
    assert first.json() == {"registered": True, "attendeeCount": 1}
    again = await register(client, event_id, sponsor)
    assert again.status_code == 200
    assert again.json() == {"registered": True, "attendeeCount": 1}

    path = f"/api/events/{event_id}/register"
    left = await client.delete(path, headers=sponsor.headers)
    assert left.status_code == 200
    assert left.json() == {"registered": False, "attendeeCount": 0}
    left_again = await client.delete(path, headers=sponsor.headers)
    assert left_again.json() == {"registered": False, "attendeeCount": 0}

    rows = await scalar(
        app,
        select(func.count(EventRegistration.id)).where(
            EventRegistration.event_id == uuid.UUID(event_id)
        ),
    )
    assert rows == 0
    assert (await fetch_event(client, event_id))["attendeeCount"] == 0
    assert (await client.post(path)).status_code == 401


async def test_a_full_event_refuses_more_registrations(
    client: httpx.AsyncClient, make_user: Callable[..., Any], woman: AuthedUser
) -> None:
    event = await create_event(client, woman, maxAttendees=2)
    first, second, third = [await make_user() for _ in range(3)]
    assert (await register(client, event["id"], first)).status_code == 201
    assert (await register(client, event["id"], second)).status_code == 201

    full = await register(client, event["id"], third)
    assert full.status_code == 409
    assert full.json()["code"] == "event_full"
    # Those already registered still get their idempotent answer.
    assert (await register(client, event["id"], first)).status_code == 200

    await ok(client.delete(f"/api/events/{event['id']}/register", headers=second.headers))
    assert (await register(client, event["id"], third)).json()["attendeeCount"] == 2
    assert (await fetch_event(client, event["id"]))["attendeeCount"] == 2


async def test_cancelled_and_past_events_refuse_registrations(
    app: FastAPI, client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    cancelled = await create_event(client, woman)
    await ok(
        client.put(
            f"/api/events/{cancelled['id']}", json={"status": "cancelled"}, headers=woman.headers
        )
    )
    response = await register(client, cancelled["id"], sponsor)
    assert response.status_code == 409
    assert response.json()["code"] == "event_cancelled"

    now = datetime.now(UTC)
    for start in (now - timedelta(days=2), now - timedelta(minutes=10)):
        past = await insert_event(app, woman, event_date=start)
        response = await register(client, str(past), sponsor)
        assert response.status_code == 409
        assert response.json()["code"] == "event_started"


async def test_the_host_does_not_register(client: httpx.AsyncClient, woman: AuthedUser) -> None:
    event = await create_event(client, woman)
    response = await register(client, event["id"], woman)
    assert response.status_code == 409
    assert response.json()["code"] == "host_cannot_register"


async def test_no_unregistering_once_started(
    app: FastAPI, client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    event = await create_event(client, woman)
    await register(client, event["id"], sponsor)
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(Event)
            .where(Event.id == uuid.UUID(event["id"]))
            .values(event_date=datetime.now(UTC) - timedelta(minutes=5))
        )
        await session.commit()
    response = await client.delete(f"/api/events/{event['id']}/register", headers=sponsor.headers)
    assert response.status_code == 409
    assert response.json()["code"] == "event_started"
    state = await fetch_event(client, event["id"], sponsor)
    assert (state["isRegistered"], state["attendeeCount"], state["status"]) == (True, 1, "ongoing")


# --- cancelling and deleting ----------------------------------------------------------------


async def test_cancelling_notifies_every_attendee_once(
    app: FastAPI, client: httpx.AsyncClient, make_user: Callable[..., Any], woman: AuthedUser
) -> None:
    event = await create_event(client, woman)
    attendees = [await make_user() for _ in range(3)]
    for attendee in attendees:
        await register(client, event["id"], attendee)
    bystander = await make_user()
    path = f"/api/events/{event['id']}"

    response = await client.put(path, json={"status": "cancelled"}, headers=woman.headers)
    assert response.status_code == 200, response.text
    assert response.json()["event"]["status"] == "cancelled"

    notes = await notifications_of_type(app, "event_cancelled")
    assert sorted(n.user_id for n in notes) == sorted(a.id for a in attendees)
    assert bystander.id not in {n.user_id for n in notes}
    assert notes[0].data == {"eventId": event["id"], "eventTitle": event["title"]}
    assert event["title"] in notes[0].message

    # Cancelling again changes nothing and notifies nobody twice; other edits are refused.
    again = await client.patch(path, json={"status": "cancelled"}, headers=woman.headers)
    assert again.status_code == 200
    assert len(await notifications_of_type(app, "event_cancelled")) == 3
    edit = await client.put(path, json={"title": "Back on"}, headers=woman.headers)
    assert edit.status_code == 409
    assert edit.json()["code"] == "event_cancelled"
    revive = await client.put(path, json={"status": "upcoming"}, headers=woman.headers)
    assert revive.status_code == 409


async def test_deleting_an_event_notifies_attendees(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    woman: AuthedUser,
    admin: AuthedUser,
) -> None:
    event = await create_event(client, woman)
    attendee = await make_user()
    await register(client, event["id"], attendee)

    response = await client.delete(f"/api/events/{event['id']}", headers=admin.headers)
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"/api/events/{event['id']}")).status_code == 404
    notes = await notifications_of_type(app, "event_cancelled")
    assert [n.user_id for n in notes] == [attendee.id]
    rows = await scalar(app, select(func.count(EventRegistration.id)))
    assert rows == 0

    own = await create_event(client, woman)
    assert (
        await client.delete(f"/api/events/{own['id']}", headers=woman.headers)
    ).status_code == 204


# --- listing --------------------------------------------------------------------------------


async def test_list_filters_statuses_and_orders_upcoming_first(
    app: FastAPI, client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    now = datetime.now(UTC)
    later = await insert_event(app, woman, title="later", event_date=now + timedelta(days=9))
    soon = await insert_event(app, woman, title="soon", event_date=now + timedelta(days=1))
    ongoing = await insert_event(app, woman, title="ongoing", event_date=now - timedelta(hours=1))
    long_ongoing = await insert_event(
        app,
        woman,
        title="long",
        event_date=now - timedelta(hours=5),
        end_date=now + timedelta(hours=1),
    )
    # Without an end date an event lasts two hours.
    completed = await insert_event(
        app, woman, title="done", event_date=now - timedelta(hours=3), category="workshop"
    )
    ended = await insert_event(
        app,
        woman,
        title="ended",
        event_date=now - timedelta(days=2),
        end_date=now - timedelta(days=1),
    )
    cancelled = await insert_event(
        app, woman, title="off", event_date=now + timedelta(days=2), cancelled_at=now
    )

    async def ids(**params: Any) -> list[str]:
        response = await client.get("/api/events", params=params)
        assert response.status_code == 200, response.text
        return [event["id"] for event in response.json()["events"]]

    assert await ids(status="upcoming") == [str(soon), str(later)]
    assert sorted(await ids(status="ongoing")) == sorted([str(ongoing), str(long_ongoing)])
    assert await ids(status="completed") == [str(completed), str(ended)]
    assert await ids(status="cancelled") == [str(cancelled)]
    assert await ids(category="workshop") == [str(completed)]
    assert await ids(status="upcoming", category="workshop") == []
    everything = await ids()
    assert everything == [
        str(soon),
        str(later),
        str(long_ongoing),
        str(ongoing),
        str(completed),
        str(ended),
        str(cancelled),
    ]

    statuses = {
        event["id"]: event["status"] for event in (await client.get("/api/events")).json()["events"]
    }
    assert statuses[str(ongoing)] == "ongoing"
    assert statuses[str(completed)] == "completed"
    assert statuses[str(cancelled)] == "cancelled"


async def test_list_pagination(app: FastAPI, client: httpx.AsyncClient, woman: AuthedUser) -> None:
    now = datetime.now(UTC)
    created = [
        await insert_event(app, woman, event_date=now + timedelta(days=day)) for day in range(1, 6)
    ]
    response = await client.get("/api/events", params={"page": 2, "limit": 2})
    body = response.json()
    assert [event["id"] for event in body["events"]] == [str(created[2]), str(created[3])]
    pagination = body["pagination"]
    assert {k: pagination[k] for k in ("page", "limit", "total", "totalPages", "hasMore")} == {
        "page": 2,
        "limit": 2,
        "total": 5,
        "totalPages": 3,
        "hasMore": True,
    }
    for params in ({"limit": 101}, {"page": 0}, {"status": "soon"}, {"category": "party"}):
        assert (await client.get("/api/events", params=params)).status_code == 422


async def test_list_runs_a_fixed_number_of_queries(
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    sponsor: AuthedUser,
    count_queries: QueryCounter,
) -> None:
    async def listing() -> tuple[int, int]:
        count_queries.reset()
        response = await client.get("/api/events", headers=sponsor.headers)
        assert response.status_code == 200
        return count_queries.count, len(response.json()["events"])

    host = await make_user()
    event = await create_event(client, host)
    await register(client, event["id"], sponsor)
    one, listed = await listing()
    assert listed == 1
    for _ in range(5):
        another_host = await make_user()
        event = await create_event(client, another_host)
        await register(client, event["id"], sponsor)
    many, listed = await listing()
    assert listed == 6
    assert one == many <= 4  # the caller, the count, events with hosts, my registrations


# --- concurrency ----------------------------------------------------------------------------


@pytest.mark.committing  # its requests race each other
@pytest.mark.skipif(conftest.TARGET != "postgres", reason="needs PostgreSQL's row locking")
async def test_concurrent_registrations_never_overbook(
    app: FastAPI, client: httpx.AsyncClient, make_user: Callable[..., Any], woman: AuthedUser
) -> None:
    event = await create_event(client, woman, maxAttendees=5)
    users = [await make_user() for _ in range(20)]

    responses = await asyncio.gather(*(register(client, event["id"], user) for user in users))

    codes = sorted(response.status_code for response in responses)
    assert codes == [201] * 5 + [409] * 15
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"event_full"}
    event_id = uuid.UUID(event["id"])
    count = await scalar(app, select(Event.attendee_count).where(Event.id == event_id))
    rows = await scalar(
        app,
        select(func.count(EventRegistration.id)).where(EventRegistration.event_id == event_id),
    )
    assert count == rows == 5

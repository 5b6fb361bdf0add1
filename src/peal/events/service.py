"""The rules of events: public listing, host/admin management, and registrations that never
overbook an event, even when many people register at the same moment."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import contains_eager

from peal.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from peal.core.export import jsonable, row_dict
from peal.core.moderation import ModerationStatus, not_moderated
from peal.core.moderation import set_moderation_status as set_row_moderation
from peal.core.schemas import PageParams, Pagination
from peal.core.sql import NO_SYNC, insert_ignoring_duplicates
from peal.db import utcnow
from peal.events.models import Event, EventRegistration
from peal.events.schemas import EventCreate, EventHost, EventOut, EventUpdate
from peal.notifications.service import notify_many
from peal.uploads.service import resolve_image_url
from peal.users.models import User
from peal.users.policy import is_admin, is_self_or_admin, profile_visible

# An event without an end date is taken to last this long (for its status and the filters).
DEFAULT_DURATION = timedelta(hours=2)
CANCELLED_NOTIFICATION = "event_cancelled"


def _event_not_found() -> NotFound:
    return NotFound("Event not found", code="event_not_found")


# --- status, derived from the dates ---------------------------------------------------------


def event_status(event: Event, now: datetime) -> str:
    """cancelled, else upcoming before the start, ongoing until the end, completed after."""
    if event.cancelled_at is not None:
        return "cancelled"
    if event.event_date > now:
        return "upcoming"
    end = event.end_date or event.event_date + DEFAULT_DURATION
    return "ongoing" if end > now else "completed"


def _has_ended(now: datetime) -> ColumnElement[bool]:
    # `now - DEFAULT_DURATION` is computed here, so the SQL is the same on every database.
    return or_(
        and_(Event.end_date.is_not(None), Event.end_date <= now),
        and_(Event.end_date.is_(None), Event.event_date <= now - DEFAULT_DURATION),
    )


def _status_condition(status: str, now: datetime) -> ColumnElement[bool]:
    live = Event.cancelled_at.is_(None)
    if status == "cancelled":
        return Event.cancelled_at.is_not(None)
    if status == "upcoming":
        return and_(live, Event.event_date > now)
    if status == "ongoing":
        return and_(live, Event.event_date <= now, ~_has_ended(now))
    return and_(live, _has_ended(now))


def _ordering(status: str | None, now: datetime) -> list[Any]:
    """Upcoming and ongoing events soonest first; completed and cancelled ones latest first.

    Without a status filter: upcoming, then ongoing, then completed, then cancelled.
    """
    if status in ("upcoming", "ongoing"):
        return [Event.event_date.asc(), Event.id.asc()]
    if status in ("completed", "cancelled"):
        return [Event.event_date.desc(), Event.id.desc()]
    rank = case(
        (Event.cancelled_at.is_not(None), 3),
        (Event.event_date > now, 0),
        (_has_ended(now), 2),
        else_=1,
    )
    return [
        rank,
        case((rank < 2, Event.event_date)).asc(),
        Event.event_date.desc(),
        Event.id.asc(),
    ]


# --- visibility and presentation ------------------------------------------------------------


def listable(viewer: User | None) -> ColumnElement[bool]:
    """The moderation condition of events: live ones, and hidden or removed ones only to
    their host (and admins)."""
    return not_moderated(
        Event.moderation_status,
        Event.host_id,
        viewer.id if viewer is not None else None,
        admin=is_admin(viewer),
    )


async def set_moderation_status(
    session: AsyncSession, event_id: uuid.UUID, status: ModerationStatus | None
) -> bool:
    """Hide, remove or restore an event (moderation); True when it changed."""
    return await set_row_moderation(session, Event, event_id, status)


def _host_visible(viewer: User | None) -> list[ColumnElement[bool]]:
    """The one rule of who may see whom (`users.policy.profile_visible`) on the host: events
    of private, banned or deleted hosts, or of a host blocked either way, are hidden; and
    events moderation hid or removed (`listable`), but from their host and admins."""
    return [profile_visible(viewer), listable(viewer)]


def _events_query(viewer: User | None) -> Select[Event]:
    """Events with their host loaded by the same query."""
    return (
        select(Event)
        .join(Event.host)
        .options(contains_eager(Event.host))
        .where(*_host_visible(viewer))
    )


def can_manage(user: User, event: Event) -> bool:
    return is_self_or_admin(user, event.host_id)


def present_event(event: Event, viewer: User | None, registered: bool, now: datetime) -> EventOut:
    """The public form; `meetingUrl` only for the host, admins and registered attendees."""
    sees_meeting = registered or is_self_or_admin(viewer, event.host_id)
    return EventOut(
        id=event.id,
        host_id=event.host_id,
        host=EventHost.model_validate(event.host),
        title=event.title,
        description=event.description,
        cover_image=event.cover_image,
        event_date=event.event_date,
        end_date=event.end_date,
        location=event.location,
        is_virtual=event.is_virtual,
        meeting_url=event.meeting_url if sees_meeting else None,
        category=event.category,
        max_attendees=event.max_attendees,
        attendee_count=event.attendee_count,
        status=event_status(event, now),
        is_registered=registered,
        created_at=event.created_at,
        updated_at=event.updated_at,
    )


async def _registered_event_ids(
    session: AsyncSession, user: User | None, event_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    if user is None or not event_ids:
        return set()
    result = await session.execute(
        select(EventRegistration.event_id).where(
            EventRegistration.user_id == user.id, EventRegistration.event_id.in_(event_ids)
        )
    )
    return set(result.scalars().all())


async def _load_event(
    session: AsyncSession, viewer: User | None, event_id: uuid.UUID, *, lock: bool = False
) -> Event:
    query = _events_query(viewer).where(Event.id == event_id)
    if lock:
        # Serialises edits with registrations, which update the same row.
        query = query.with_for_update(of=Event)
    result = await session.execute(query.execution_options(populate_existing=True))
    event = result.scalar_one_or_none()
    if event is None:
        raise _event_not_found()
    return event


# --- reading --------------------------------------------------------------------------------


async def list_events(
    session: AsyncSession,
    viewer: User | None,
    status: str | None,
    category: str | None,
    page: PageParams,
) -> tuple[list[EventOut], Pagination]:
    """One page of events: a count, the events with their hosts, and the caller's
    registrations among them. Three queries whatever the page size."""
    now = utcnow()
    filters: list[ColumnElement[bool]] = []
    if status is not None:
        filters.append(_status_condition(status, now))
    if category is not None:
        filters.append(Event.category == category)
    count_query = (
        select(func.count(Event.id)).join(Event.host).where(*_host_visible(viewer), *filters)
    )
    total = (await session.execute(count_query)).scalar_one()
    result = await session.execute(
        _events_query(viewer)
        .where(*filters)
        .order_by(*_ordering(status, now))
        .limit(page.limit)
        .offset(page.offset)
    )
    events = list(result.scalars().all())
    registered = await _registered_event_ids(session, viewer, [event.id for event in events])
    items = [present_event(event, viewer, event.id in registered, now) for event in events]
    return items, page.pagination(total)


async def get_event(session: AsyncSession, viewer: User | None, event_id: uuid.UUID) -> EventOut:
    event = await _load_event(session, viewer, event_id)
    registered = await _registered_event_ids(session, viewer, [event.id])
    return present_event(event, viewer, event.id in registered, utcnow())


# --- hosting --------------------------------------------------------------------------------


async def _cover_image(
    session: AsyncSession, url: str | None, host_id: uuid.UUID, image_hosts: Collection[str]
) -> str | None:
    if not url:
        return None
    return await resolve_image_url(session, url, host_id, image_hosts, field="coverImage")


async def create_event(
    session: AsyncSession, host: User, data: EventCreate, image_hosts: Collection[str] = ()
) -> EventOut:
    """Any member may host (the web client lets women and sponsors both host). `coverImage` is
    an image the host uploaded or an https URL on one of `image_hosts`."""
    values = data.model_dump()
    values["cover_image"] = await _cover_image(session, data.cover_image, host.id, image_hosts)
    event = Event(host=host, cancelled_at=None, attendee_count=0, **values)
    session.add(event)
    await session.flush()
    return present_event(event, host, registered=False, now=utcnow())


_EDITABLE = (
    "title",
    "description",
    "cover_image",
    "location",
    "is_virtual",
    "meeting_url",
    "category",
)


def _apply_schedule(event: Event, changes: dict[str, Any], now: datetime) -> None:
    if "event_date" in changes and changes["event_date"] != event.event_date:
        if changes["event_date"] <= now:
            raise ValidationFailed("eventDate", "eventDate must be in the future")
        event.event_date = changes["event_date"]
    if "end_date" in changes:
        event.end_date = changes["end_date"]
    if event.end_date is not None and event.end_date < event.event_date:
        raise ValidationFailed("endDate", "endDate must not be before eventDate")


def _apply_capacity(event: Event, changes: dict[str, Any]) -> None:
    if "max_attendees" not in changes:
        return
    capacity = changes["max_attendees"]
    # The row is locked: no registration can slip in between this check and the flush.
    if capacity is not None and capacity < event.attendee_count:
        raise Conflict(
            f"{event.attendee_count} people are already registered",
            code="max_attendees_below_attendee_count",
        )
    event.max_attendees = capacity


async def update_event(
    session: AsyncSession,
    user: User,
    event_id: uuid.UUID,
    data: EventUpdate,
    image_hosts: Collection[str] = (),
) -> EventOut:
    """The host or an admin changes the fields sent. A cancelled event is final: only sending
    `status: "cancelled"` again is accepted (and changes nothing)."""
    event = await _load_event(session, user, event_id, lock=True)
    if not can_manage(user, event):
        raise Forbidden("Only the host or an admin can change this event", code="not_event_host")
    now = utcnow()
    changes = data.model_dump(exclude_unset=True)
    status = changes.pop("status", None)
    if event.cancelled_at is not None:
        if changes or status not in (None, "cancelled"):
            raise Conflict("This event is cancelled", code="event_cancelled")
    else:
        if "cover_image" in changes:
            changes["cover_image"] = await _cover_image(
                session, changes["cover_image"], event.host_id, image_hosts
            )
        for field in _EDITABLE:
            if field in changes:
                setattr(event, field, changes[field])
        _apply_schedule(event, changes, now)
        _apply_capacity(event, changes)
        if status == "cancelled":
            event.cancelled_at = now
            await _notify_attendees(session, event, user)
        await session.flush()
    registered = await _registered_event_ids(session, user, [event.id])
    return present_event(event, user, event.id in registered, now)


async def delete_event(session: AsyncSession, user: User, event_id: uuid.UUID) -> None:
    """The host or an admin deletes the event; attendees are told unless it was already
    cancelled (they were told then) or is over."""
    event = await _load_event(session, user, event_id, lock=True)
    if not can_manage(user, event):
        raise Forbidden("Only the host or an admin can delete this event", code="not_event_host")
    if event_status(event, utcnow()) in ("upcoming", "ongoing"):
        await _notify_attendees(session, event, user)
    await session.execute(delete(Event).where(Event.id == event.id), execution_options=NO_SYNC)


async def _notify_attendees(session: AsyncSession, event: Event, actor: User) -> None:
    await _notify_attendees_of(session, event, actor_id=actor.id)


async def _notify_attendees_of(session: AsyncSession, event: Event, *, actor_id: uuid.UUID) -> None:
    """One `event_cancelled` notification per attendee, through the batched fan-out (a loop of
    single inserts would take too long for a large event)."""
    result = await session.execute(
        select(EventRegistration.user_id).where(EventRegistration.event_id == event.id)
    )
    when = event.event_date.strftime("%Y-%m-%d %H:%M UTC")
    await notify_many(
        session,
        result.scalars().all(),
        CANCELLED_NOTIFICATION,
        "Event cancelled",
        f'"{event.title}" ({when}) has been cancelled.',
        {"eventId": str(event.id), "eventTitle": event.title},
        actor_id=actor_id,
    )


# --- registrations --------------------------------------------------------------------------


def _insert_registration(session: AsyncSession, event_id: uuid.UUID, user_id: uuid.UUID) -> Any:
    """`INSERT ... ON CONFLICT DO NOTHING RETURNING id`: None when already registered."""
    return (
        insert_ignoring_duplicates(session, EventRegistration, ["event_id", "user_id"])
        .values(id=uuid.uuid4(), event_id=event_id, user_id=user_id, created_at=utcnow())
        .returning(EventRegistration.id)
    )


def _check_open(event: Event, now: datetime) -> None:
    if event.cancelled_at is not None:
        raise Conflict("This event is cancelled", code="event_cancelled")
    if event.event_date <= now:
        raise Conflict("This event has already started", code="event_started")


async def _attendee_count(session: AsyncSession, event_id: uuid.UUID) -> int:
    result = await session.execute(select(Event.attendee_count).where(Event.id == event_id))
    return int(result.scalar_one())


async def _shift_attendee_count(
    session: AsyncSession, event_id: uuid.UUID, delta: int, guard: list[ColumnElement[bool]]
) -> int | None:
    """`attendee_count += delta` in one guarded UPDATE; None when the guard refused it."""
    result = await session.execute(
        update(Event)
        .where(Event.id == event_id, *guard)
        # updated_at kept: a registration is not an edit of the event.
        .values(attendee_count=Event.attendee_count + delta, updated_at=Event.updated_at)
        .returning(Event.attendee_count),
        execution_options=NO_SYNC,
    )
    count = result.scalar_one_or_none()
    return None if count is None else int(count)


async def register(session: AsyncSession, user: User, event_id: uuid.UUID) -> tuple[bool, int]:
    """Register `user`; idempotent. Answers (newly registered?, attendee count).

    The seat is taken by one guarded UPDATE in the registration's transaction: under
    concurrent registrations the row lock orders them, and the `attendee_count <
    max_attendees` guard is re-checked on the latest row, so the count never overshoots.
    The host runs the event and does not register for it (409).
    """
    event = await _load_event(session, user, event_id)
    if event.host_id == user.id:
        raise Conflict("You are the host of this event", code="host_cannot_register")
    now = utcnow()
    _check_open(event, now)
    inserted = await session.execute(_insert_registration(session, event.id, user.id))
    if inserted.scalar_one_or_none() is None:
        return False, await _attendee_count(session, event.id)
    count = await _shift_attendee_count(
        session,
        event.id,
        1,
        [
            Event.cancelled_at.is_(None),
            Event.event_date > now,
            or_(Event.max_attendees.is_(None), Event.attendee_count < Event.max_attendees),
        ],
    )
    if count is None:
        # Raising rolls the whole request back, the registration row included.
        _check_open(await _load_event(session, user, event.id), now)
        raise Conflict("This event is full", code="event_full")
    return True, count


async def unregister(session: AsyncSession, user: User, event_id: uuid.UUID) -> int:
    """Cancel `user`'s registration; idempotent. Answers the attendee count.

    Refused once the event has started (attendance is history by then); allowed for a
    cancelled event.
    """
    event = await _load_event(session, user, event_id)
    deleted = await session.execute(
        delete(EventRegistration)
        .where(EventRegistration.event_id == event.id, EventRegistration.user_id == user.id)
        .returning(EventRegistration.id),
        execution_options=NO_SYNC,
    )
    if deleted.scalar_one_or_none() is None:
        return await _attendee_count(session, event.id)
    if event.cancelled_at is None and event.event_date <= utcnow():
        raise Conflict("This event has already started", code="event_started")
    count = await _shift_attendee_count(session, event.id, -1, [])
    assert count is not None
    return count


# --- account deletion and export ------------------------------------------------------------


async def purge_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Her registrations go and free their seats; events she hosts are cancelled (attendees of
    those not over yet are told) and deleted with their registrations."""
    registered = select(EventRegistration.event_id).where(EventRegistration.user_id == user_id)
    await session.execute(
        update(Event)
        .where(Event.id.in_(registered.scalar_subquery()))
        .values(attendee_count=Event.attendee_count - 1, updated_at=Event.updated_at),
        execution_options=NO_SYNC,
    )
    await session.execute(
        delete(EventRegistration).where(EventRegistration.user_id == user_id),
        execution_options=NO_SYNC,
    )
    now = utcnow()
    hosted = await session.scalars(
        select(Event).where(
            Event.host_id == user_id, Event.cancelled_at.is_(None), ~_has_ended(now)
        )
    )
    for event in hosted.all():
        await _notify_attendees_of(session, event, actor_id=user_id)
    await session.execute(delete(Event).where(Event.host_id == user_id), execution_options=NO_SYNC)


async def export_user(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    """Events she hosts, and her registrations (event id, title, date)."""
    hosted = await session.scalars(
        select(Event).where(Event.host_id == user_id).order_by(Event.event_date)
    )
    registrations = await session.execute(
        select(Event.id, Event.title, Event.event_date, EventRegistration.created_at)
        .join(EventRegistration, EventRegistration.event_id == Event.id)
        .where(EventRegistration.user_id == user_id)
        .order_by(Event.event_date)
    )
    return {
        "hosted": [row_dict(event) for event in hosted.all()],
        "registrations": [
            {
                "eventId": str(event_id),
                "eventTitle": title,
                "eventDate": jsonable(event_date),
                "registeredAt": jsonable(registered_at),
            }
            for event_id, title, event_date, registered_at in registrations
        ],
    }

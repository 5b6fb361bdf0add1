"""The rules of mentoring: mentor profiles, connection requests that never overfill a mentor,
the lists of mentors, connections and mentees, and what other domains ask of mentoring
(account deletion and export, blocks and bans, who may message whom).

Connection statuses move only `pending -> accepted | rejected` and `accepted -> ended`; a
pending request the mentee withdraws (or that a block or ban closes) is deleted. A mentor's
`current_mentees_count` is the number of its accepted connections: it changes only by a
single guarded UPDATE in the transaction that changes a connection's status.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from peal.core.errors import BadRequest, Conflict, Forbidden, NotFound, ValidationFailed
from peal.core.schemas import PageParams, Pagination
from peal.core.sql import (
    NO_SYNC,
    contains_pattern,
    dialect_insert,
    insert_ignoring_duplicates,
    like,
)
from peal.db import utcnow
from peal.mentors.models import MentorConnection, MentorProfile, MentorSkill
from peal.mentors.schemas import (
    ConnectionMentor,
    ConnectionOut,
    MenteeOut,
    MentorCreate,
    MentorOut,
    MentorUpdate,
    MentorUser,
)
from peal.notifications.service import notify
from peal.users.models import User
from peal.users.policy import is_self_or_admin, profile_visible
from peal.users.schemas import normalize_label

# A mentor who said no is not asked again by the same person for this long (the request can
# be sent again afterwards; an ended mentorship can be asked for again at once).
REJECTED_COOLDOWN = timedelta(days=30)
# Pending requests one person may have out at once: asking everyone at once is spam.
MAX_PENDING_REQUESTS = 10
# Connection statuses listed by default: an ended mentorship is history, asked for by name.
OPEN_OR_ANSWERED = ("pending", "accepted", "rejected")


def _mentor_not_found() -> NotFound:
    return NotFound("Mentor not found", code="mentor_not_found")


def _connection_not_found() -> NotFound:
    return NotFound("Connection not found", code="connection_not_found")


def listed_mentor(viewer: User | None) -> ColumnElement[bool]:
    """SQL condition on the joined `User`: a mentor in the public directory (public, active),
    and one `viewer` may see (so whatever users.profile_visible rules out, such as a block
    when the safety rules add it there, is ruled out here too)."""
    if viewer is None:
        return profile_visible(None)
    return and_(profile_visible(None), profile_visible(viewer))


# --- presenting -----------------------------------------------------------------------------


def mentor_user(user: User) -> MentorUser:
    return MentorUser(
        id=user.id, name=user.name, avatar_url=user.avatar_url, bio=user.bio, location=user.location
    )


async def skills_of(
    session: AsyncSession, mentor_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    """Skills of many mentors in one query, each list sorted."""
    skills: dict[uuid.UUID, list[str]] = defaultdict(list)
    if not mentor_ids:
        return skills
    result = await session.execute(
        select(MentorSkill.mentor_id, MentorSkill.skill)
        .where(MentorSkill.mentor_id.in_(mentor_ids))
        .order_by(MentorSkill.mentor_id, MentorSkill.skill)
    )
    for mentor_id, skill in result.all():
        skills[mentor_id].append(skill)
    return skills


def present_mentor(profile: MentorProfile, user: User, skills: list[str]) -> MentorOut:
    return MentorOut(
        id=profile.id,
        user_id=profile.user_id,
        user=mentor_user(user),
        bio=profile.bio,
        availability=profile.availability,
        years_experience=profile.years_experience,
        max_mentees=profile.max_mentees,
        current_mentees_count=profile.current_mentees_count,
        accepts_remote=profile.accepts_remote,
        skills=skills,
        created_at=profile.created_at,
        updated_at=profile.updated_at,
    )


async def _present_mentors(
    session: AsyncSession, rows: Sequence[tuple[MentorProfile, User]]
) -> list[MentorOut]:
    skills = await skills_of(session, [profile.id for profile, _ in rows])
    return [present_mentor(profile, user, skills[profile.id]) for profile, user in rows]


# --- profiles -------------------------------------------------------------------------------


def _mentors_query(visible: ColumnElement[bool]) -> Select[MentorProfile, User]:
    return (
        select(MentorProfile, User)
        .join(User, User.id == MentorProfile.user_id)
        .where(visible)
        .execution_options(populate_existing=True)
    )


async def _load_mentor(
    session: AsyncSession, viewer: User | None, mentor_id: uuid.UUID, *, lock: bool = False
) -> tuple[MentorProfile, User]:
    """The profile and its person, if `viewer` may see them (else 404)."""
    query = _mentors_query(profile_visible(viewer)).where(MentorProfile.id == mentor_id)
    if lock:
        query = query.with_for_update(of=MentorProfile)
    row = (await session.execute(query)).one_or_none()
    if row is None:
        raise _mentor_not_found()
    profile, user = row
    return profile, user


async def get_mentor(session: AsyncSession, viewer: User | None, mentor_id: uuid.UUID) -> MentorOut:
    """A private, banned or deleted person's profile is 404 to everyone but them and admins."""
    profile, user = await _load_mentor(session, viewer, mentor_id)
    skills = await skills_of(session, [profile.id])
    return present_mentor(profile, user, skills[profile.id])


async def _replace_skills(session: AsyncSession, mentor_id: uuid.UUID, skills: list[str]) -> None:
    await session.execute(
        delete(MentorSkill).where(MentorSkill.mentor_id == mentor_id), execution_options=NO_SYNC
    )
    session.add_all(MentorSkill(mentor_id=mentor_id, skill=skill) for skill in skills)
    await session.flush()


async def create_mentor(session: AsyncSession, user: User, data: MentorCreate) -> MentorOut:
    """The caller's mentor profile; a second one is 409 (the unique user_id decides, so two
    requests at once cannot both succeed)."""
    now = utcnow()
    mentor_id = uuid.uuid4()
    inserted = await session.execute(
        insert_ignoring_duplicates(session, MentorProfile, ["user_id"])
        .values(
            id=mentor_id,
            user_id=user.id,
            bio=data.bio,
            availability=data.availability,
            years_experience=data.years_experience,
            max_mentees=data.max_mentees,
            current_mentees_count=0,
            accepts_remote=data.accepts_remote,
            created_at=now,
            updated_at=now,
        )
        .returning(MentorProfile.id)
    )
    if inserted.scalar_one_or_none() is None:
        raise Conflict("You already have a mentor profile", code="mentor_exists")
    session.add_all(MentorSkill(mentor_id=mentor_id, skill=skill) for skill in data.skills)
    await session.flush()
    profile = await session.get(MentorProfile, mentor_id)
    assert profile is not None
    return present_mentor(profile, user, sorted(data.skills))


_EDITABLE = ("bio", "years_experience", "availability", "max_mentees", "accepts_remote")


async def update_mentor(
    session: AsyncSession, viewer: User, mentor_id: uuid.UUID, data: MentorUpdate
) -> MentorOut:
    """The owner (or an admin) changes the whitelisted fields sent.

    The row is locked first, so a concurrent accept cannot slip between the capacity check
    and the write: `maxMentees` may not go below the mentees already accepted (409).
    """
    profile, user = await _load_mentor(session, viewer, mentor_id, lock=True)
    if not is_self_or_admin(viewer, profile.user_id):
        raise Forbidden("Only the mentor can change this profile", code="not_owner")
    changes = data.model_dump(exclude_unset=True)
    capacity = changes.get("max_mentees")
    if capacity is not None and capacity < profile.current_mentees_count:
        raise Conflict(
            f"You already have {profile.current_mentees_count} mentees",
            code="max_mentees_below_current",
        )
    for field in _EDITABLE:
        if field in changes:
            setattr(profile, field, changes[field])
    if "skills" in changes:
        await _replace_skills(session, profile.id, changes["skills"])
    profile.updated_at = utcnow()
    await session.flush()
    skills = await skills_of(session, [profile.id])
    return present_mentor(profile, user, skills[profile.id])


async def delete_mentor(session: AsyncSession, viewer: User, mentor_id: uuid.UUID) -> None:
    """The owner (or an admin) removes the profile; its requests and mentorships go with it
    (no counter elsewhere counts them)."""
    profile, _user = await _load_mentor(session, viewer, mentor_id, lock=True)
    if not is_self_or_admin(viewer, profile.user_id):
        raise Forbidden("Only the mentor can delete this profile", code="not_owner")
    await session.execute(
        delete(MentorProfile).where(MentorProfile.id == profile.id), execution_options=NO_SYNC
    )


# --- listing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MentorFilters:
    skill: str | None = None
    availability: str | None = None
    accepts_remote: bool | None = None
    search: str | None = None
    user_id: uuid.UUID | None = None


def _filter_conditions(filters: MentorFilters, viewer: User | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [listed_mentor(viewer)]
    if skill := normalize_label(filters.skill or ""):
        conditions.append(
            exists().where(MentorSkill.mentor_id == MentorProfile.id, MentorSkill.skill == skill)
        )
    if filters.availability is not None:
        conditions.append(MentorProfile.availability == filters.availability)
    if filters.accepts_remote is not None:
        conditions.append(MentorProfile.accepts_remote == filters.accepts_remote)
    if filters.user_id is not None:
        conditions.append(MentorProfile.user_id == filters.user_id)
    if search := (filters.search or "").strip():
        pattern = contains_pattern(search)
        # Skills are stored lower-cased: the pattern is too (ILIKE is ASCII-only on SQLite).
        skill_pattern = contains_pattern(search.lower())
        conditions.append(
            or_(
                like(User.name, pattern),
                like(MentorProfile.bio, pattern),
                exists().where(
                    MentorSkill.mentor_id == MentorProfile.id,
                    like(MentorSkill.skill, skill_pattern, ignore_case=False),
                ),
            )
        )
    return conditions


async def list_mentors(
    session: AsyncSession, viewer: User | None, filters: MentorFilters, page: PageParams
) -> tuple[list[MentorOut], Pagination]:
    """Listed mentors, newest profile first: a count, the page with its people, the skills.

    Three queries whatever the page size. Private, banned and deleted people are never listed
    (not even to themselves or admins: the list is the public directory).
    """
    conditions = _filter_conditions(filters, viewer)
    total = (
        await session.execute(
            select(func.count())
            .select_from(MentorProfile)
            .join(User, User.id == MentorProfile.user_id)
            .where(*conditions)
        )
    ).scalar_one()
    rows: list[tuple[MentorProfile, User]] = []
    if total > page.offset:
        result = await session.execute(
            _mentors_query(and_(*conditions))
            .order_by(MentorProfile.created_at.desc(), MentorProfile.id.desc())
            .limit(page.limit)
            .offset(page.offset)
        )
        rows = [(profile, user) for profile, user in result.all()]
    return await _present_mentors(session, rows), page.pagination(total)


# --- connections: reading -------------------------------------------------------------------

_Mentee = aliased(User, name="mentee")
_MentorPerson = aliased(User, name="mentor_person")


def _connections_query() -> Select[MentorConnection, MentorProfile, User, User]:
    """Connections with the mentor profile, the mentor's person and the mentee, in one query."""
    return (
        select(MentorConnection, MentorProfile, _MentorPerson, _Mentee)
        .join(MentorProfile, MentorProfile.id == MentorConnection.mentor_id)
        .join(_MentorPerson, _MentorPerson.id == MentorProfile.user_id)
        .join(_Mentee, _Mentee.id == MentorConnection.mentee_id)
        .execution_options(populate_existing=True)
    )


def present_connection(
    connection: MentorConnection, profile: MentorProfile, mentor: User, mentee: User
) -> ConnectionOut:
    return ConnectionOut(
        id=connection.id,
        mentor_id=connection.mentor_id,
        mentee_id=connection.mentee_id,
        mentor=ConnectionMentor(
            id=profile.id,
            user_id=mentor.id,
            name=mentor.name,
            avatar_url=mentor.avatar_url,
            availability=profile.availability,
            user=mentor_user(mentor),
        ),
        mentee=mentor_user(mentee),
        status=connection.status,
        message=connection.message,
        created_at=connection.created_at,
        updated_at=connection.updated_at,
    )


async def _connection(session: AsyncSession, connection_id: uuid.UUID) -> ConnectionOut:
    connection, profile, mentor, mentee = (
        await session.execute(_connections_query().where(MentorConnection.id == connection_id))
    ).one()
    return present_connection(connection, profile, mentor, mentee)


def _owned_profile_ids(user_id: uuid.UUID) -> Any:
    return select(MentorProfile.id).where(MentorProfile.user_id == user_id).scalar_subquery()


async def list_my_connections(
    session: AsyncSession,
    user: User,
    page: PageParams,
    *,
    status: str | None = None,
    role: str | None = None,
) -> tuple[list[ConnectionOut], Pagination]:
    """The caller's connections as mentee and as mentor, newest first (two queries).

    Without `status`: pending, accepted and rejected ones; `role` (`mentee`|`mentor`) keeps
    one side only.
    """
    as_mentee = MentorConnection.mentee_id == user.id
    as_mentor = MentorConnection.mentor_id.in_(_owned_profile_ids(user.id))
    side = {"mentee": as_mentee, "mentor": as_mentor}.get(role or "", or_(as_mentee, as_mentor))
    statuses = (status,) if status else OPEN_OR_ANSWERED
    conditions = [side, MentorConnection.status.in_(statuses)]
    total = (
        await session.execute(select(func.count()).select_from(MentorConnection).where(*conditions))
    ).scalar_one()
    items: list[ConnectionOut] = []
    if total > page.offset:
        result = await session.execute(
            _connections_query()
            .where(*conditions)
            .order_by(MentorConnection.created_at.desc(), MentorConnection.id.desc())
            .limit(page.limit)
            .offset(page.offset)
        )
        items = [present_connection(c, p, m, e) for c, p, m, e in result.all()]
    return items, page.pagination(total)


def present_mentee(connection: MentorConnection, mentee: User) -> MenteeOut:
    return MenteeOut(
        id=mentee.id,
        name=mentee.name,
        avatar_url=mentee.avatar_url,
        bio=mentee.bio,
        location=mentee.location,
        connection_id=connection.id,
        mentor_id=connection.mentor_id,
        status=connection.status,
        message=connection.message,
        requested_at=connection.created_at,
        updated_at=connection.updated_at,
    )


async def _list_mentees(
    session: AsyncSession, mentor_ids: Any, status: str, page: PageParams
) -> tuple[list[MenteeOut], Pagination]:
    conditions = [MentorConnection.mentor_id.in_(mentor_ids), MentorConnection.status == status]
    total = (
        await session.execute(select(func.count()).select_from(MentorConnection).where(*conditions))
    ).scalar_one()
    items: list[MenteeOut] = []
    if total > page.offset:
        result = await session.execute(
            select(MentorConnection, User)
            .join(User, User.id == MentorConnection.mentee_id)
            .where(*conditions)
            .order_by(MentorConnection.updated_at.desc(), MentorConnection.id.desc())
            .limit(page.limit)
            .offset(page.offset)
            .execution_options(populate_existing=True)
        )
        items = [present_mentee(connection, mentee) for connection, mentee in result.all()]
    return items, page.pagination(total)


async def list_mentees_of(
    session: AsyncSession, viewer: User, mentor_id: uuid.UUID, status: str, page: PageParams
) -> tuple[list[MenteeOut], Pagination]:
    """A mentor's mentees (`status=accepted`) or requests (`pending`): that mentor or an
    admin only (403 to others who can see the profile, 404 to those who cannot)."""
    profile, _user = await _load_mentor(session, viewer, mentor_id)
    if not is_self_or_admin(viewer, profile.user_id):
        raise Forbidden("Only the mentor can see their mentees", code="not_mentor")
    return await _list_mentees(session, [profile.id], status, page)


async def list_my_mentees(
    session: AsyncSession, user: User, page: PageParams
) -> tuple[list[MenteeOut], Pagination]:
    """The caller's accepted mentees (an empty list for someone who is no mentor)."""
    return await _list_mentees(session, _owned_profile_ids(user.id), "accepted", page)


# --- connections: changing ------------------------------------------------------------------


async def _shift_mentees(session: AsyncSession, mentor_id: uuid.UUID, delta: int) -> int | None:
    """`current_mentees_count += delta` in one guarded UPDATE: never above `max_mentees`,
    never below zero. None when the guard refused (the mentor is full)."""
    guard = (
        MentorProfile.current_mentees_count < MentorProfile.max_mentees
        if delta > 0
        else MentorProfile.current_mentees_count > 0
    )
    result = await session.execute(
        update(MentorProfile)
        .where(MentorProfile.id == mentor_id, guard)
        # updated_at kept: a mentee coming or going is not an edit of the profile.
        .values(
            current_mentees_count=MentorProfile.current_mentees_count + delta,
            updated_at=MentorProfile.updated_at,
        )
        .returning(MentorProfile.current_mentees_count),
        execution_options=NO_SYNC,
    )
    count = result.scalar_one_or_none()
    return None if count is None else int(count)


async def _pending_count(session: AsyncSession, mentee_id: uuid.UUID) -> int:
    result = await session.execute(
        select(func.count())
        .select_from(MentorConnection)
        .where(MentorConnection.mentee_id == mentee_id, MentorConnection.status == "pending")
    )
    return int(result.scalar_one())


async def _check_no_open_connection(
    session: AsyncSession, mentor_id: uuid.UUID, mentee_id: uuid.UUID, now: datetime
) -> None:
    """409 while the pair has a pending or accepted connection, or a recent refusal."""
    row = (
        await session.execute(
            select(MentorConnection.status, MentorConnection.updated_at).where(
                MentorConnection.mentor_id == mentor_id, MentorConnection.mentee_id == mentee_id
            )
        )
    ).one_or_none()
    if row is None:
        return
    status, updated_at = row
    if status in ("pending", "accepted"):
        raise Conflict(
            "You already have a request or a mentorship with this mentor",
            code="connection_exists",
        )
    if status == "rejected" and updated_at > now - REJECTED_COOLDOWN:
        raise Conflict(
            "This mentor declined your request recently", code="request_recently_rejected"
        )


async def connect(
    session: AsyncSession, mentee: User, mentor_id: uuid.UUID, message: str | None
) -> ConnectionOut:
    """A pending request from `mentee` to a mentor she can see; the mentor is notified (and
    emailed, as their settings allow).

    Refused: to yourself (400); while a request or mentorship with this mentor exists, or
    within REJECTED_COOLDOWN of a refusal (409); to an unavailable or full mentor (409); past
    MAX_PENDING_REQUESTS open requests (409). An ended or long-ago rejected connection is
    re-opened as a new request: the pair keeps one row, and the upsert's condition settles
    two requests sent at once (one 201, one 409).
    """
    profile, mentor = await _load_mentor(session, mentee, mentor_id)
    if mentor.id == mentee.id:
        raise BadRequest("You cannot ask yourself for mentoring", code="cannot_connect_to_self")
    now = utcnow()
    await _check_no_open_connection(session, profile.id, mentee.id, now)
    if profile.availability == "unavailable":
        raise Conflict("This mentor is not taking mentees", code="mentor_unavailable")
    if profile.current_mentees_count >= profile.max_mentees:
        raise Conflict("This mentor has no free place", code="mentor_full")
    if await _pending_count(session, mentee.id) >= MAX_PENDING_REQUESTS:
        raise Conflict(
            f"You already have {MAX_PENDING_REQUESTS} pending requests",
            code="too_many_pending_requests",
        )
    insert = dialect_insert(session, MentorConnection).values(
        id=uuid.uuid4(),
        mentor_id=profile.id,
        mentee_id=mentee.id,
        status="pending",
        message=message,
        created_at=now,
        updated_at=now,
    )
    reopenable = or_(
        MentorConnection.status == "ended",
        and_(
            MentorConnection.status == "rejected",
            MentorConnection.updated_at <= now - REJECTED_COOLDOWN,
        ),
    )
    result = await session.execute(
        insert.on_conflict_do_update(
            index_elements=["mentor_id", "mentee_id"],
            set_={
                "status": "pending",
                "message": insert.excluded.message,
                "created_at": insert.excluded.created_at,
                "updated_at": insert.excluded.updated_at,
            },
            where=reopenable,
        ).returning(MentorConnection.id)
    )
    connection_id = result.scalar_one_or_none()
    if connection_id is None:
        # A concurrent request of the same pair got there first.
        raise Conflict(
            "You already have a request or a mentorship with this mentor",
            code="connection_exists",
        )
    await notify(
        session,
        mentor.id,
        "mentor_request",
        "New mentoring request",
        f"{mentee.name} would like you to mentor them",
        {
            "connectionId": connection_id,
            "mentorId": profile.id,
            "menteeId": mentee.id,
            "menteeName": mentee.name,
        },
        actor_id=mentee.id,
        email=True,
    )
    return await _connection(session, connection_id)


async def _set_status(
    session: AsyncSession, condition: ColumnElement[bool], status: str
) -> MentorConnection | None:
    """Move the connection matching `condition` to `status`, atomically (the condition holds
    the allowed previous status); None when no connection matched."""
    result = await session.execute(
        update(MentorConnection)
        .where(condition)
        .values(status=status, updated_at=utcnow())
        .returning(MentorConnection.id),
        execution_options=NO_SYNC,
    )
    connection_id = result.scalar_one_or_none()
    if connection_id is None:
        return None
    return await session.get(MentorConnection, connection_id, populate_existing=True)


async def answer_request(
    session: AsyncSession,
    mentor_user: User,
    mentor_id: uuid.UUID,
    connection_id: uuid.UUID,
    action: str,
) -> ConnectionOut:
    """The mentor accepts or rejects a pending request; the mentee is notified.

    Accepting takes a place with one guarded UPDATE (`current < max`) after the status has
    moved (row order: the connection, then the profile, as every path here). When the mentor
    is full the whole change rolls back: 409 `mentor_full`, and the request stays pending.
    """
    profile, mentor = await _load_mentor(session, mentor_user, mentor_id)
    if profile.user_id != mentor_user.id:
        raise Forbidden("Only this mentor can answer its requests", code="not_mentor")
    accepting = action == "accept"
    connection = await _set_status(
        session,
        and_(
            MentorConnection.id == connection_id,
            MentorConnection.mentor_id == profile.id,
            MentorConnection.status == "pending",
        ),
        "accepted" if accepting else "rejected",
    )
    if connection is None:
        status = await session.scalar(
            select(MentorConnection.status).where(
                MentorConnection.id == connection_id, MentorConnection.mentor_id == profile.id
            )
        )
        if status is None:
            raise _connection_not_found()
        raise Conflict(f"This request is already {status}", code="connection_not_pending")
    if accepting:
        if await _shift_mentees(session, profile.id, 1) is None:
            raise Conflict("You have no free mentee place", code="mentor_full")
        title, text = "Mentoring request accepted", f"{mentor.name} accepted to mentor you"
    else:
        title, text = "Mentoring request declined", f"{mentor.name} cannot mentor you right now"
    await notify(
        session,
        connection.mentee_id,
        "mentor_accepted" if accepting else "mentor_rejected",
        title,
        text,
        {
            "connectionId": connection.id,
            "mentorId": profile.id,
            "mentorUserId": mentor.id,
            "mentorName": mentor.name,
        },
        actor_id=mentor.id,
        email=accepting,
    )
    return await _connection(session, connection.id)


async def end_connection(
    session: AsyncSession, user: User, mentor_id: uuid.UUID, connection_id: uuid.UUID | None
) -> None:
    """The mentee withdraws her pending request (it is deleted), or either side ends an
    accepted mentorship (`ended`, and the mentor's count goes down exactly once).

    The mentee may leave `connection_id` out; the mentor must name it (422 otherwise). This
    works even if the other person has since gone private: one can always leave.
    """
    profile = await session.get(MentorProfile, mentor_id)
    if profile is None:
        raise _mentor_not_found()
    if profile.user_id == user.id:
        if connection_id is None:
            raise ValidationFailed("connectionId", "Name the connection to end")
        mine = and_(MentorConnection.id == connection_id, MentorConnection.mentor_id == profile.id)
    else:
        mine = and_(MentorConnection.mentor_id == profile.id, MentorConnection.mentee_id == user.id)
        if connection_id is not None:
            mine = and_(mine, MentorConnection.id == connection_id)
        withdrawn = await session.execute(
            delete(MentorConnection)
            .where(mine, MentorConnection.status == "pending")
            .returning(MentorConnection.id),
            execution_options=NO_SYNC,
        )
        if withdrawn.scalar_one_or_none() is not None:
            return
    ended = await _set_status(session, and_(mine, MentorConnection.status == "accepted"), "ended")
    if ended is not None:
        await _shift_mentees(session, profile.id, -1)
        return
    status = await session.scalar(select(MentorConnection.status).where(mine))
    if status == "pending":
        raise Conflict("Answer a pending request with accept or reject", code="connection_pending")
    if status is None and profile.user_id != user.id:
        # Someone with no connection learns nothing about a profile they cannot see.
        await _load_mentor(session, user, mentor_id)
    raise _connection_not_found()


# --- for other domains ----------------------------------------------------------------------


async def have_accepted_connection(
    session: AsyncSession, user_a: uuid.UUID, user_b: uuid.UUID
) -> bool:
    """Whether one of the two mentors the other (an accepted connection, either way)."""
    found = await session.scalar(
        select(MentorConnection.id)
        .join(MentorProfile, MentorProfile.id == MentorConnection.mentor_id)
        .where(
            MentorConnection.status == "accepted",
            or_(
                and_(MentorProfile.user_id == user_a, MentorConnection.mentee_id == user_b),
                and_(MentorProfile.user_id == user_b, MentorConnection.mentee_id == user_a),
            ),
        )
        .limit(1)
    )
    return found is not None


async def close_pending_between(session: AsyncSession, user_a: uuid.UUID, user_b: uuid.UUID) -> int:
    """Delete the pending requests between two people, either way (a block). Nobody is told;
    no counter counts pending requests. Returns how many were closed."""
    result = await session.execute(
        delete(MentorConnection)
        .where(
            MentorConnection.status == "pending",
            or_(
                and_(
                    MentorConnection.mentee_id == user_a,
                    MentorConnection.mentor_id.in_(_owned_profile_ids(user_b)),
                ),
                and_(
                    MentorConnection.mentee_id == user_b,
                    MentorConnection.mentor_id.in_(_owned_profile_ids(user_a)),
                ),
            ),
        )
        .returning(MentorConnection.id),
        execution_options=NO_SYNC,
    )
    return len(result.all())


async def close_for_user(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Delete every pending request to or from `user_id` (a ban). Accepted mentorships stay
    (and keep their place) so that an unban restores them. Returns how many were closed."""
    result = await session.execute(
        delete(MentorConnection)
        .where(
            MentorConnection.status == "pending",
            or_(
                MentorConnection.mentee_id == user_id,
                MentorConnection.mentor_id.in_(_owned_profile_ids(user_id)),
            ),
        )
        .returning(MentorConnection.id),
        execution_options=NO_SYNC,
    )
    return len(result.all())


async def purge_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Remove a person's mentor profile (with its skills and connections) and her connections
    as a mentee, keeping every other mentor's count exact (account deletion).

    Her connections are deleted first, RETURNING their mentor and status: on PostgreSQL the
    DELETE waits for a concurrent accept of the same row and then sees its outcome, so each
    accepted one gives back exactly one place.
    """
    result = await session.execute(
        delete(MentorConnection)
        .where(MentorConnection.mentee_id == user_id)
        .returning(MentorConnection.mentor_id, MentorConnection.status),
        execution_options=NO_SYNC,
    )
    mentors = sorted({mentor for mentor, status in result.all() if status == "accepted"})
    if mentors:
        # One row per mentor (a pair has one connection); sorted: the same lock order always.
        await session.execute(
            update(MentorProfile)
            .where(MentorProfile.id.in_(mentors), MentorProfile.current_mentees_count > 0)
            .values(
                current_mentees_count=MentorProfile.current_mentees_count - 1,
                updated_at=MentorProfile.updated_at,
            ),
            execution_options=NO_SYNC,
        )
    await session.execute(
        delete(MentorProfile).where(MentorProfile.user_id == user_id), execution_options=NO_SYNC
    )


def _iso(value: Any) -> str:
    return str(value.isoformat().replace("+00:00", "Z"))


async def export_user(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    """A person's mentor profile and connections as JSON-ready data (GDPR export). Other
    people appear by id and name only. Three queries."""
    row = (
        await session.execute(select(MentorProfile).where(MentorProfile.user_id == user_id))
    ).scalar_one_or_none()
    profile: dict[str, Any] | None = None
    if row is not None:
        skills = await skills_of(session, [row.id])
        profile = {
            "id": str(row.id),
            "bio": row.bio,
            "availability": row.availability,
            "yearsExperience": row.years_experience,
            "maxMentees": row.max_mentees,
            "currentMenteesCount": row.current_mentees_count,
            "acceptsRemote": row.accepts_remote,
            "skills": skills[row.id],
            "createdAt": _iso(row.created_at),
            "updatedAt": _iso(row.updated_at),
        }
    result = await session.execute(
        _connections_query()
        .where(
            or_(
                MentorConnection.mentee_id == user_id,
                MentorConnection.mentor_id.in_(_owned_profile_ids(user_id)),
            )
        )
        .order_by(MentorConnection.created_at, MentorConnection.id)
    )
    connections = []
    for connection, mentor_profile, mentor, mentee in result.all():
        as_mentee = connection.mentee_id == user_id
        other = mentor if as_mentee else mentee
        connections.append(
            {
                "id": str(connection.id),
                "role": "mentee" if as_mentee else "mentor",
                "mentorId": str(mentor_profile.id),
                "with": {"id": str(other.id), "name": other.name},
                "status": connection.status,
                "message": connection.message,
                "createdAt": _iso(connection.created_at),
                "updatedAt": _iso(connection.updated_at),
            }
        )
    return {"mentorProfile": profile, "mentorConnections": connections}

"""Explained mentor matching: every mentor a mentee could ask is scored in SQL, the best come
back with the reasons a person can read.

The score is a sum of integer points out of 1000 (integer arithmetic: the same ranking on
PostgreSQL and SQLite), shown as `score = points / 1000`:

    topics      500 * min(m, k) / k   m = the mentor's skills among the mentee's terms (her
                                      skills + interests + criteria skills/interests),
                                      k = min(3, number of terms); 0 without terms
    location    200 same place (case-insensitive) | 100 the mentor mentors remotely | 0
    availability 100 available | 40 busy
    capacity     50 * free places / max mentees
    experience  150 * min(years, 15) / 15

Ties are broken by the mentor's id, so equal inputs give the same order. Never recommended:
the mentee herself, unavailable or full mentors, private, banned or deleted people, mentors
she has a pending or accepted connection with, or who declined her within the cooldown.
A fixed number of queries whatever the number of mentors: her terms (2), the ranked page
(1), the page's skills (1).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import (
    ColumnElement,
    Subquery,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession

from peal.core.errors import Forbidden, NotFound
from peal.db import utcnow
from peal.mentors.models import MentorConnection, MentorProfile, MentorSkill
from peal.mentors.schemas import MatchCriteria, MatchProfile, MentorMatch
from peal.mentors.service import REJECTED_COOLDOWN, listed_mentor, mentor_user, skills_of
from peal.users.models import User
from peal.users.policy import is_admin
from peal.users.service import get_interests, get_skills

POINTS = 1000
TOPICS, LOCATION, AVAILABLE, BUSY, CAPACITY, EXPERIENCE = 500, 200, 100, 40, 50, 150
REMOTE = 100
TOPICS_SATURATE = 3  # matching 3 of your terms is a full topics score
EXPERIENCE_SATURATE = 15  # years


@dataclass(frozen=True)
class MenteeTerms:
    """What one mentee brings to a match: her terms and her place."""

    skills: frozenset[str] = field(default_factory=frozenset)
    interests: frozenset[str] = field(default_factory=frozenset)
    location: str | None = None

    @property
    def terms(self) -> frozenset[str]:
        return self.skills | self.interests


async def _target(session: AsyncSession, viewer: User, user_id: uuid.UUID | None) -> User:
    """The mentee: the caller, or anyone for an admin."""
    if user_id is None or user_id == viewer.id:
        return viewer
    if not is_admin(viewer):
        raise Forbidden("You can only ask for your own matches", code="not_allowed")
    user = await session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise NotFound("User not found", code="user_not_found")
    return user


def _normal_place(value: str | None) -> str | None:
    place = " ".join((value or "").split()).lower()
    return place or None


async def mentee_terms(
    session: AsyncSession, mentee: User, criteria: MatchCriteria | None
) -> MenteeTerms:
    criteria = criteria or MatchCriteria()
    skills = frozenset(await get_skills(session, mentee.id)) | frozenset(criteria.skills)
    interests = frozenset(await get_interests(session, mentee.id)) | frozenset(criteria.interests)
    place = _normal_place(criteria.location) or _normal_place(mentee.location)
    return MenteeTerms(skills=skills, interests=interests, location=place)


def _same_place(place: str | None) -> ColumnElement[bool]:
    if place is None:
        return literal(False)
    return func.lower(func.trim(User.location)) == place


def _overlaps(terms: MenteeTerms) -> Subquery | None:
    """Per mentor, how many of its skills are among the mentee's terms: one pass over the
    skill index for the terms (not one lookup per mentor), joined to the candidates."""
    if not terms.terms:
        return None
    return (
        select(MentorSkill.mentor_id, func.count().label("shared"))
        .where(MentorSkill.skill.in_(sorted(terms.terms)))
        .group_by(MentorSkill.mentor_id)
        .subquery("overlaps")
    )


def _points(
    terms: MenteeTerms, overlaps: Subquery | None
) -> tuple[ColumnElement[int], ColumnElement[bool]]:
    """The SQL score (integer points) of the joined MentorProfile/User, and same-place."""
    if overlaps is not None:
        saturate = min(TOPICS_SATURATE, len(terms.terms))
        shared = func.coalesce(overlaps.c.shared, 0)
        topics: ColumnElement[int] = case(
            (shared >= saturate, TOPICS), else_=shared * TOPICS // saturate
        )
    else:
        topics = literal(0)
    same_place = _same_place(terms.location)
    location = case((same_place, LOCATION), (MentorProfile.accepts_remote, REMOTE), else_=0)
    availability = case((MentorProfile.availability == "available", AVAILABLE), else_=BUSY)
    free = MentorProfile.max_mentees - MentorProfile.current_mentees_count
    capacity = case(
        (MentorProfile.max_mentees > 0, free * CAPACITY // MentorProfile.max_mentees), else_=0
    )
    years = func.coalesce(MentorProfile.years_experience, 0)
    experience = case(
        (years >= EXPERIENCE_SATURATE, EXPERIENCE), else_=years * EXPERIENCE // EXPERIENCE_SATURATE
    )
    return topics + location + availability + capacity + experience, same_place


def _eligible(mentee: User, criteria: MatchCriteria | None) -> list[ColumnElement[bool]]:
    cutoff = utcnow() - REJECTED_COOLDOWN
    conditions = [
        listed_mentor(mentee),
        MentorProfile.user_id != mentee.id,
        MentorProfile.availability != "unavailable",
        MentorProfile.current_mentees_count < MentorProfile.max_mentees,
        ~exists().where(
            MentorConnection.mentor_id == MentorProfile.id,
            MentorConnection.mentee_id == mentee.id,
            or_(
                MentorConnection.status.in_(("pending", "accepted")),
                and_(MentorConnection.status == "rejected", MentorConnection.updated_at > cutoff),
            ),
        ),
    ]
    if criteria is not None:
        if criteria.availability is not None:
            conditions.append(MentorProfile.availability == criteria.availability)
        if criteria.min_experience:
            years = func.coalesce(MentorProfile.years_experience, 0)
            conditions.append(years >= criteria.min_experience)
        if criteria.accepts_remote:
            conditions.append(MentorProfile.accepts_remote == true())
    return conditions


def _listing(items: Sequence[str]) -> str:
    return ", ".join(items)


def reasons_for(
    profile: MentorProfile,
    matched_skills: Sequence[str],
    matched_interests: Sequence[str],
    same_place: bool,
    location: str | None,
) -> list[str]:
    """Short sentences saying why this mentor was suggested, the strongest first."""
    reasons = []
    if matched_interests:
        reasons.append(
            f"Shares {len(matched_interests)} of your interests: {_listing(matched_interests)}"
        )
    skills_only = [skill for skill in matched_skills if skill not in matched_interests]
    if skills_only:
        reasons.append(f"Skilled in {len(skills_only)} of your skills: {_listing(skills_only)}")
    if same_place:
        reasons.append(f"Based in {location}, like you")
    elif profile.accepts_remote:
        reasons.append("Mentors remotely")
    years = profile.years_experience or 0
    if years:
        reasons.append(f"{years} year{'s' if years != 1 else ''} of experience")
    if profile.availability == "available":
        reasons.append("Available now")
    else:
        reasons.append("Busy, but open to requests")
    free = profile.max_mentees - profile.current_mentees_count
    reasons.append(f"{free} of {profile.max_mentees} mentee places free")
    return reasons


async def recommend(
    session: AsyncSession,
    viewer: User,
    user_id: uuid.UUID | None,
    criteria: MatchCriteria | None,
    limit: int,
) -> list[MentorMatch]:
    """The best mentors for the mentee, best first (see the module's formula)."""
    mentee = await _target(session, viewer, user_id)
    terms = await mentee_terms(session, mentee, criteria)
    overlaps = _overlaps(terms)
    points, same_place = _points(terms, overlaps)
    query = select(MentorProfile, User, points.label("points"), same_place.label("same_place"))
    query = query.join(User, User.id == MentorProfile.user_id)
    if overlaps is not None:
        query = query.outerjoin(overlaps, overlaps.c.mentor_id == MentorProfile.id)
    result = await session.execute(
        query.where(*_eligible(mentee, criteria))
        .order_by(points.desc(), MentorProfile.id.asc())
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    rows = result.all()
    skills = await skills_of(session, [row[0].id for row in rows])
    matches = []
    for profile, user, score_points, is_same_place in rows:
        mentor_skills = skills[profile.id]
        matched_skills = [skill for skill in mentor_skills if skill in terms.skills]
        matched_interests = [skill for skill in mentor_skills if skill in terms.interests]
        near = bool(is_same_place)
        matches.append(
            MentorMatch(
                mentor_id=profile.id,
                score=round(min(int(score_points), POINTS) / POINTS, 3),
                matched_skills=matched_skills,
                matched_interests=matched_interests,
                location_match=near or profile.accepts_remote,
                availability=profile.availability,
                years_experience=profile.years_experience,
                reasons=reasons_for(
                    profile, matched_skills, matched_interests, near, (user.location or "").strip()
                ),
                profile=MatchProfile(
                    id=profile.id,
                    bio=profile.bio,
                    availability=profile.availability,
                    years_experience=profile.years_experience,
                    max_mentees=profile.max_mentees,
                    current_mentees_count=profile.current_mentees_count,
                    accepts_remote=profile.accepts_remote,
                    skills=mentor_skills,
                    user=mentor_user(user),
                ),
            )
        )
    return matches

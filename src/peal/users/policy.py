"""Who may see whom, and who may do what: the identity layer's policies, as plain functions.

Every list that shows a person uses the same SQL condition, so a private profile, a banned or
deleted account, or a block between the viewer and the person hides that person the same way
everywhere (profiles 404, absent from lists, search, feeds, comments):

- `profile_visible(viewer, person=User)` on a query that joins the person's `User` row;
- `visible_to(viewer, person_id)` on a query that has only the person's id (no join needed);
- `not_blocked(viewer_id, person_id)`, the block part alone, both directions;
- `not_muted(viewer_id, person_id)`, for feeds and notifications only.

Admins see everyone (they moderate); a viewer always sees themselves.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlalchemy import ColumnElement, and_, bindparam, exists, false, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute, aliased
from sqlalchemy.orm.util import AliasedClass

from peal.users.models import Role, User, UserBlock, UserMute

PersonEntity = type[User] | AliasedClass[User]
# A column holding a person's id: `Video.author_id`, `MentorProfile.user_id`, ...
PersonId = ColumnElement[uuid.UUID] | InstrumentedAttribute[uuid.UUID]
ViewerId = uuid.UUID | PersonId


# --- statements built once for every viewer ---------------------------------------------

# What the policies tell apart about a viewer: nobody signed in, an admin, anyone else.
ViewerShape = Literal["anonymous", "admin", "member"]


def viewer_shape(viewer: User | None) -> ViewerShape:
    if viewer is None:
        return "anonymous"
    return "admin" if is_admin(viewer) else "member"


@dataclass(frozen=True)
class _ViewerSlot:
    """Stands for the viewer in a statement built once per `ViewerShape`: her id is the bound
    parameter `viewer_id`. The policies read a viewer's `id` and `role` only; one that read
    anything else would fail when the statement is built, in every test that lists."""

    id: Any
    role: Role


def viewer_slot(shape: ViewerShape) -> User | None:
    """The viewer to build a shared statement with (run it with `viewer_values`): hot lists
    spend as long building their statements and cache keys as PostgreSQL spends running them,
    so they build them once per shape (`functools.cache`) and bind the viewer's id."""
    if shape == "anonymous":
        return None
    role = Role.ADMIN if shape == "admin" else Role.WOMAN
    return cast(User, _ViewerSlot(id=bindparam("viewer_id"), role=role))


def viewer_values(viewer: User | None) -> dict[str, Any]:
    """The bound values of `viewer_slot`'s statements for this viewer."""
    return {} if viewer is None else {"viewer_id": viewer.id}


def is_admin(user: User | None) -> bool:
    return user is not None and user.role == Role.ADMIN


def is_self_or_admin(user: User | None, owner_id: object) -> bool:
    return user is not None and (user.id == owner_id or user.role == Role.ADMIN)


def can_see_private(user: User, viewer: User | None) -> bool:
    """May `viewer` see this person's private fields (email, settings)? Themselves and admins."""
    return viewer is not None and (viewer.id == user.id or viewer.role == Role.ADMIN)


def is_listed(user: User) -> bool:
    """Visible to everyone: public, not banned, not deleted."""
    return user.is_public and user.is_active


def listed_conditions(
    *, include_private: bool = False, person: PersonEntity = User
) -> list[ColumnElement[bool]]:
    """Active accounts (not deleted, not banned), and only public ones unless asked."""
    conditions = [person.deleted_at.is_(None), person.is_banned == false()]
    if not include_private:
        conditions.append(person.is_public == true())
    return conditions


def not_blocked(viewer_id: ViewerId, person_id: ViewerId) -> ColumnElement[bool]:
    """SQL: neither has blocked the other. Two EXISTS, each served by a unique index."""
    return and_(
        ~exists().where(UserBlock.blocker_id == viewer_id, UserBlock.blocked_id == person_id),
        ~exists().where(UserBlock.blocker_id == person_id, UserBlock.blocked_id == viewer_id),
    )


def not_muted(viewer_id: ViewerId, person_id: ViewerId) -> ColumnElement[bool]:
    """SQL: the viewer has not muted the person (mutes hide one way: feeds, notifications)."""
    return ~exists().where(UserMute.muter_id == viewer_id, UserMute.muted_id == person_id)


def profile_visible(
    viewer: User | None, person: PersonEntity = User, *, person_id: PersonId | None = None
) -> ColumnElement[bool]:
    """SQL condition on the joined `person` row: may `viewer` see this person, and so their
    videos, requests, stories, comments and registrations? Admins see everyone; others see
    active public profiles with no block between them, and themselves.

    `person_id`: the same id read from the other side of the join (e.g. `Video.author_id`),
    so the block checks run per row of that table rather than per row of `users` (a planner
    that hashes the whole users table then runs them for every user)."""
    if is_admin(viewer):
        return true()
    active = and_(*listed_conditions(include_private=True, person=person))
    if viewer is None:
        return and_(active, person.is_public == true())
    who = person.id if person_id is None else person_id
    return or_(
        who == viewer.id,
        and_(active, person.is_public == true(), not_blocked(viewer.id, who)),
    )


def visible_to(viewer: User | None, person_id: ViewerId) -> ColumnElement[bool]:
    """The same rule as `profile_visible` for a query holding only the person's id column
    (e.g. `MentorProfile.user_id`, a conversation participant): a correlated EXISTS on the
    person's primary key."""
    if is_admin(viewer):
        return true()
    person = aliased(User)
    return exists(select(person.id).where(person.id == person_id, profile_visible(viewer, person)))


def listed_to(viewer: User | None) -> ColumnElement[bool]:
    """SQL condition on `User`: may this person appear in a list (directory, followers, search)
    that `viewer` sees? Admins are listed to admins only: a list of admin ids is where an
    attack on them starts."""
    if viewer is not None and viewer.role == "admin":
        return true()
    return User.role != "admin"

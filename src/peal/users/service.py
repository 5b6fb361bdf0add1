"""The rules of the users domain: accounts as other domains see them, profiles, follows."""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    and_,
    bindparam,
    case,
    delete,
    exists,
    false,
    func,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from peal.core.errors import BadRequest, Conflict, Forbidden, NotFound
from peal.core.export import jsonable, person, row_dict
from peal.core.sql import IDS, NO_SYNC, contains_pattern, insert_ignoring_duplicates, like
from peal.db import utcnow
from peal.users.blocks import is_blocked_between
from peal.users.models import (
    ROLES,
    DataExport,
    User,
    UserBlock,
    UserFollow,
    UserInterest,
    UserMute,
    UserSkill,
)
from peal.users.policy import (
    ViewerShape,
    can_see_private,
    listed_to,
    profile_visible,
    viewer_shape,
    viewer_slot,
    viewer_values,
)
from peal.users.policy import listed_conditions as _listed_conditions
from peal.users.schemas import UserOut, normalize_label

DELETED_NAME = "Deleted user"
# Bulk statements name their rows by SQL, not by loaded objects: no identity-map bookkeeping.
# Counter updates also set `updated_at` to itself: a follower or a like is not an edit.
# Bound parameters per IN list, well below SQLite's and asyncpg's limits (32766 / 32767).
_IN_CHUNK = 500


def normalize_email(email: str) -> str:
    return email.strip().lower()


def deleted_email(user_id: uuid.UUID) -> str:
    """A unique address that can never receive mail (RFC 2606 reserves `.invalid`)."""
    return f"deleted-{user_id}@deleted.invalid"


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.execute(select(User).where(User.email == normalize_email(email)))
    return result.scalar_one_or_none()


def clean_labels(values: Iterable[str]) -> list[str]:
    """Skills/interests in their stored form, repeats and empty ones dropped, order kept."""
    return list(dict.fromkeys(label for label in map(normalize_label, values) if label))


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    name: str,
    role: str,
    password_hash: str | None,
    bio: str | None = None,
    location: str | None = None,
    skills: Sequence[str] = (),
    email_verified: bool = False,
) -> User:
    """Insert a user (and skills). The caller checks uniqueness; the database enforces it."""
    user = User(
        email=normalize_email(email),
        name=name,
        role=role,
        password_hash=password_hash,
        bio=bio,
        location=location,
        email_verified=email_verified,
    )
    session.add(user)
    await session.flush()
    labels = clean_labels(skills)
    for skill in labels:
        session.add(UserSkill(user_id=user.id, skill=skill))
    if labels:
        await session.flush()
    return user


# --- visibility ---------------------------------------------------------------------------


@functools.cache
def _visible_user(shape: ViewerShape) -> Select[User]:
    """`get_visible_user`'s statement, built once per viewer shape (`user_id` bound): it serves
    every profile and most routes about a person, where building it and its cache key cost
    more CPU than PostgreSQL spends running it."""
    return select(User).where(User.id == bindparam("user_id"), profile_visible(viewer_slot(shape)))


async def get_visible_user(session: AsyncSession, user_id: uuid.UUID, viewer: User | None) -> User:
    """The user if `viewer` may see it; private, banned, deleted and blocked users (either
    way) are 404 to others: the one rule of `users.policy.profile_visible`."""
    values = {"user_id": user_id, **viewer_values(viewer)}
    user = await session.scalar(_visible_user(viewer_shape(viewer)), values)
    if user is None:
        raise NotFound("User not found", code="user_not_found")
    return user


async def get_user_for_change(session: AsyncSession, user_id: uuid.UUID, viewer: User) -> User:
    """A live user `viewer` may change: themselves, or anyone for an admin.

    Someone who cannot see the user gets 404 (existence does not leak), someone who can see
    it but is not its owner gets 403. A deleted user is 404 even to admins.
    """
    user = await get_visible_user(session, user_id, viewer)
    if user.deleted_at is not None:
        raise NotFound("User not found", code="user_not_found")
    if not can_see_private(user, viewer):
        raise Forbidden("You can only change your own profile", code="not_owner")
    return user


# --- presenting -----------------------------------------------------------------------------


_SKILL, _INTEREST = "skill", "interest"
# Built once: the users' skills and interests in one round trip, each kind in label order.
_LABELS: CompoundSelect[*tuple[Any, ...]] = union_all(
    select(UserSkill.user_id, literal_column(f"'{_SKILL}'"), UserSkill.skill.label("label")).where(
        UserSkill.user_id.in_(IDS)
    ),
    select(UserInterest.user_id, literal_column(f"'{_INTEREST}'"), UserInterest.interest).where(
        UserInterest.user_id.in_(IDS)
    ),
).order_by(literal_column("label"))
_FOLLOWED_AMONG = select(UserFollow.following_id).where(
    UserFollow.follower_id == bindparam("viewer_id"), UserFollow.following_id.in_(IDS)
)


async def present_users(
    session: AsyncSession, users: Sequence[User], viewer: User | None
) -> list[UserOut]:
    """Serialise users for `viewer` in a fixed number of queries (2), whatever their count."""
    if not users:
        return []
    ids = [user.id for user in users]
    labels: dict[str, dict[uuid.UUID, list[str]]] = {
        _SKILL: defaultdict(list),
        _INTEREST: defaultdict(list),
    }
    for user_id, kind, label in await session.execute(_LABELS, {"ids": ids}):
        labels[kind][user_id].append(label)
    skills, interests = labels[_SKILL], labels[_INTEREST]
    following: set[uuid.UUID] = set()
    if viewer is not None:
        following = set(
            (await session.scalars(_FOLLOWED_AMONG, {"viewer_id": viewer.id, "ids": ids})).all()
        )
    out = []
    for user in users:
        private = can_see_private(user, viewer)
        # Without validation, as `videos.service.present_cards`: the values are the database's.
        out.append(
            UserOut.model_construct(
                id=user.id,
                name=user.name,
                email=user.email if private else None,
                avatar_url=user.avatar_url,
                role=user.role,
                bio=user.bio,
                location=user.location,
                is_public=user.is_public,
                email_verified=user.email_verified if private else None,
                skills=skills[user.id],
                interests=interests[user.id],
                followers_count=user.followers_count,
                following_count=user.following_count,
                is_following=user.id in following,
                created_at=user.created_at,
            )
        )
    return out


async def present_user(session: AsyncSession, user: User, viewer: User | None) -> UserOut:
    return (await present_users(session, [user], viewer))[0]


# --- listing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserFilters:
    role: str | None = None
    skill: str | None = None
    interest: str | None = None
    location: str | None = None
    search: str | None = None
    include_private: bool = False


def _filter_conditions(filters: UserFilters) -> list[ColumnElement[bool]]:
    """SQL conditions of the filters; an empty or blank filter is no filter."""
    conditions = _listed_conditions(include_private=filters.include_private)
    if filters.role:
        conditions.append(User.role == filters.role)
    if skill := normalize_label(filters.skill or ""):
        conditions.append(exists().where(UserSkill.user_id == User.id, UserSkill.skill == skill))
    if interest := normalize_label(filters.interest or ""):
        conditions.append(
            exists().where(UserInterest.user_id == User.id, UserInterest.interest == interest)
        )
    if location := (filters.location or "").strip():
        conditions.append(like(User.location, contains_pattern(location)))
    if search := (filters.search or "").strip():
        pattern = contains_pattern(search)
        conditions.append(or_(like(User.name, pattern), like(User.bio, pattern)))
    return conditions


async def _page(
    session: AsyncSession,
    query: Select[User],
    count_query: Select[int],
    *,
    limit: int,
    offset: int,
) -> tuple[list[User], int]:
    total = (await session.execute(count_query)).scalar_one()
    if total <= offset:
        # Past the last page: no need to ask for rows that cannot be there.
        return [], total
    users = list((await session.scalars(query.limit(limit).offset(offset))).all())
    return users, total


async def list_users(
    session: AsyncSession,
    filters: UserFilters,
    viewer: User | None,
    *,
    limit: int,
    offset: int,
) -> tuple[list[UserOut], int]:
    """Listed users matching `filters`, newest first: count + page + 3 queries."""
    conditions = [*_filter_conditions(filters), profile_visible(viewer), listed_to(viewer)]
    query = select(User).where(*conditions).order_by(User.created_at.desc(), User.id.desc())
    count_query = select(func.count()).select_from(User).where(*conditions)
    users, total = await _page(session, query, count_query, limit=limit, offset=offset)
    return await present_users(session, users, viewer), total


async def list_follows(
    session: AsyncSession,
    user_id: uuid.UUID,
    viewer: User | None,
    *,
    followers: bool,
    limit: int,
    offset: int,
) -> tuple[list[UserOut], int]:
    """Followers (or followed users) of a user the viewer can see, newest follow first.

    Private profiles are listed only to admins and to the list's owner (and a viewer always
    sees themselves); banned and deleted users never are.
    """
    owner = await get_visible_user(session, user_id, viewer)
    if followers:
        join_on, owned_by = UserFollow.follower_id == User.id, UserFollow.following_id == owner.id
    else:
        join_on, owned_by = UserFollow.following_id == User.id, UserFollow.follower_id == owner.id
    conditions = [owned_by, *_listed_conditions(include_private=True), listed_to(viewer)]
    if not can_see_private(owner, viewer):
        conditions.append(profile_visible(viewer))
    query = (
        select(User)
        .join(UserFollow, join_on)
        .where(*conditions)
        .order_by(UserFollow.created_at.desc(), UserFollow.id.desc())
    )
    count_query = (
        select(func.count()).select_from(User).join(UserFollow, join_on).where(*conditions)
    )
    users, total = await _page(session, query, count_query, limit=limit, offset=offset)
    return await present_users(session, users, viewer), total


# --- profile --------------------------------------------------------------------------------

PROFILE_FIELDS = frozenset({"name", "bio", "location", "avatar_url", "is_public"})


async def update_profile(session: AsyncSession, user: User, changes: dict[str, Any]) -> User:
    """Apply validated profile changes; only the whitelisted fields can ever be written."""
    for field, value in changes.items():
        if field in PROFILE_FIELDS:
            setattr(user, field, value)
    await session.flush()
    return user


async def set_verified_email(session: AsyncSession, user: User, email: str) -> None:
    """Move the account to an address its owner has just proved (the auth domain checks the
    proof). The unique index refuses an address taken meanwhile: IntegrityError, for the
    caller to answer 409."""
    user.email = normalize_email(email)
    user.email_verified = True
    await session.flush()


# --- skills and interests -------------------------------------------------------------------


async def get_skills(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    result = await session.scalars(
        select(UserSkill.skill).where(UserSkill.user_id == user_id).order_by(UserSkill.skill)
    )
    return list(result.all())


async def get_interests(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    result = await session.scalars(
        select(UserInterest.interest)
        .where(UserInterest.user_id == user_id)
        .order_by(UserInterest.interest)
    )
    return list(result.all())


async def _lock_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Serialise replacements of one user's lists (PostgreSQL row lock; SQLite locks anyway)."""
    await session.execute(select(User.id).where(User.id == user_id).with_for_update())


async def replace_skills(session: AsyncSession, user_id: uuid.UUID, skills: list[str]) -> list[str]:
    """Replace the whole list inside the request's transaction: all or nothing."""
    await _lock_user(session, user_id)
    await session.execute(
        delete(UserSkill).where(UserSkill.user_id == user_id), execution_options=NO_SYNC
    )
    labels = clean_labels(skills)
    session.add_all(UserSkill(user_id=user_id, skill=skill) for skill in labels)
    await session.flush()
    return sorted(labels)


async def replace_interests(
    session: AsyncSession, user_id: uuid.UUID, interests: list[str]
) -> list[str]:
    """Replace the whole list inside the request's transaction: all or nothing."""
    await _lock_user(session, user_id)
    await session.execute(
        delete(UserInterest).where(UserInterest.user_id == user_id), execution_options=NO_SYNC
    )
    labels = clean_labels(interests)
    session.add_all(UserInterest(user_id=user_id, interest=interest) for interest in labels)
    await session.flush()
    return sorted(labels)


# --- follows --------------------------------------------------------------------------------


async def _shift_follow_counts(
    session: AsyncSession, follower_id: uuid.UUID, followed_id: uuid.UUID, delta: int
) -> int:
    """Move both counters in one UPDATE (rows locked in index order); the new followers count."""
    result = await session.execute(
        update(User)
        .where(User.id.in_([follower_id, followed_id]))
        .values(
            followers_count=User.followers_count + case((User.id == followed_id, delta), else_=0),
            following_count=User.following_count + case((User.id == follower_id, delta), else_=0),
            updated_at=User.updated_at,
        )
        .returning(User.id, User.followers_count),
        execution_options=NO_SYNC,
    )
    counts = {row_id: count for row_id, count in result.all()}
    return counts[followed_id]


async def _followers_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    result = await session.execute(select(User.followers_count).where(User.id == user_id))
    return result.scalar_one()


async def is_following(
    session: AsyncSession, follower_id: uuid.UUID, following_id: uuid.UUID
) -> bool:
    """Whether `follower_id` follows `following_id`; one query."""
    found = await session.scalar(
        select(UserFollow.id)
        .where(UserFollow.follower_id == follower_id, UserFollow.following_id == following_id)
        .limit(1)
    )
    return found is not None


async def follow(session: AsyncSession, follower: User, user_id: uuid.UUID) -> tuple[int, bool]:
    """Follow a visible user; idempotent. Returns the followed user's followers count, and
    whether this call started the follow (`flows.follow_user` then notifies)."""
    if user_id == follower.id:
        raise BadRequest("You cannot follow yourself", code="cannot_follow_self")
    followed = await get_visible_user(session, user_id, follower)
    if not followed.is_active:
        raise NotFound("User not found", code="user_not_found")
    inserted = await session.execute(
        insert_ignoring_duplicates(session, UserFollow, ["follower_id", "following_id"])
        .values(follower_id=follower.id, following_id=followed.id)
        .returning(UserFollow.id)
    )
    if inserted.scalar_one_or_none() is None:
        return await _followers_count(session, followed.id), False
    count = await _shift_follow_counts(session, follower.id, followed.id, 1)
    # The counter UPDATE waited for any block between the two (it locks both rows first):
    # a block that committed meanwhile wins, and this follow rolls back.
    if await is_blocked_between(session, follower.id, followed.id):
        raise NotFound("User not found", code="user_not_found")
    return count, True


async def unfollow(session: AsyncSession, follower: User, user_id: uuid.UUID) -> int:
    """Stop following; idempotent. Returns the user's followers count.

    Someone who follows a user can always unfollow, even after the profile turned private;
    otherwise the user must be visible (404 does not leak private profiles).
    """
    result = await session.execute(
        delete(UserFollow)
        .where(UserFollow.follower_id == follower.id, UserFollow.following_id == user_id)
        .returning(UserFollow.id),
        execution_options=NO_SYNC,
    )
    if result.scalar_one_or_none() is not None:
        return await _shift_follow_counts(session, follower.id, user_id, -1)
    followed = await get_visible_user(session, user_id, follower)
    return await _followers_count(session, followed.id)


# --- account deletion and export -----------------------------------------------------------


async def _remove_follows(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Delete follows both ways, first taking them off the other users' counters."""
    followed = select(UserFollow.following_id).where(UserFollow.follower_id == user_id)
    followers = select(UserFollow.follower_id).where(UserFollow.following_id == user_id)
    await session.execute(
        update(User)
        .where(User.id.in_(followed.scalar_subquery()))
        .values(followers_count=User.followers_count - 1, updated_at=User.updated_at),
        execution_options=NO_SYNC,
    )
    await session.execute(
        update(User)
        .where(User.id.in_(followers.scalar_subquery()))
        .values(following_count=User.following_count - 1, updated_at=User.updated_at),
        execution_options=NO_SYNC,
    )
    await session.execute(
        delete(UserFollow).where(
            or_(UserFollow.follower_id == user_id, UserFollow.following_id == user_id)
        ),
        execution_options=NO_SYNC,
    )


def _anonymise(user: User) -> None:
    """Turn the row into a tombstone: it stays for the records that must outlive the account."""
    user.name = DELETED_NAME
    user.email = deleted_email(user.id)
    user.password_hash = None
    user.avatar_url = None
    user.bio = None
    user.location = None
    user.is_public = False
    user.email_verified = False
    user.followers_count = 0
    user.following_count = 0
    user.last_login_at = None
    user.deleted_at = utcnow()


async def purge_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """The identity domain's part of a deletion, last in `flows.delete_account`: follows
    (counters kept right), skills, interests, blocks, mutes and exports go, and the row turns
    into an anonymised tombstone for the money records that outlive the account."""
    await _remove_follows(session, user_id)
    for model, column in (
        (UserSkill, UserSkill.user_id),
        (UserInterest, UserInterest.user_id),
        (UserBlock, UserBlock.blocker_id),
        (UserBlock, UserBlock.blocked_id),
        (UserMute, UserMute.muter_id),
        (UserMute, UserMute.muted_id),
        (DataExport, DataExport.user_id),
    ):
        await session.execute(delete(model).where(column == user_id), execution_options=NO_SYNC)
    user = await session.get(User, user_id)
    assert user is not None  # the flow found and locked it
    _anonymise(user)
    await session.flush()


async def lock_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Hold the user's row for the rest of the transaction (deletion, list replacements)."""
    await _lock_user(session, user_id)


async def export_user(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    """Her profile, skills, interests, follows both ways, blocks and mutes. Other people appear
    by id and name only, and only those she can see in the app (the follow lists' rule)."""
    user = await session.get(User, user_id)
    assert user is not None
    profile = row_dict(user, exclude={"password_hash", "deleted_at", "is_banned"})

    async def people(query: Select[uuid.UUID, str, datetime]) -> list[dict[str, Any]]:
        return [
            {**person(person_id, name), "since": jsonable(since)}
            for person_id, name, since in await session.execute(query)
        ]

    visible = and_(*_listed_conditions(include_private=True))
    followers = (
        select(User.id, User.name, UserFollow.created_at)
        .join(UserFollow, UserFollow.follower_id == User.id)
        .where(UserFollow.following_id == user_id, visible)
        .order_by(UserFollow.created_at)
    )
    following = (
        select(User.id, User.name, UserFollow.created_at)
        .join(UserFollow, UserFollow.following_id == User.id)
        .where(UserFollow.follower_id == user_id, visible)
        .order_by(UserFollow.created_at)
    )
    blocks = (
        select(User.id, User.name, UserBlock.created_at)
        .join(UserBlock, UserBlock.blocked_id == User.id)
        .where(UserBlock.blocker_id == user_id)
        .order_by(UserBlock.created_at)
    )
    mutes = (
        select(User.id, User.name, UserMute.created_at)
        .join(UserMute, UserMute.muted_id == User.id)
        .where(UserMute.muter_id == user_id)
        .order_by(UserMute.created_at)
    )
    return {
        "profile": profile,
        "skills": await get_skills(session, user_id),
        "interests": await get_interests(session, user_id),
        "followers": await people(followers),
        "following": await people(following),
        "blocks": await people(blocks),
        "mutes": await people(mutes),
    }


# --- administration -------------------------------------------------------------------------


async def get_account(session: AsyncSession, user_id: uuid.UUID, *, lock: bool = False) -> User:
    """A live (not deleted) account, banned or not, for an admin's action; 404 otherwise."""
    query = select(User).where(User.id == user_id, User.deleted_at.is_(None))
    if lock:
        query = query.with_for_update()
    user = (await session.scalars(query.execution_options(populate_existing=True))).first()
    if user is None:
        raise NotFound("User not found", code="user_not_found")
    return user


async def set_banned(session: AsyncSession, user: User, banned: bool) -> bool:
    """Set the ban flag; True when it changed. The per-request user check refuses a banned
    user's access tokens at once, and every query that shows content hides theirs."""
    if user.is_banned == banned:
        return False
    user.is_banned = banned
    await session.flush()
    return True


async def set_email_verified(session: AsyncSession, user: User, verified: bool) -> None:
    user.email_verified = verified
    await session.flush()


async def keep_another_admin(session: AsyncSession, user: User) -> None:
    """Before `user` may stop being an active admin (demoted or banned): lock every active
    admin row in id order, read afresh, and refuse (409 `last_admin`) when no other is left.

    One lock order for every such change: two admins acting on each other at once are
    serialised (no deadlock), and the second sees the first's result.
    """
    admins = (
        await session.scalars(
            select(User)
            .where(User.role == "admin", User.deleted_at.is_(None), User.is_banned == false())
            .order_by(User.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).all()
    if user.role == "admin" and not user.is_banned and not any(a.id != user.id for a in admins):
        raise Conflict("The last admin cannot lose the admin role", code="last_admin")


async def change_role(session: AsyncSession, user: User, role: str) -> bool:
    """Give `user` another role; True when it changed. The last active admin keeps hers (409).

    Before a change away from admin, every active admin row is locked in id order (and read
    afresh), so two admins demoting each other at once cannot both succeed and leave nobody in
    charge, and cannot deadlock either.
    """
    if role not in ROLES:
        raise BadRequest("Unknown role", code="invalid_role")
    if role != "admin":
        await keep_another_admin(session, user)
    if user.role == role:
        return False
    user.role = role
    await session.flush()
    return True

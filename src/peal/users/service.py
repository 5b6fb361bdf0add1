"""The rules of the users domain: accounts as other domains see them, profiles, follows."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    delete,
    exists,
    false,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from peal.auth.models import OneTimeToken, RefreshToken
from peal.core.errors import BadRequest, Forbidden, NotFound
from peal.db import utcnow
from peal.funding.models import FundingDonation, FundingRequest
from peal.mentors.models import MentorConnection, MentorProfile
from peal.messaging.models import Conversation, ConversationParticipant, Message
from peal.notifications.service import notify, purge_user_notifications
from peal.settings.service import delete_settings
from peal.stories.models import SuccessStory, SuccessStoryCelebration
from peal.users.models import User, UserFollow, UserInterest, UserSkill
from peal.users.schemas import UserOut, normalize_label
from peal.videos.models import Video, VideoComment, VideoLike

DELETED_NAME = "Deleted user"
# Bulk statements name their rows by SQL, not by loaded objects: no identity-map bookkeeping.
# Counter updates also set `updated_at` to itself: a follower or a like is not an edit.
_NO_SYNC: dict[str, Any] = {"synchronize_session": False}
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


def can_see_private(user: User, viewer: User | None) -> bool:
    return viewer is not None and (viewer.id == user.id or viewer.role == "admin")


def is_listed(user: User) -> bool:
    """Visible to everyone: public, not banned, not deleted."""
    return user.is_public and user.is_active


def _listed_conditions(*, include_private: bool = False) -> list[ColumnElement[bool]]:
    conditions = [User.deleted_at.is_(None), User.is_banned == false()]
    if not include_private:
        conditions.append(User.is_public == true())
    return conditions


def profile_visible(viewer: User | None) -> ColumnElement[bool]:
    """SQL condition on `User`: may `viewer` see this person, and so their videos, requests and
    stories? Admins see everyone; others see active public profiles, and themselves."""
    if viewer is not None and viewer.role == "admin":
        return true()
    active = and_(*_listed_conditions(include_private=True))
    if viewer is None:
        return and_(active, User.is_public == true())
    return and_(active, or_(User.is_public == true(), User.id == viewer.id))


def listed_to(viewer: User | None) -> ColumnElement[bool]:
    """SQL condition on `User`: may this person appear in a list (directory, followers, search)
    that `viewer` sees? Admins are listed to admins only: a list of admin ids is where an
    attack on them starts."""
    if viewer is not None and viewer.role == "admin":
        return true()
    return User.role != "admin"


async def get_visible_user(session: AsyncSession, user_id: uuid.UUID, viewer: User | None) -> User:
    """The user if `viewer` may see it; private, banned and deleted users are 404 to others."""
    user = await session.get(User, user_id)
    if user is None or not (is_listed(user) or can_see_private(user, viewer)):
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


async def present_users(
    session: AsyncSession, users: Sequence[User], viewer: User | None
) -> list[UserOut]:
    """Serialise users for `viewer` in a fixed number of queries (3), whatever their count."""
    if not users:
        return []
    ids = [user.id for user in users]
    skills: dict[uuid.UUID, list[str]] = defaultdict(list)
    interests: dict[uuid.UUID, list[str]] = defaultdict(list)
    for user_id, skill in await session.execute(
        select(UserSkill.user_id, UserSkill.skill)
        .where(UserSkill.user_id.in_(ids))
        .order_by(UserSkill.skill)
    ):
        skills[user_id].append(skill)
    for user_id, interest in await session.execute(
        select(UserInterest.user_id, UserInterest.interest)
        .where(UserInterest.user_id.in_(ids))
        .order_by(UserInterest.interest)
    ):
        interests[user_id].append(interest)
    following: set[uuid.UUID] = set()
    if viewer is not None:
        following = set(
            (
                await session.scalars(
                    select(UserFollow.following_id).where(
                        UserFollow.follower_id == viewer.id, UserFollow.following_id.in_(ids)
                    )
                )
            ).all()
        )
    out = []
    for user in users:
        private = can_see_private(user, viewer)
        out.append(
            UserOut(
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


def _contains(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, its own `%`, `_` and `\\` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


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
        conditions.append(User.location.ilike(_contains(location), escape="\\"))
    if search := (filters.search or "").strip():
        pattern = _contains(search)
        conditions.append(
            or_(User.name.ilike(pattern, escape="\\"), User.bio.ilike(pattern, escape="\\"))
        )
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
    conditions = [*_filter_conditions(filters), listed_to(viewer)]
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
        conditions.append(
            or_(User.is_public == true(), User.id == viewer.id)
            if viewer is not None
            else User.is_public == true()
        )
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
        delete(UserSkill).where(UserSkill.user_id == user_id), execution_options=_NO_SYNC
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
        delete(UserInterest).where(UserInterest.user_id == user_id), execution_options=_NO_SYNC
    )
    labels = clean_labels(interests)
    session.add_all(UserInterest(user_id=user_id, interest=interest) for interest in labels)
    await session.flush()
    return sorted(labels)


# --- follows --------------------------------------------------------------------------------


def _insert_ignoring_duplicates(session: AsyncSession, **values: Any) -> Any:
    """`INSERT ... ON CONFLICT DO NOTHING RETURNING id` in the session's dialect."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(UserFollow)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["follower_id", "following_id"])
        .returning(UserFollow.id)
    )


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
        execution_options=_NO_SYNC,
    )
    counts = {row_id: count for row_id, count in result.all()}
    return counts[followed_id]


async def _followers_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    result = await session.execute(select(User.followers_count).where(User.id == user_id))
    return result.scalar_one()


async def follow(session: AsyncSession, follower: User, user_id: uuid.UUID) -> int:
    """Follow a visible user; idempotent. Returns the followed user's followers count."""
    if user_id == follower.id:
        raise BadRequest("You cannot follow yourself", code="cannot_follow_self")
    followed = await get_visible_user(session, user_id, follower)
    if not followed.is_active:
        raise NotFound("User not found", code="user_not_found")
    inserted = await session.execute(
        _insert_ignoring_duplicates(session, follower_id=follower.id, following_id=followed.id)
    )
    if inserted.scalar_one_or_none() is None:
        return await _followers_count(session, followed.id)
    count = await _shift_follow_counts(session, follower.id, followed.id, 1)
    await notify(
        session,
        followed.id,
        "follow",
        "New follower",
        f"{follower.name} started following you",
        {"followerId": str(follower.id), "followerName": follower.name},
    )
    return count


async def unfollow(session: AsyncSession, follower: User, user_id: uuid.UUID) -> int:
    """Stop following; idempotent. Returns the user's followers count.

    Someone who follows a user can always unfollow, even after the profile turned private;
    otherwise the user must be visible (404 does not leak private profiles).
    """
    result = await session.execute(
        delete(UserFollow)
        .where(UserFollow.follower_id == follower.id, UserFollow.following_id == user_id)
        .returning(UserFollow.id),
        execution_options=_NO_SYNC,
    )
    if result.scalar_one_or_none() is not None:
        return await _shift_follow_counts(session, follower.id, user_id, -1)
    followed = await get_visible_user(session, user_id, follower)
    return await _followers_count(session, followed.id)


# --- account deletion -----------------------------------------------------------------------


def _chunks(ids: Sequence[uuid.UUID]) -> Iterable[Sequence[uuid.UUID]]:
    for start in range(0, len(ids), _IN_CHUNK):
        yield ids[start : start + _IN_CHUNK]


async def _remove_follows(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Delete follows both ways, first taking them off the other users' counters."""
    followed = select(UserFollow.following_id).where(UserFollow.follower_id == user_id)
    followers = select(UserFollow.follower_id).where(UserFollow.following_id == user_id)
    await session.execute(
        update(User)
        .where(User.id.in_(followed.scalar_subquery()))
        .values(followers_count=User.followers_count - 1, updated_at=User.updated_at),
        execution_options=_NO_SYNC,
    )
    await session.execute(
        update(User)
        .where(User.id.in_(followers.scalar_subquery()))
        .values(following_count=User.following_count - 1, updated_at=User.updated_at),
        execution_options=_NO_SYNC,
    )
    await session.execute(
        delete(UserFollow).where(
            or_(UserFollow.follower_id == user_id, UserFollow.following_id == user_id)
        ),
        execution_options=_NO_SYNC,
    )


async def _purge_videos(session: AsyncSession, user_id: uuid.UUID) -> None:
    # Own videos go with their tags, likes and comments (ON DELETE CASCADE).
    # Media files in storage are left to the videos domain's cleanup.
    await session.execute(
        delete(Video).where(Video.author_id == user_id), execution_options=_NO_SYNC
    )

    liked = select(VideoLike.video_id).where(VideoLike.user_id == user_id)
    await session.execute(
        update(Video)
        .where(Video.id.in_(liked.scalar_subquery()))
        .values(likes_count=Video.likes_count - 1, updated_at=Video.updated_at),
        execution_options=_NO_SYNC,
    )
    await session.execute(
        delete(VideoLike).where(VideoLike.user_id == user_id), execution_options=_NO_SYNC
    )

    # A comment takes its replies with it (CASCADE), so each video's count is recounted
    # afterwards rather than decremented. Assumes `comments_count` counts replies too.
    video_ids = list(
        (
            await session.scalars(
                select(VideoComment.video_id).where(VideoComment.user_id == user_id).distinct()
            )
        ).all()
    )
    # Parents that survive lose exactly their direct replies written by this user.
    reply = aliased(VideoComment)
    own_replies = (
        select(func.count())
        .select_from(reply)
        .where(reply.parent_id == VideoComment.id, reply.user_id == user_id)
        .scalar_subquery()
    )
    replied_to = (
        select(reply.parent_id)
        .where(reply.user_id == user_id, reply.parent_id.is_not(None))
        .scalar_subquery()
    )
    await session.execute(
        update(VideoComment)
        .where(VideoComment.id.in_(replied_to), VideoComment.user_id != user_id)
        .values(replies_count=VideoComment.replies_count - own_replies),
        execution_options=_NO_SYNC,
    )
    await session.execute(
        delete(VideoComment).where(VideoComment.user_id == user_id), execution_options=_NO_SYNC
    )
    remaining = (
        select(func.count())
        .select_from(VideoComment)
        .where(VideoComment.video_id == Video.id)
        .scalar_subquery()
    )
    for chunk in _chunks(video_ids):
        await session.execute(
            update(Video)
            .where(Video.id.in_(chunk))
            .values(comments_count=remaining, updated_at=Video.updated_at),
            execution_options=_NO_SYNC,
        )


async def _purge_stories(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(
        delete(SuccessStory).where(SuccessStory.author_id == user_id), execution_options=_NO_SYNC
    )
    celebrated = select(SuccessStoryCelebration.success_story_id).where(
        SuccessStoryCelebration.user_id == user_id
    )
    await session.execute(
        update(SuccessStory)
        .where(SuccessStory.id.in_(celebrated.scalar_subquery()))
        .values(celebrations_count=SuccessStory.celebrations_count - 1),
        execution_options=_NO_SYNC,
    )
    await session.execute(
        delete(SuccessStoryCelebration).where(SuccessStoryCelebration.user_id == user_id),
        execution_options=_NO_SYNC,
    )


async def _purge_mentoring(session: AsyncSession, user_id: uuid.UUID) -> None:
    # The user's mentor profile goes with its skills and connections (CASCADE).
    await session.execute(
        delete(MentorProfile).where(MentorProfile.user_id == user_id), execution_options=_NO_SYNC
    )
    mentors = select(MentorConnection.mentor_id).where(
        MentorConnection.mentee_id == user_id, MentorConnection.status == "accepted"
    )
    await session.execute(
        update(MentorProfile)
        .where(MentorProfile.id.in_(mentors.scalar_subquery()))
        .values(
            current_mentees_count=MentorProfile.current_mentees_count - 1,
            updated_at=MentorProfile.updated_at,
        ),
        execution_options=_NO_SYNC,
    )
    await session.execute(
        delete(MentorConnection).where(MentorConnection.mentee_id == user_id),
        execution_options=_NO_SYNC,
    )


async def _purge_messages(session: AsyncSession, user_id: uuid.UUID) -> None:
    # The others' unread counters drop by the unread messages this user sent them.
    unread_from_user = (
        select(func.count())
        .select_from(Message)
        .where(
            Message.conversation_id == ConversationParticipant.conversation_id,
            Message.sender_id == user_id,
            Message.is_read == false(),
        )
        .scalar_subquery()
    )
    with_unread = select(Message.conversation_id).where(
        Message.sender_id == user_id, Message.is_read == false()
    )
    await session.execute(
        update(ConversationParticipant)
        .where(
            ConversationParticipant.user_id != user_id,
            ConversationParticipant.conversation_id.in_(with_unread.scalar_subquery()),
        )
        .values(
            unread_count=case(
                (
                    ConversationParticipant.unread_count > unread_from_user,
                    ConversationParticipant.unread_count - unread_from_user,
                ),
                else_=0,
            )
        ),
        execution_options=_NO_SYNC,
    )
    await session.execute(
        delete(Message).where(Message.sender_id == user_id), execution_options=_NO_SYNC
    )
    conversation_ids = list(
        (
            await session.scalars(
                select(ConversationParticipant.conversation_id).where(
                    ConversationParticipant.user_id == user_id
                )
            )
        ).all()
    )
    await session.execute(
        delete(ConversationParticipant).where(ConversationParticipant.user_id == user_id),
        execution_options=_NO_SYNC,
    )
    # A conversation nobody is left in is gone with its remaining messages (CASCADE).
    for chunk in _chunks(conversation_ids):
        await session.execute(
            delete(Conversation).where(
                Conversation.id.in_(chunk),
                ~exists().where(ConversationParticipant.conversation_id == Conversation.id),
            ),
            execution_options=_NO_SYNC,
        )


async def _purge_funding(session: AsyncSession, user_id: uuid.UUID) -> None:
    # Money records stay (donations, and the requests they went to), attributed to the
    # anonymised tombstone; a request nobody gave to is only the user's own content.
    donated = exists().where(FundingDonation.funding_request_id == FundingRequest.id)
    await session.execute(
        delete(FundingRequest).where(FundingRequest.author_id == user_id, ~donated),
        execution_options=_NO_SYNC,
    )
    # A deleted account can no longer receive money: its open requests are cancelled and
    # their donors refunded through the payment provider, as an author's own cancel would.
    from peal.funding.donations import cancel_requests_of_author
    from peal.jobs import runtime

    await cancel_requests_of_author(session, runtime().settings, user_id)


async def purge_user_content(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Delete what a user made or did in the other domains, keeping the counters right.

    Temporary home: these domains have no service yet. When each gets one, it takes over its
    part here as a `purge_user(session, user_id)` of its own and this function calls it.
    Money records (funding requests that received donations, and donations) are kept.
    """
    await _purge_videos(session, user_id)
    await _purge_stories(session, user_id)
    await _purge_mentoring(session, user_id)
    await _purge_messages(session, user_id)
    await _purge_funding(session, user_id)
    # One-time tokens: owned by the auth domain, which exposes no purge yet. Refresh tokens
    # are revoked by auth, then dropped for their IP addresses and user agents.
    await purge_user_notifications(session, user_id)
    # Imported here: the auth service imports this module (create_user, get_user_by_email).
    from peal.auth.service import revoke_all_sessions

    await revoke_all_sessions(session, user_id)
    await session.execute(
        delete(OneTimeToken).where(OneTimeToken.user_id == user_id), execution_options=_NO_SYNC
    )
    await session.execute(
        delete(RefreshToken).where(RefreshToken.user_id == user_id), execution_options=_NO_SYNC
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


async def delete_account(session: AsyncSession, user_id: uuid.UUID, viewer: User) -> None:
    """Purge a user's personal data and content; the row remains as an anonymised tombstone.

    Every access token of the user stops working at once: the auth dependency refuses
    deleted users.
    """
    user = await get_user_for_change(session, user_id, viewer)
    await _lock_user(session, user.id)
    await _remove_follows(session, user.id)
    await session.execute(
        delete(UserSkill).where(UserSkill.user_id == user.id), execution_options=_NO_SYNC
    )
    await session.execute(
        delete(UserInterest).where(UserInterest.user_id == user.id), execution_options=_NO_SYNC
    )
    await delete_settings(session, user.id)
    await purge_user_content(session, user.id)
    _anonymise(user)
    await session.flush()

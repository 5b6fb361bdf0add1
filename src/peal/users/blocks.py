"""Blocks and mutes (API.md "Safety"): who shuts whom out.

A block hides two people from each other everywhere (the SQL of `users.policy`), and ends
their follows both ways. A mute hides someone from my feeds and notifications only. Neither
is ever told to the other person.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from peal.core.errors import BadRequest, NotFound
from peal.core.sql import NO_SYNC, insert_ignoring_duplicates
from peal.users.models import User, UserBlock, UserFollow, UserMute


async def _target(session: AsyncSession, me: User, user_id: uuid.UUID, *, verb: str) -> User:
    """A live account other than me. Blocking works on private profiles too (a harasser's
    profile may well be private); a deleted or unknown account is 404."""
    if user_id == me.id:
        raise BadRequest(f"You cannot {verb} yourself", code=f"cannot_{verb}_self")
    user = await session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise NotFound("User not found", code="user_not_found")
    return user


async def _end_follows_between(session: AsyncSession, a: uuid.UUID, b: uuid.UUID) -> None:
    """Delete the follows between two people (either way), taking them off the counters."""
    removed = await session.execute(
        delete(UserFollow)
        .where(
            or_(
                and_(UserFollow.follower_id == a, UserFollow.following_id == b),
                and_(UserFollow.follower_id == b, UserFollow.following_id == a),
            )
        )
        .returning(UserFollow.follower_id, UserFollow.following_id),
        execution_options=NO_SYNC,
    )
    for follower_id, following_id in removed.all():
        await session.execute(
            update(User)
            .where(User.id == follower_id)
            .values(following_count=User.following_count - 1, updated_at=User.updated_at),
            execution_options=NO_SYNC,
        )
        await session.execute(
            update(User)
            .where(User.id == following_id)
            .values(followers_count=User.followers_count - 1, updated_at=User.updated_at),
            execution_options=NO_SYNC,
        )


async def block(session: AsyncSession, me: User, user_id: uuid.UUID) -> None:
    """Block someone; idempotent. Their follows both ways end (flows.block_user adds the
    other domains' part)."""
    target = await _target(session, me, user_id, verb="block")
    # Both rows locked (in id order, as the follow counters lock them): a follow racing this
    # block either commits first and is removed below, or waits and sees the block.
    await session.execute(
        select(User.id).where(User.id.in_([me.id, target.id])).order_by(User.id).with_for_update()
    )
    await session.execute(
        insert_ignoring_duplicates(session, UserBlock).values(
            id=uuid.uuid4(), blocker_id=me.id, blocked_id=target.id
        )
    )
    await _end_follows_between(session, me.id, target.id)


async def unblock(session: AsyncSession, me: User, user_id: uuid.UUID) -> None:
    """Idempotent; follows ended by the block do not come back."""
    await session.execute(
        delete(UserBlock).where(UserBlock.blocker_id == me.id, UserBlock.blocked_id == user_id),
        execution_options=NO_SYNC,
    )


async def mute(session: AsyncSession, me: User, user_id: uuid.UUID) -> None:
    target = await _target(session, me, user_id, verb="mute")
    await session.execute(
        insert_ignoring_duplicates(session, UserMute).values(
            id=uuid.uuid4(), muter_id=me.id, muted_id=target.id
        )
    )


async def unmute(session: AsyncSession, me: User, user_id: uuid.UUID) -> None:
    await session.execute(
        delete(UserMute).where(UserMute.muter_id == me.id, UserMute.muted_id == user_id),
        execution_options=NO_SYNC,
    )


async def is_blocked_between(session: AsyncSession, a: uuid.UUID, b: uuid.UUID) -> bool:
    """Whether either has blocked the other (for checks outside a list query)."""
    found = await session.scalar(
        select(UserBlock.id)
        .where(
            or_(
                and_(UserBlock.blocker_id == a, UserBlock.blocked_id == b),
                and_(UserBlock.blocker_id == b, UserBlock.blocked_id == a),
            )
        )
        .limit(1)
    )
    return found is not None


async def _people(
    session: AsyncSession, query: Select[User, datetime], count: Select[int]
) -> tuple[list[tuple[User, datetime]], int]:
    total = int((await session.execute(count)).scalar_one())
    rows = [(user, since) for user, since in await session.execute(query)]
    return rows, total


async def list_blocked(
    session: AsyncSession, me: User, *, limit: int, offset: int
) -> tuple[list[tuple[User, datetime]], int]:
    """The people I blocked, newest block first, with when: two queries."""
    query = (
        select(User, UserBlock.created_at)
        .join(UserBlock, UserBlock.blocked_id == User.id)
        .where(UserBlock.blocker_id == me.id, User.deleted_at.is_(None))
        .order_by(UserBlock.created_at.desc(), UserBlock.id.desc())
        .limit(limit)
        .offset(offset)
    )
    count = (
        select(func.count())
        .select_from(UserBlock)
        .join(User, UserBlock.blocked_id == User.id)
        .where(UserBlock.blocker_id == me.id, User.deleted_at.is_(None))
    )
    return await _people(session, query, count)


async def list_muted(
    session: AsyncSession, me: User, *, limit: int, offset: int
) -> tuple[list[tuple[User, datetime]], int]:
    """The people I muted, newest first, with when: two queries."""
    query = (
        select(User, UserMute.created_at)
        .join(UserMute, UserMute.muted_id == User.id)
        .where(UserMute.muter_id == me.id, User.deleted_at.is_(None))
        .order_by(UserMute.created_at.desc(), UserMute.id.desc())
        .limit(limit)
        .offset(offset)
    )
    count = (
        select(func.count())
        .select_from(UserMute)
        .join(User, UserMute.muted_id == User.id)
        .where(UserMute.muter_id == me.id, User.deleted_at.is_(None))
    )
    return await _people(session, query, count)

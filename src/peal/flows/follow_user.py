"""Following someone: the follow (users) and the `follow` notification (notifications)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from peal.notifications.service import notify
from peal.users import service as users
from peal.users.models import User


async def follow_user(session: AsyncSession, follower: User, user_id: uuid.UUID) -> int:
    """Follow a visible user; idempotent (notifies once). Answers her followers count."""
    count, started = await users.follow(session, follower, user_id)
    if started:
        await notify(
            session,
            user_id,
            "follow",
            "New follower",
            f"{follower.name} started following you",
            {"followerId": str(follower.id), "followerName": follower.name},
            actor_id=follower.id,
        )
    return count

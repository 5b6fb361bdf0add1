"""Blocking someone: the block and its consequences in every domain, in one transaction."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from peal.mentors import service as mentors
from peal.users import blocks
from peal.users.models import User


async def block_user(session: AsyncSession, blocker: User, user_id: uuid.UUID) -> None:
    """Block `user_id`; idempotent. Follows both ways end (users), and pending mentor
    requests between the two (mentors)."""
    await blocks.block(session, blocker, user_id)
    await mentors.close_pending_between(session, blocker.id, user_id)

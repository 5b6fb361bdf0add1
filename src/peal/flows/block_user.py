"""Blocking someone: the block and its consequences in every domain, in one transaction."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from peal.users import blocks
from peal.users.models import User


async def block_user(session: AsyncSession, blocker: User, user_id: uuid.UUID) -> None:
    """Block `user_id`; idempotent. Follows both ways end (users). The lead adds, at merge:
    pending mentor requests between the two end (mentors.service)."""
    await blocks.block(session, blocker, user_id)

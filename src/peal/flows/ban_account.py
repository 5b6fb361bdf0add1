"""Banning and unbanning an account: one sequence of calls to each domain's service.

Ban, in the admin's request transaction:
1. the account is flagged banned: the per-request user check refuses every access token it
   holds at once (401), and every query that shows a person or their content (videos,
   comments, requests, stories, events, search, feeds) leaves a banned author out;
2. every refresh token is revoked, so no new access token can be had;
3. active funding requests are cancelled and their donors refunded (the same code the
   author's own cancel and account deletion use);
4. pending mentor requests to and from the person are closed (accepted mentorships stay,
   so an unban restores them);
5. the audit log records who did it and why.

Unban clears the flag: the content shows again; cancelled requests and refunds stay as
they are (money never moves back on its own).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from peal.auth.service import end_all_sessions
from peal.config import Settings
from peal.core.errors import Conflict
from peal.funding.donations import cancel_requests_of_author
from peal.mentors import service as mentors
from peal.moderation import service as moderation
from peal.users import service as users
from peal.users.models import User


async def ban_account(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    admin: User,
    note: str | None = None,
) -> User:
    """Ban `user_id` (idempotent: banning a banned account changes nothing)."""
    if user_id == admin.id:
        raise Conflict("You cannot ban yourself", code="cannot_ban_self")
    user = await users.get_account(session, user_id)
    if user.role == "admin":
        # Locks the admins (her row included) in the one order role changes use too.
        await users.keep_another_admin(session, user)
    else:
        user = await users.get_account(session, user_id, lock=True)
    if not await users.set_banned(session, user, True):
        return user
    await end_all_sessions(session, user.id)  # her sockets close with them
    await cancel_requests_of_author(session, settings, user.id)
    await mentors.close_for_user(session, user.id)
    await moderation.record(session, admin.id, "ban_user", "user", user.id, note)
    return user


async def unban_account(
    session: AsyncSession, user_id: uuid.UUID, admin: User, note: str | None = None
) -> User:
    """Lift a ban: the person may sign in again and her content shows again."""
    user = await users.get_account(session, user_id, lock=True)
    if await users.set_banned(session, user, False):
        await moderation.record(session, admin.id, "unban_user", "user", user.id, note)
    return user

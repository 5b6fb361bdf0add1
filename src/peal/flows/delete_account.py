"""Deleting an account: every domain purges what the person made or did, in one transaction.

Only anonymised money records stay (donations, and the requests that received money), with
the user row as an anonymised tombstone they point to. Files go after commit (a job deletes
everything under the person's storage prefixes). Every access token stops working at once:
the auth dependency refuses deleted users.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from peal.auth import service as auth
from peal.config import Settings
from peal.events import service as events
from peal.funding import service as funding
from peal.goals import service as goals
from peal.mentors import service as mentors
from peal.messaging import service as messaging
from peal.notifications import service as notifications
from peal.settings import service as settings
from peal.stories import service as stories
from peal.uploads import service as uploads
from peal.users import service as users
from peal.users.models import User
from peal.videos import service as videos


async def delete_account(
    session: AsyncSession, config: Settings, user_id: uuid.UUID, viewer: User
) -> None:
    """The person herself or an admin deletes the account (404/403 as for a profile change)."""
    user = await users.get_user_for_change(session, user_id, viewer)
    await users.lock_user(session, user.id)
    await videos.purge_user(session, user.id)
    await stories.purge_user(session, user.id)
    await funding.purge_user(session, config, user.id)
    await goals.purge_user(session, user.id)
    await events.purge_user(session, user.id)
    await mentors.purge_user(session, user.id)
    await messaging.purge_user(session, user.id)
    await uploads.purge_user(session, user.id)
    await notifications.purge_user(session, user.id)
    await settings.purge_user(session, user.id)
    await auth.purge_user(session, user.id)  # every session ends, sockets included
    await users.purge_user(session, user.id)

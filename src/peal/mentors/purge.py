"""Account deletion in the mentors domain, until its service exists (issue 9).

Temporary home, moved as is from `users.service`: the mentoring branch brings
`mentors.service.purge_user(session, user_id)` and `export_user`, which replace this module
(`flows.delete_account` calls it).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from peal.mentors.models import MentorConnection, MentorProfile

_NO_SYNC: dict[str, Any] = {"synchronize_session": False}


async def purge_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Her mentor profile and her connections as a mentee go, counters kept right."""
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

"""Account deletion in the messaging domain, until its service exists (issue 10).

Temporary home, moved as is from `users.service`: the messaging branch brings
`messaging.service.purge_user(session, user_id)` and `export_user`, which replace this module
(`flows.delete_account` calls it).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import case, delete, exists, false, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from peal.messaging.models import Conversation, ConversationParticipant, Message

_NO_SYNC: dict[str, Any] = {"synchronize_session": False}
_IN_CHUNK = 500


async def purge_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Her messages and memberships go; a conversation nobody is left in goes too."""
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
    for start in range(0, len(conversation_ids), _IN_CHUNK):
        await session.execute(
            delete(Conversation).where(
                Conversation.id.in_(conversation_ids[start : start + _IN_CHUNK]),
                ~exists().where(ConversationParticipant.conversation_id == Conversation.id),
            ),
            execution_options=_NO_SYNC,
        )

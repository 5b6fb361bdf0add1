"""The rules of messaging: one conversation per pair, who may write to whom, exact unread counts.

Only participants see or write a conversation; to anyone else it does not exist (NotFound).
Every write announces itself to the participants' sockets after the commit
(`peal.core.realtime`): `message_received`, `conversation_read`.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, exists, false, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from peal.core.errors import BadRequest, Forbidden, NotFound
from peal.core.pagination import cut_page, keyset_page
from peal.core.realtime import emit_after_commit, is_online
from peal.core.schemas import Cursor
from peal.core.sql import NO_SYNC, insert_ignoring_duplicates, rowcount
from peal.db import utcnow
from peal.messaging.models import Conversation, ConversationParticipant, Message
from peal.messaging.schemas import ConversationDetail, ConversationOut, MessageOut
from peal.notifications.service import notify
from peal.users.blocks import is_blocked_between
from peal.users.models import User
from peal.users.schemas import UserSummary

NOTIFICATION_PREVIEW = 140
# Ids per IN (...) list: well under the bind-parameter limits of PostgreSQL and SQLite.
ID_CHUNK = 1000


def pair_key(a: uuid.UUID, b: uuid.UUID) -> str:
    """The unique key of the one-to-one conversation between `a` and `b` (order-free)."""
    low, high = sorted((str(a), str(b)))
    return f"{low}:{high}"


def conversation_not_found() -> NotFound:
    return NotFound("Conversation not found", code="conversation_not_found")


# --- who may write to whom ----------------------------------------------------------------


async def check_may_message(
    session: AsyncSession, sender: User, recipient_id: uuid.UUID, *, in_conversation: bool
) -> User:
    """May `sender` send a message to `recipient_id`? The recipient, or the refusal.

    The one place for this decision: blocks and message requests (API.md "Safety") belong
    here. Yourself: 400. A banned or deleted account: 404. Someone you cannot see (a private
    profile) cannot be approached, but you may keep talking with them in an existing
    conversation (`in_conversation`).
    """
    if recipient_id == sender.id:
        raise BadRequest("You cannot message yourself", code="cannot_message_self")
    recipient = await session.get(User, recipient_id)
    if recipient is None or not recipient.is_active:
        raise NotFound("User not found", code="user_not_found")
    if not in_conversation and not recipient.is_public and sender.role != "admin":
        raise NotFound("User not found", code="user_not_found")
    if await is_blocked_between(session, sender.id, recipient.id):
        # Either way: the history stays readable, nothing new is delivered.
        raise Forbidden("You cannot message this person", code="blocked")
    return recipient


# --- conversations --------------------------------------------------------------------------


async def get_or_create_conversation(
    session: AsyncSession, me: User, other_id: uuid.UUID
) -> tuple[Conversation, bool]:
    """The one-to-one conversation of `me` and `other_id`: the existing one, or a new one.

    (conversation, created). Two people starting it at the same moment meet on the unique
    pair key: the loser's INSERT does nothing and it reads the winner's row.
    """
    await check_may_message(session, me, other_id, in_conversation=False)
    key = pair_key(me.id, other_id)
    found = await session.scalar(select(Conversation).where(Conversation.pair_key == key))
    if found is not None:
        return found, False
    now = utcnow()
    new_id = uuid.uuid4()
    inserted = await session.scalar(
        insert_ignoring_duplicates(session, Conversation, ["pair_key"])
        .values(id=new_id, pair_key=key, created_at=now)
        .returning(Conversation.id)
    )
    if inserted is None:
        conversation = await session.scalar(
            select(Conversation).where(Conversation.pair_key == key)
        )
        if conversation is None:  # the winner rolled back: let the client retry
            raise conversation_not_found()
        return conversation, False
    session.add_all(
        ConversationParticipant(conversation_id=new_id, user_id=user_id, last_message_at=now)
        for user_id in (me.id, other_id)
    )
    await session.flush()
    conversation = await session.get(Conversation, new_id)
    assert conversation is not None
    return conversation, True


async def _my_participation(
    session: AsyncSession, conversation_id: uuid.UUID, user_id: uuid.UUID
) -> ConversationParticipant:
    mine = await session.scalar(
        select(ConversationParticipant).where(
            ConversationParticipant.conversation_id == conversation_id,
            ConversationParticipant.user_id == user_id,
        )
    )
    if mine is None:
        raise conversation_not_found()
    return mine


async def participant_ids(
    session: AsyncSession, conversation_id: uuid.UUID, user_id: uuid.UUID
) -> list[uuid.UUID]:
    """Everyone in the conversation, if `user_id` is one of them; NotFound otherwise."""
    ids = list(
        (
            await session.scalars(
                select(ConversationParticipant.user_id).where(
                    ConversationParticipant.conversation_id == conversation_id
                )
            )
        ).all()
    )
    if user_id not in ids:
        raise conversation_not_found()
    return ids


def _summary(user: User) -> UserSummary:
    return UserSummary(id=user.id, name=user.name, avatar_url=user.avatar_url)


def _message_out(message: Message, sender: User) -> MessageOut:
    return MessageOut(
        id=message.id,
        conversation_id=message.conversation_id,
        sender_id=message.sender_id,
        sender=_summary(sender),
        content=message.content,
        is_read=message.is_read,
        created_at=message.created_at,
    )


async def _participants_of(
    session: AsyncSession, conversation_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[UserSummary]]:
    """Participants of each conversation, in one query."""
    if not conversation_ids:
        return {}
    rows = (
        await session.execute(
            select(ConversationParticipant.conversation_id, User)
            .join(User, User.id == ConversationParticipant.user_id)
            .where(ConversationParticipant.conversation_id.in_(conversation_ids))
            .order_by(ConversationParticipant.created_at, User.id)
        )
    ).all()
    found: dict[uuid.UUID, list[UserSummary]] = defaultdict(list)
    for conversation_id, user in rows:
        found[conversation_id].append(_summary(user))
    return found


async def _last_messages_of(
    session: AsyncSession, conversation_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, MessageOut]:
    """The newest message of each conversation, with its sender, in one query."""
    if not conversation_ids:
        return {}
    ranked = (
        select(
            Message.id,
            func.row_number()
            .over(
                partition_by=Message.conversation_id,
                order_by=(Message.created_at.desc(), Message.id.desc()),
            )
            .label("rank"),
        )
        .where(Message.conversation_id.in_(conversation_ids))
        .subquery()
    )
    rows = (
        await session.execute(
            select(Message, User)
            .join(ranked, (ranked.c.id == Message.id) & (ranked.c.rank == 1))
            .join(User, User.id == Message.sender_id)
        )
    ).all()
    return {message.conversation_id: _message_out(message, user) for message, user in rows}


def _conversation_out(
    conversation: Conversation,
    mine: ConversationParticipant,
    participants: list[UserSummary],
    last: MessageOut | None,
) -> ConversationOut:
    return ConversationOut(
        id=conversation.id,
        participants=participants,
        last_message=last,
        last_message_at=last.created_at if last is not None else None,
        unread_count=mine.unread_count,
        created_at=conversation.created_at,
    )


@dataclass
class ConversationList:
    items: list[ConversationOut]
    total: int
    next_cursor: str | None


async def list_conversations(
    session: AsyncSession,
    user: User,
    *,
    limit: int,
    offset: int,
    cursor: Cursor | None,
) -> ConversationList:
    """The caller's conversations, most recent activity first. Four queries whatever the page
    size. After a `cursor` (last activity, conversation id) the page starts past it."""
    total = await session.scalar(
        select(func.count())
        .select_from(ConversationParticipant)
        .where(ConversationParticipant.user_id == user.id)
    )
    query = (
        select(ConversationParticipant, Conversation)
        .join(Conversation, Conversation.id == ConversationParticipant.conversation_id)
        .where(ConversationParticipant.user_id == user.id)
    )
    query = keyset_page(
        query,
        ConversationParticipant.last_message_at,
        ConversationParticipant.conversation_id,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
    rows, next_cursor = cut_page(
        (await session.execute(query)).all(),
        limit,
        lambda row: (row[0].last_message_at, row[0].conversation_id),
    )
    ids = [conversation.id for _mine, conversation in rows]
    participants = await _participants_of(session, ids)
    last_messages = await _last_messages_of(session, ids)
    items = [
        _conversation_out(
            conversation,
            mine,
            participants.get(conversation.id, []),
            last_messages.get(conversation.id),
        )
        for mine, conversation in rows
    ]
    return ConversationList(items, total or 0, next_cursor)


async def present_conversation(
    session: AsyncSession, conversation: Conversation, user: User
) -> ConversationOut:
    mine = await _my_participation(session, conversation.id, user.id)
    participants = await _participants_of(session, [conversation.id])
    last = await _last_messages_of(session, [conversation.id])
    return _conversation_out(
        conversation, mine, participants.get(conversation.id, []), last.get(conversation.id)
    )


@dataclass
class MessageList:
    items: list[MessageOut]
    total: int
    next_cursor: str | None


async def list_messages(
    session: AsyncSession,
    user: User,
    conversation_id: uuid.UUID,
    *,
    limit: int,
    offset: int,
    cursor: Cursor | None,
) -> MessageList:
    """A page of the conversation, newest first (keyset on (created_at, id)). Participants
    only: NotFound for anyone else. Three queries whatever the page size."""
    await _my_participation(session, conversation_id, user.id)
    total = await session.scalar(
        select(func.count()).select_from(Message).where(Message.conversation_id == conversation_id)
    )
    query = (
        select(Message, User)
        .join(User, User.id == Message.sender_id)
        .where(Message.conversation_id == conversation_id)
    )
    query = keyset_page(
        query, Message.created_at, Message.id, limit=limit, offset=offset, cursor=cursor
    )
    rows, next_cursor = cut_page((await session.execute(query)).all(), limit)
    items = [_message_out(message, sender) for message, sender in rows]
    return MessageList(items, total or 0, next_cursor)


async def get_conversation(
    session: AsyncSession, user: User, conversation_id: uuid.UUID, *, limit: int
) -> ConversationDetail:
    """The conversation with its newest page of messages, oldest first within the page."""
    page = await list_messages(session, user, conversation_id, limit=limit, offset=0, cursor=None)
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        raise conversation_not_found()
    mine = await _my_participation(session, conversation_id, user.id)
    participants = await _participants_of(session, [conversation_id])
    messages = list(reversed(page.items))
    last = messages[-1] if messages else None
    summary = _conversation_out(conversation, mine, participants.get(conversation_id, []), last)
    return ConversationDetail(
        **summary.model_dump(), messages=messages, next_cursor=page.next_cursor
    )


# --- sending and reading --------------------------------------------------------------------


async def send_message(
    session: AsyncSession, sender: User, conversation_id: uuid.UUID, content: str
) -> MessageOut:
    """Post `content` (already plain text, 1..5,000 characters) into a conversation.

    In the message's transaction: every other participant's unread counter goes up by one in
    SQL (exact under concurrency) and everyone's last activity moves. A recipient with no live
    socket gets a `message` notification, once per conversation until they read it.
    """
    members = await participant_ids(session, conversation_id, sender.id)
    recipients = [user_id for user_id in members if user_id != sender.id]
    if not recipients:
        raise Forbidden("Nobody else is left in this conversation", code="conversation_closed")
    for recipient_id in recipients:
        await check_may_message(session, sender, recipient_id, in_conversation=True)
    now = utcnow()
    message = Message(
        id=uuid.uuid4(),
        conversation_id=conversation_id,
        sender_id=sender.id,
        content=content,
        is_read=False,
        created_at=now,
    )
    session.add(message)
    await session.flush()
    counters = (
        await session.execute(
            update(ConversationParticipant)
            .where(ConversationParticipant.conversation_id == conversation_id)
            .values(
                last_message_at=now,
                unread_count=ConversationParticipant.unread_count
                + case((ConversationParticipant.user_id == sender.id, 0), else_=1),
            )
            .returning(ConversationParticipant.user_id, ConversationParticipant.unread_count),
            execution_options=NO_SYNC,
        )
    ).all()
    out = _message_out(message, sender)
    for user_id, unread in counters:
        # The first unread message since they last read the conversation: one notification,
        # not one per message, and none for someone watching a live socket.
        if user_id != sender.id and unread == 1 and not await is_online(user_id):
            await notify(
                session,
                user_id,
                "message",
                f"New message from {sender.name}",
                content[:NOTIFICATION_PREVIEW],
                {"conversationId": conversation_id, "senderId": sender.id},
                actor_id=sender.id,
            )
    emit_after_commit(
        session, "message_received", out.model_dump(mode="json", by_alias=True), members
    )
    return out


async def send_direct_message(
    session: AsyncSession, sender: User, recipient_id: uuid.UUID, content: str
) -> tuple[Conversation, MessageOut]:
    """A message to a person, in their one-to-one conversation (started if need be)."""
    conversation, _created = await get_or_create_conversation(session, sender, recipient_id)
    message = await send_message(session, sender, conversation.id, content)
    return conversation, message


async def mark_read(session: AsyncSession, user: User, conversation_id: uuid.UUID) -> int:
    """Mark the conversation read for `user`: their counter to 0 and the messages others sent
    them read. Returns how many messages changed.

    The counter is reset first: it locks the row a concurrent sender increments, so a message
    that commits meanwhile is either marked read here or counted as unread, never lost.
    """
    await _my_participation(session, conversation_id, user.id)
    await session.execute(
        update(ConversationParticipant)
        .where(
            ConversationParticipant.conversation_id == conversation_id,
            ConversationParticipant.user_id == user.id,
        )
        .values(unread_count=0),
        execution_options=NO_SYNC,
    )
    result = await session.execute(
        update(Message)
        .where(
            Message.conversation_id == conversation_id,
            Message.sender_id != user.id,
            Message.is_read == false(),
        )
        .values(is_read=True),
        execution_options=NO_SYNC,
    )
    members = await participant_ids(session, conversation_id, user.id)
    emit_after_commit(
        session,
        "conversation_read",
        {"conversationId": str(conversation_id), "userId": str(user.id)},
        members,
    )
    return rowcount(result)


# --- account deletion and data export -------------------------------------------------------


def _chunks(ids: Sequence[uuid.UUID]) -> Iterable[Sequence[uuid.UUID]]:
    for start in range(0, len(ids), ID_CHUNK):
        yield ids[start : start + ID_CHUNK]


async def purge_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Remove a person's messages and participation (account deletion), counters kept right.

    The others' unread counters drop by the unread messages this person sent them; a
    conversation nobody is left in goes with its remaining messages.
    """
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
        execution_options=NO_SYNC,
    )
    await session.execute(
        delete(Message).where(Message.sender_id == user_id), execution_options=NO_SYNC
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
        execution_options=NO_SYNC,
    )
    for chunk in _chunks(conversation_ids):
        # The pair key is freed, so the remaining person may start afresh with a new account.
        await session.execute(
            update(Conversation).where(Conversation.id.in_(chunk)).values(pair_key=None),
            execution_options=NO_SYNC,
        )
        await session.execute(
            delete(Conversation).where(
                Conversation.id.in_(chunk),
                ~exists().where(ConversationParticipant.conversation_id == Conversation.id),
            ),
            execution_options=NO_SYNC,
        )


async def export_user(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    """The person's conversations with every message in them, oldest first; the other
    participants appear by id and name only. Three queries."""
    conversations = list(
        (
            await session.execute(
                select(Conversation, ConversationParticipant.unread_count)
                .join(
                    ConversationParticipant,
                    ConversationParticipant.conversation_id == Conversation.id,
                )
                .where(ConversationParticipant.user_id == user_id)
                .order_by(Conversation.created_at, Conversation.id)
            )
        ).all()
    )
    ids = [conversation.id for conversation, _unread in conversations]
    people: dict[uuid.UUID, list[dict[str, str]]] = defaultdict(list)
    messages: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for chunk in _chunks(ids):
        for conversation_id, person_id, name in await session.execute(
            select(ConversationParticipant.conversation_id, User.id, User.name)
            .join(User, User.id == ConversationParticipant.user_id)
            .where(ConversationParticipant.conversation_id.in_(chunk))
            .order_by(ConversationParticipant.created_at, User.id)
        ):
            people[conversation_id].append({"id": str(person_id), "name": name})
        for message in await session.scalars(
            select(Message)
            .where(Message.conversation_id.in_(chunk))
            .order_by(Message.created_at, Message.id)
        ):
            messages[message.conversation_id].append(
                {
                    "id": str(message.id),
                    "senderId": str(message.sender_id),
                    "fromMe": message.sender_id == user_id,
                    "content": message.content,
                    "isRead": message.is_read,
                    "createdAt": _utc(message.created_at),
                }
            )
    return {
        "conversations": [
            {
                "id": str(conversation.id),
                "createdAt": _utc(conversation.created_at),
                "unreadCount": unread,
                "participants": people.get(conversation.id, []),
                "messages": messages.get(conversation.id, []),
            }
            for conversation, unread in conversations
        ]
    }


def _utc(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


async def reportable_message(
    session: AsyncSession, message_id: uuid.UUID, viewer: User
) -> uuid.UUID:
    """The sender of a message `viewer` may report: only a participant of its conversation
    sees it (404 for anyone else, as for reading it)."""
    sender_id: uuid.UUID | None = await session.scalar(
        select(Message.sender_id)
        .join(
            ConversationParticipant,
            (ConversationParticipant.conversation_id == Message.conversation_id)
            & (ConversationParticipant.user_id == viewer.id),
        )
        .where(Message.id == message_id)
    )
    if sender_id is None:
        raise NotFound("Message not found", code="message_not_found")
    return sender_id

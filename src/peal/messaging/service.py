"""The rules of messaging: one conversation per pair, who may write to whom, exact unread counts.

Only participants see or write a conversation; to anyone else it does not exist (NotFound).
Every write announces itself to the participants' sockets after the commit
(`peal.core.realtime`): `message_received`, `conversation_read`.

Message requests (API.md "Safety"): a first message from someone the recipient's
`messagePrivacy` does not admit makes the conversation a request for her (`isRequest` on her
side only, one `message_request` notification, no live event, no unread count). The sender
can send nothing more until she accepts (the endpoint, or simply replying); declining hides
it from her lists and tells nobody.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, delete, exists, false, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from peal.core.errors import BadRequest, Conflict, Forbidden, NotFound
from peal.core.moderation import ModerationStatus
from peal.core.moderation import set_moderation_status as set_row_moderation
from peal.core.pagination import cut_page, keyset_page
from peal.core.realtime import emit_after_commit, is_online
from peal.core.schemas import Cursor
from peal.core.sql import NO_SYNC, insert_ignoring_duplicates, rowcount
from peal.db import utcnow
from peal.mentors.service import have_accepted_connection
from peal.messaging.models import (
    REQUEST_ACCEPTED,
    REQUEST_DECLINED,
    REQUEST_PENDING,
    Conversation,
    ConversationParticipant,
    Message,
)
from peal.messaging.schemas import ConversationDetail, ConversationOut, MessageOut
from peal.notifications.service import WITHDRAWN_MESSAGE, notify, withdraw_previews
from peal.settings.service import message_privacy_of
from peal.users.blocks import is_blocked_between
from peal.users.models import User
from peal.users.schemas import UserSummary
from peal.users.service import is_following

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


def message_request_pending() -> Forbidden:
    # The same answer whether she has not looked yet or declined: nothing is revealed.
    return Forbidden(
        "Your message request has not been accepted yet", code="message_request_pending"
    )


@dataclass(frozen=True)
class Admission:
    recipient: User
    # False: what the sender writes is a message request until the recipient accepts it.
    admitted: bool


async def check_may_message(
    session: AsyncSession,
    sender: User,
    recipient_id: uuid.UUID,
    *,
    in_conversation: bool,
    conversation: Conversation | None = None,
) -> Admission:
    """May `sender` send a message to `recipient_id`, and does it go straight in? The
    recipient and whether she admits the sender, or the refusal.

    The one place for this decision (API.md "Safety"). Yourself: 400. A banned or deleted
    account: 404. Someone you cannot see (a private profile) cannot be approached, but you may
    keep talking with them in an existing conversation (`in_conversation`). A block either
    way: 403 `blocked`, before anything else is said. The sender of a message request still
    pending or declined (`conversation`): 403 `message_request_pending`.

    Admitted, by the recipient's `messagePrivacy`: `everyone` admits all; `following` the
    people she follows; always, whatever the setting: her accepted mentor connections, people
    already in an accepted conversation with her (or replying to a request made to her), and
    admins. Anyone else writes a message request.
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
    if conversation is None:
        conversation = await session.scalar(
            select(Conversation).where(Conversation.pair_key == pair_key(sender.id, recipient.id))
        )
    state = conversation.request_status if conversation is not None else None
    if state in (REQUEST_PENDING, REQUEST_DECLINED):
        assert conversation is not None
        if conversation.requested_of != sender.id:
            if not in_conversation:  # opening it again is no new message: it may stay open
                return Admission(recipient, False)
            raise message_request_pending()
        return Admission(recipient, True)  # her reply accepts the request
    admitted = (
        state == REQUEST_ACCEPTED
        or sender.role == "admin"
        or await _admits(session, recipient.id, sender.id)
    )
    return Admission(recipient, admitted)


async def _admits(session: AsyncSession, recipient_id: uuid.UUID, sender_id: uuid.UUID) -> bool:
    privacy = await message_privacy_of(session, recipient_id)
    if privacy == "everyone":
        return True
    if privacy == "following" and await is_following(session, recipient_id, sender_id):
        return True
    return await have_accepted_connection(session, recipient_id, sender_id)


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


async def live_peers(
    session: AsyncSession, conversation_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[list[uuid.UUID], bool]:
    """The participants that `user_id`'s live signals (typing) may reach, and whether that can
    still change (the hub then checks again on each signal). NotFound for a non-participant.

    A message request not yet accepted reaches nobody: the recipient must not learn someone is
    writing to her, and the sender must not learn she opened it (declining tells nobody). In
    a conversation with nothing sent yet, the first message decides whether it is a request,
    so typing reaches only whoever would take that message straight in."""
    members = await participant_ids(session, conversation_id, user_id)
    state = await session.scalar(
        select(Conversation.request_status).where(Conversation.id == conversation_id)
    )
    if state in (REQUEST_PENDING, REQUEST_DECLINED):
        return [], True
    others = [member for member in members if member != user_id]
    if state is None:
        typist = await session.get(User, user_id)
        if typist is None or typist.role != "admin":
            others = [other for other in others if await _admits(session, other, user_id)]
        return others, True
    return others, False


def visible_messages(viewer: User) -> ColumnElement[bool]:
    """Messages a participant sees: a removed (or auto-hidden) one is gone for everyone but
    admins, its sender included."""
    return true() if viewer.role == "admin" else Message.moderation_status.is_(None)


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
    session: AsyncSession, conversation_ids: Sequence[uuid.UUID], viewer: User
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
        .where(Message.conversation_id.in_(conversation_ids), visible_messages(viewer))
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
        is_request=is_request_for(conversation, mine.user_id),
        created_at=conversation.created_at,
    )


def is_request_for(conversation: Conversation, user_id: uuid.UUID) -> bool:
    """A message request waiting for (or declined by) `user_id`; never so for its sender."""
    return conversation.requested_of == user_id and conversation.request_status in (
        REQUEST_PENDING,
        REQUEST_DECLINED,
    )


def _listed_to(user: User) -> ColumnElement[bool]:
    """Her conversations, less the message requests she declined."""
    return (ConversationParticipant.user_id == user.id) & or_(
        Conversation.request_status.is_(None),
        Conversation.request_status != REQUEST_DECLINED,
        Conversation.requested_of.is_(None),
        Conversation.requested_of != user.id,
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
        .join(Conversation, Conversation.id == ConversationParticipant.conversation_id)
        .where(_listed_to(user))
    )
    query = (
        select(ConversationParticipant, Conversation)
        .join(Conversation, Conversation.id == ConversationParticipant.conversation_id)
        .where(_listed_to(user))
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
    last_messages = await _last_messages_of(session, ids, user)
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
    last = await _last_messages_of(session, [conversation.id], user)
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
    shown = (Message.conversation_id == conversation_id) & visible_messages(user)
    total = await session.scalar(select(func.count()).select_from(Message).where(shown))
    query = select(Message, User).join(User, User.id == Message.sender_id).where(shown)
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

    The first message decides what the conversation is (`check_may_message`): accepted, or a
    message request for a recipient who does not admit the sender. A request raises her
    unread counter by nothing, reaches her as one `message_request` notification and no live
    event; her reply accepts it.
    """
    members = await participant_ids(session, conversation_id, sender.id)
    recipients = [user_id for user_id in members if user_id != sender.id]
    if not recipients:
        raise Forbidden("Nobody else is left in this conversation", code="conversation_closed")
    conversation = await session.get(Conversation, conversation_id)
    if conversation is not None and conversation.request_status != REQUEST_ACCEPTED:
        # Locked until accepted (a state it never leaves): two first messages at once cannot
        # both open a request (and notify twice), nor a send slip past a decline.
        conversation = await _locked_conversation(session, conversation_id)
    if conversation is None:
        raise conversation_not_found()
    refused: uuid.UUID | None = None
    for recipient_id in recipients:
        admission = await check_may_message(
            session, sender, recipient_id, in_conversation=True, conversation=conversation
        )
        if not admission.admitted:
            refused = recipient_id
    opens_request = refused is not None
    if opens_request:
        conversation.request_status = REQUEST_PENDING
        conversation.requested_of = refused
    elif conversation.request_status != REQUEST_ACCEPTED:
        conversation.request_status = REQUEST_ACCEPTED  # admitted, or her reply accepts it
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
    # Neither the sender nor the person a request is for counts it as unread.
    not_counted = [sender.id] if refused is None else [sender.id, refused]
    counters = (
        await session.execute(
            update(ConversationParticipant)
            .where(ConversationParticipant.conversation_id == conversation_id)
            .values(
                last_message_at=now,
                unread_count=ConversationParticipant.unread_count
                + case((ConversationParticipant.user_id.in_(not_counted), 0), else_=1),
            )
            .returning(ConversationParticipant.user_id, ConversationParticipant.unread_count),
            execution_options=NO_SYNC,
        )
    ).all()
    out = _message_out(message, sender)
    if refused is not None:
        await notify(
            session,
            refused,
            "message_request",
            f"Message request from {sender.name}",
            content[:NOTIFICATION_PREVIEW],
            {"conversationId": conversation_id, "senderId": sender.id, "messageId": message.id},
            actor_id=sender.id,
        )
    for user_id, unread in counters:
        # The first unread message since they last read the conversation: one notification,
        # not one per message, and none for someone watching a live socket.
        if user_id not in not_counted and unread == 1 and not await is_online(user_id):
            await notify(
                session,
                user_id,
                "message",
                f"New message from {sender.name}",
                content[:NOTIFICATION_PREVIEW],
                {
                    "conversationId": conversation_id,
                    "senderId": sender.id,
                    "messageId": message.id,
                },
                actor_id=sender.id,
            )
    emit_after_commit(
        session,
        "message_received",
        out.model_dump(mode="json", by_alias=True),
        [user_id for user_id in members if user_id != refused],
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

    A message request she has not accepted is left unread and nobody is told: reading it
    gives its sender no sign that she saw it.
    """
    await _my_participation(session, conversation_id, user.id)
    conversation = await session.get(Conversation, conversation_id)
    if conversation is not None and is_request_for(conversation, user.id):
        return 0
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


# --- message requests -----------------------------------------------------------------------


def not_a_request() -> Conflict:
    return Conflict("This conversation is not a message request to you", code="not_a_request")


async def _locked_conversation(
    session: AsyncSession, conversation_id: uuid.UUID
) -> Conversation | None:
    """The conversation row, locked until commit and read afresh (not from the identity map)."""
    return await session.scalar(
        select(Conversation)
        .where(Conversation.id == conversation_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def _request_for(
    session: AsyncSession, user: User, conversation_id: uuid.UUID
) -> tuple[Conversation, ConversationParticipant]:
    """The conversation, locked, if `user` is in it (404 otherwise) and it was a request to
    her (409 `not_a_request` otherwise: its sender, or an ordinary conversation)."""
    mine = await _my_participation(session, conversation_id, user.id)
    conversation = await _locked_conversation(session, conversation_id)
    if conversation is None:
        raise conversation_not_found()
    if conversation.requested_of != user.id or conversation.request_status is None:
        raise not_a_request()
    return conversation, mine


async def accept_request(
    session: AsyncSession, user: User, conversation_id: uuid.UUID
) -> ConversationOut:
    """Accept a message request made to `user` (declined ones too); idempotent. The messages
    waiting in it now count as unread for her."""
    conversation, mine = await _request_for(session, user, conversation_id)
    if conversation.request_status != REQUEST_ACCEPTED:
        conversation.request_status = REQUEST_ACCEPTED
        # Nobody else writes to a request, so her counter is hers to set.
        waiting = await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.conversation_id == conversation_id,
                Message.sender_id != user.id,
                Message.is_read == false(),
                Message.moderation_status.is_(None),
            )
        )
        mine.unread_count = waiting or 0
        await session.flush()
    return await present_conversation(session, conversation, user)


async def decline_request(
    session: AsyncSession, user: User, conversation_id: uuid.UUID
) -> ConversationOut:
    """Decline a message request made to `user`: it leaves her lists, nobody is told, and
    its sender keeps getting the same `message_request_pending`. Idempotent; an accepted
    conversation cannot be declined (409 `not_a_request`: block the person instead)."""
    conversation, _mine = await _request_for(session, user, conversation_id)
    if conversation.request_status == REQUEST_ACCEPTED:
        raise not_a_request()
    conversation.request_status = REQUEST_DECLINED
    await session.flush()
    return await present_conversation(session, conversation, user)


# --- moderation -----------------------------------------------------------------------------


async def set_moderation_status(
    session: AsyncSession, message_id: uuid.UUID, status: ModerationStatus | None
) -> bool:
    """Hide, remove or restore a message (moderation); True when it changed. A message
    removed unread leaves its recipients' unread counters too, and a hidden or removed one
    the previews of the notifications that quote it (for good: a restore doesn't bring the
    words back into a notification)."""
    moved = await set_row_moderation(session, Message, message_id, status)
    if not moved or status is None:
        return moved
    conversation_id, sender_id, is_read = (
        await session.execute(
            select(Message.conversation_id, Message.sender_id, Message.is_read).where(
                Message.id == message_id
            )
        )
    ).one()
    recipients = (
        await session.scalars(
            select(ConversationParticipant.user_id).where(
                ConversationParticipant.conversation_id == conversation_id,
                ConversationParticipant.user_id != sender_id,
            )
        )
    ).all()
    await withdraw_previews(session, recipients, "messageId", [message_id], WITHDRAWN_MESSAGE)
    if status == ModerationStatus.REMOVED and not is_read:
        await session.execute(
            update(ConversationParticipant)
            .where(
                ConversationParticipant.conversation_id == conversation_id,
                ConversationParticipant.user_id != sender_id,
                ConversationParticipant.unread_count > 0,
            )
            .values(unread_count=ConversationParticipant.unread_count - 1),
            execution_options=NO_SYNC,
        )
    return moved


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
        .where(Message.id == message_id, visible_messages(viewer))
    )
    if sender_id is None:
        raise NotFound("Message not found", code="message_not_found")
    return sender_id

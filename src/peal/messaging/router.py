"""HTTP routes of messaging: `/api/conversations`, and the web client's `/api/messages` aliases
over the same service functions (never a second implementation).

A conversation you are not in answers 404, as if it did not exist.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from peal.auth.dependencies import CurrentUser
from peal.core.routing import path_id, with_alias
from peal.core.schemas import CursorParams, cursor_params, error_responses
from peal.deps import SessionDep
from peal.messaging import service
from peal.messaging.schemas import (
    ConversationDetailEnvelope,
    ConversationEnvelope,
    ConversationPage,
    DirectMessageIn,
    DirectMessageOut,
    MessageEnvelope,
    MessagePage,
    ReadOut,
    SendMessageIn,
    StartConversationIn,
)

router = APIRouter(prefix="/api/conversations", tags=["Messages"], responses=error_responses(401))
aliases = APIRouter(
    prefix="/api/messages", tags=["Messages (web client aliases)"], responses=error_responses(401)
)

ConversationId = Annotated[uuid.UUID, path_id("conversationId", "conversation")]
Pages = Annotated[CursorParams, Depends(cursor_params)]
MessagesInline = Annotated[
    int, Query(ge=1, le=100, description="How many of the newest messages to include")
]


@with_alias(
    router, aliases, "GET", "", response_model=ConversationPage, summary="List my conversations"
)
async def list_conversations(
    session: SessionDep, user: CurrentUser, pages: Pages
) -> ConversationPage:
    """Most recent activity first, each with its participants, last message and my
    `unreadCount`. Pass `pagination.nextCursor` back as `cursor` for the next page."""
    found = await service.list_conversations(
        session, user, limit=pages.limit, offset=pages.offset, cursor=pages.cursor
    )
    return ConversationPage(
        data=found.items, pagination=pages.pagination(found.total, found.next_cursor)
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ConversationEnvelope,
    summary="Start a conversation (or get the one I already have with this person)",
    responses={
        200: {"model": ConversationEnvelope, "description": "The existing conversation"},
        **error_responses(400, 404),
    },
)
async def start_conversation(
    session: SessionDep, user: CurrentUser, body: StartConversationIn, response: Response
) -> ConversationEnvelope:
    """201 with a new conversation, 200 with the existing one. `content`, when given, is sent
    as a message. Yourself: 400; a deleted, banned or hidden account: 404."""
    conversation, created = await service.get_or_create_conversation(
        session, user, body.participant_id
    )
    if body.content:
        await service.send_message(session, user, conversation.id, body.content)
    if not created:
        response.status_code = status.HTTP_200_OK
    out = await service.present_conversation(session, conversation, user)
    return ConversationEnvelope(conversation=out)


@aliases.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DirectMessageOut,
    summary="Send a message to a person (starting or reusing our conversation)",
    responses=error_responses(400, 404),
)
async def send_direct_message(
    session: SessionDep, user: CurrentUser, body: DirectMessageIn
) -> DirectMessageOut:
    conversation, message = await service.send_direct_message(
        session, user, body.recipient_id, body.content
    )
    out = await service.present_conversation(session, conversation, user)
    return DirectMessageOut(message=message, conversation=out)


@with_alias(
    router,
    aliases,
    "GET",
    "/{conversationId}",
    response_model=ConversationDetailEnvelope,
    summary="A conversation with its newest messages",
    responses=error_responses(404),
)
async def get_conversation(
    session: SessionDep,
    user: CurrentUser,
    conversation_id: ConversationId,
    limit: MessagesInline = 50,
) -> ConversationDetailEnvelope:
    """`messages` are oldest first within the page (the client appends each
    `message_received`); older ones come from `GET .../messages?cursor=nextCursor`."""
    detail = await service.get_conversation(session, user, conversation_id, limit=limit)
    return ConversationDetailEnvelope(conversation=detail)


@with_alias(
    router,
    aliases,
    "GET",
    "/{conversationId}/messages",
    response_model=MessagePage,
    summary="Messages of a conversation, newest first",
    responses=error_responses(404),
)
async def list_messages(
    session: SessionDep, user: CurrentUser, conversation_id: ConversationId, pages: Pages
) -> MessagePage:
    found = await service.list_messages(
        session,
        user,
        conversation_id,
        limit=pages.limit,
        offset=pages.offset,
        cursor=pages.cursor,
    )
    return MessagePage(
        data=found.items, pagination=pages.pagination(found.total, found.next_cursor)
    )


@with_alias(
    router,
    aliases,
    "POST",
    "/{conversationId}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=MessageEnvelope,
    summary="Send a message",
    responses=error_responses(403, 404),
)
async def send_message(
    session: SessionDep, user: CurrentUser, conversation_id: ConversationId, body: SendMessageIn
) -> MessageEnvelope:
    """Every participant receives it as `message_received` on their sockets."""
    message = await service.send_message(session, user, conversation_id, body.content)
    return MessageEnvelope(message=message)


@with_alias(
    router,
    aliases,
    "PUT",
    "/{conversationId}/read",
    response_model=ReadOut,
    summary="Mark a conversation read",
    responses=error_responses(404),
)
async def mark_read(
    session: SessionDep, user: CurrentUser, conversation_id: ConversationId
) -> ReadOut:
    """My unread count goes to 0 and the messages sent to me are marked read; the
    participants get `conversation_read`. Idempotent."""
    updated = await service.mark_read(session, user, conversation_id)
    return ReadOut(conversation_id=conversation_id, unread_count=0, updated=updated)


@with_alias(
    router,
    aliases,
    "POST",
    "/{conversationId}/accept",
    response_model=ConversationEnvelope,
    summary="Accept a message request",
    responses=error_responses(404, 409),
)
async def accept_request(
    session: SessionDep, user: CurrentUser, conversation_id: ConversationId
) -> ConversationEnvelope:
    """The request becomes an ordinary conversation (`isRequest: false`); its sender may
    write again. Replying does the same. Idempotent; a declined request may still be
    accepted. Not a request to me: 409 `not_a_request`."""
    out = await service.accept_request(session, user, conversation_id)
    return ConversationEnvelope(conversation=out)


@with_alias(
    router,
    aliases,
    "POST",
    "/{conversationId}/decline",
    response_model=ConversationEnvelope,
    summary="Decline a message request",
    responses=error_responses(404, 409),
)
async def decline_request(
    session: SessionDep, user: CurrentUser, conversation_id: ConversationId
) -> ConversationEnvelope:
    """The request leaves my conversation lists and nobody is told; its sender still cannot
    write (403 `message_request_pending`). Idempotent. An accepted conversation: 409
    `not_a_request` (block the person instead)."""
    out = await service.decline_request(session, user, conversation_id)
    return ConversationEnvelope(conversation=out)

"""Conversation and Message as the API shows them, and the request bodies of messaging."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field, StringConstraints

from peal.core.schemas import CamelModel, Page, UTCTimestamp
from peal.core.text import bounded_text
from peal.users.schemas import UserSummary

CONTENT_MAX = 5000
# The raw text is bounded before any cleaning (tag stripping on 1 MB costs): markup may
# take some room, the stored plain text is at most CONTENT_MAX.
CONTENT_RAW_MAX = 4 * CONTENT_MAX

MessageContent = Annotated[
    str,
    StringConstraints(max_length=CONTENT_RAW_MAX),
    bounded_text(CONTENT_MAX, required=True),
]
OptionalMessageContent = Annotated[
    str | None,
    StringConstraints(max_length=CONTENT_RAW_MAX),
    bounded_text(CONTENT_MAX, required=False),
]

_UUID_EXAMPLE = "3f0c5a9e-8a63-4b8a-9a55-1c1f4b6f0d2e"


class MessageOut(CamelModel):
    id: uuid.UUID = Field(examples=[_UUID_EXAMPLE])
    conversation_id: uuid.UUID = Field(examples=["8c1d2f0e-5b7a-4c3e-9f61-2a4b6c8d0e1f"])
    sender_id: uuid.UUID = Field(examples=["5b7a4c3e-9f61-2a4b-6c8d-0e1f8c1d2f0e"])
    sender: UserSummary
    content: str = Field(examples=["Hi! I loved your sewing video."])
    is_read: bool = Field(examples=[False])
    created_at: UTCTimestamp = Field(examples=["2026-12-04T10:00:00Z"])


class ConversationOut(CamelModel):
    id: uuid.UUID = Field(examples=["8c1d2f0e-5b7a-4c3e-9f61-2a4b6c8d0e1f"])
    participants: list[UserSummary] = Field(description="Everyone in it, the caller included")
    last_message: MessageOut | None = None
    last_message_at: UTCTimestamp | None = Field(default=None, examples=["2026-12-04T10:00:00Z"])
    unread_count: int = Field(examples=[2], description="Messages the caller has not read")
    is_request: bool = Field(
        default=False,
        examples=[False],
        description="A message request waiting for the caller to accept or decline it "
        "(never so for its sender)",
    )
    created_at: UTCTimestamp = Field(examples=["2026-12-01T09:00:00Z"])


class ConversationDetail(ConversationOut):
    messages: list[MessageOut] = Field(
        description="The newest page of messages, oldest first (the client appends new ones)"
    )
    next_cursor: str | None = Field(
        default=None, description="For older messages: `GET .../messages?cursor=`"
    )


class ConversationEnvelope(CamelModel):
    conversation: ConversationOut


class ConversationDetailEnvelope(CamelModel):
    conversation: ConversationDetail


class MessageEnvelope(CamelModel):
    message: MessageOut


class ConversationPage(Page[ConversationOut]):
    pass


class MessagePage(Page[MessageOut]):
    """Newest first; follow `pagination.nextCursor` for older messages."""


class StartConversationIn(CamelModel):
    participant_id: uuid.UUID = Field(examples=["5b7a4c3e-9f61-2a4b-6c8d-0e1f8c1d2f0e"])
    content: OptionalMessageContent = Field(
        default=None, description="An optional first message (1..5,000 characters)"
    )


class SendMessageIn(CamelModel):
    content: MessageContent = Field(
        examples=["See you on Friday!"], description="Plain text, 1..5,000 characters"
    )


class DirectMessageIn(CamelModel):
    """The client's `POST /api/messages`: a message to a person, in your conversation with them."""

    recipient_id: uuid.UUID = Field(examples=["5b7a4c3e-9f61-2a4b-6c8d-0e1f8c1d2f0e"])
    content: MessageContent = Field(examples=["Hello!"])


class ReadOut(CamelModel):
    conversation_id: uuid.UUID
    unread_count: int = Field(examples=[0])
    updated: int = Field(examples=[3], description="How many messages were marked read")


class DirectMessageOut(CamelModel):
    """The message, and the conversation it went into (new or existing)."""

    message: MessageOut
    conversation: ConversationOut

"""Conversations, their participants, and messages."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from peal.core.moderation import Moderated
from peal.db import Base, CreatedAt, UUIDPrimaryKey, utcnow

# "<lower uuid>:<higher uuid>" of a one-to-one conversation.
PAIR_KEY_LENGTH = 73

# Conversation.request_status: NULL while nothing was sent yet; `pending` when the first
# message came from someone the recipient's `messagePrivacy` does not admit (a message
# request, for `requested_of`); `accepted` once anyone may write; `declined` by its recipient.
REQUEST_PENDING = "pending"
REQUEST_ACCEPTED = "accepted"
REQUEST_DECLINED = "declined"


class Conversation(UUIDPrimaryKey, CreatedAt, Base):
    __tablename__ = "conversations"
    # A unique index rather than a constraint: SQLite can add one to an existing table.
    __table_args__ = (Index("ux_conversations_pair_key", "pair_key", unique=True),)

    # One conversation per pair of people, enforced by the database: two people starting a
    # conversation at the same moment meet on this unique key instead of making two.
    # NULL is left for conversations that are not one-to-one (none yet).
    pair_key: Mapped[str | None] = mapped_column(String(PAIR_KEY_LENGTH))
    request_status: Mapped[str | None] = mapped_column(String(20), default=None)
    # The person a message request is for (its recipient); NULL when it never was one.
    requested_of: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


class ConversationParticipant(UUIDPrimaryKey, CreatedAt, Base):
    __tablename__ = "conversation_participants"
    __table_args__ = (
        UniqueConstraint("conversation_id", "user_id"),
        CheckConstraint("unread_count >= 0", name="unread_count"),
        # The inbox: a user's conversations, most recent activity first (keyset-ready).
        Index(
            "ix_conversation_participants_user_last",
            "user_id",
            "last_message_at",
            "conversation_id",
        ),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)
    unread_count: Mapped[int] = mapped_column(default=0, server_default="0")


class Message(UUIDPrimaryKey, CreatedAt, Moderated, Base):
    """`moderation_status` `removed`: gone from the conversation for everyone but admins."""

    __tablename__ = "messages"
    __table_args__ = (
        # Keyset pagination of a conversation, newest first: (created_at, id) < cursor.
        Index("idx_messages_conversation", "conversation_id", "created_at", "id"),
        Index("ix_messages_sender", "sender_id"),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    sender_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    content: Mapped[str] = mapped_column(Text)
    is_read: Mapped[bool] = mapped_column(default=False, server_default=false())

"""Conversations, their participants, and messages."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from peal.db import Base, CreatedAt, UUIDPrimaryKey, utcnow


class Conversation(UUIDPrimaryKey, CreatedAt, Base):
    __tablename__ = "conversations"


class ConversationParticipant(UUIDPrimaryKey, CreatedAt, Base):
    __tablename__ = "conversation_participants"
    __table_args__ = (
        UniqueConstraint("conversation_id", "user_id"),
        CheckConstraint("unread_count >= 0", name="unread_count"),
        Index("ix_conversation_participants_user_last", "user_id", "last_message_at"),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)
    unread_count: Mapped[int] = mapped_column(default=0, server_default="0")


class Message(UUIDPrimaryKey, CreatedAt, Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("idx_messages_conversation", "conversation_id", "created_at"),
        Index("ix_messages_sender", "sender_id"),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    sender_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    content: Mapped[str] = mapped_column(Text)
    is_read: Mapped[bool] = mapped_column(default=False, server_default=false())

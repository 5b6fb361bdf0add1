"""Reports of content, and the audit log of every moderation and admin action."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from peal.db import Base, CreatedAt, Timestamps, UUIDPrimaryKey

_PENDING = text("status = 'pending'")


class ModerationReport(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "moderation_reports"
    __table_args__ = (
        # One open report per reporter and content; a closed one does not stop a new one.
        Index(
            "uq_moderation_reports_open",
            "reporter_id",
            "content_type",
            "content_id",
            unique=True,
            postgresql_where=_PENDING,
            sqlite_where=_PENDING,
        ),
        Index("ix_moderation_reports_content", "content_type", "content_id", "status"),
        Index("ix_moderation_reports_status_created", "status", "created_at"),
        Index("ix_moderation_reports_reporter_created", "reporter_id", "created_at"),
    )

    reporter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    content_type: Mapped[str] = mapped_column(String(30))
    content_id: Mapped[uuid.UUID]
    # The reported person (the content's author), fixed when the report is filed.
    content_author_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # floor(log2(1 + reach)) of the content when this report was filed: the queue's weight.
    reach_score: Mapped[int] = mapped_column(default=0, server_default="0")
    reason: Mapped[str] = mapped_column(String(30))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending", server_default="pending")
    action: Mapped[str | None] = mapped_column(String(30))
    review_note: Mapped[str | None] = mapped_column(Text)
    reviewed_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    reviewed_at: Mapped[datetime | None]


class AuditLogEntry(UUIDPrimaryKey, CreatedAt, Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_created", "created_at", "id"),)

    actor_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    action: Mapped[str] = mapped_column(String(50))
    target_type: Mapped[str] = mapped_column(String(30))
    target_id: Mapped[uuid.UUID | None]
    note: Mapped[str | None] = mapped_column(Text)

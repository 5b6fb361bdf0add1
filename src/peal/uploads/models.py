"""Uploaded files: who owns each stored key, what it really is, and whether it was checked."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column

from peal.db import Base, CreatedAt, UUIDPrimaryKey

UPLOAD_KINDS = ("image", "video")


class UploadStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"


UPLOAD_STATUSES = tuple(UploadStatus)
UNATTACHED_VIDEOS = text("status = 'completed' AND kind = 'video' AND NOT in_use")


class Upload(UUIDPrimaryKey, CreatedAt, Base):
    """One stored file. Only a `completed` upload (type and size checked, metadata stripped)
    may be attached to a resource, and only by its owner: `uploads.service` checks both."""

    __tablename__ = "uploads"
    __table_args__ = (
        CheckConstraint("kind IN ('image', 'video')", name="kind"),
        CheckConstraint("status IN ('pending', 'completed')", name="status"),
        Index("ix_uploads_owner_created", "owner_id", "created_at"),
        # The sweeper of abandoned uploads walks pending rows by age.
        Index("ix_uploads_status_created", "status", "created_at"),
        # The sweeper of completed videos never attached to one: only those rows, by age.
        Index(
            "ix_uploads_unattached_videos",
            "completed_at",
            postgresql_where=UNATTACHED_VIDEOS,
            sqlite_where=UNATTACHED_VIDEOS,
        ),
    )

    key: Mapped[str] = mapped_column(String(255), unique=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    declared_content_type: Mapped[str] = mapped_column(String(100))
    content_type: Mapped[str | None] = mapped_column(String(100))
    file_name: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), default="pending", server_default="pending")
    url: Mapped[str | None] = mapped_column(Text)
    # Attached to a resource (a video's file): deleting it is refused while the resource lives.
    in_use: Mapped[bool] = mapped_column(default=False, server_default=false())
    completed_at: Mapped[datetime | None]

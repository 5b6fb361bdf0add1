"""Success stories and the celebrations they receive."""

from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from peal.core.moderation import Moderated
from peal.db import Base, CreatedAt, Timestamps, UUIDPrimaryKey


class SuccessStory(UUIDPrimaryKey, Timestamps, Moderated, Base):
    __tablename__ = "success_stories"
    __table_args__ = (
        CheckConstraint("celebrations_count >= 0", name="celebrations_count"),
        Index("ix_success_stories_author", "author_id"),
        Index("ix_success_stories_featured_created", "is_featured", "created_at"),
        Index("ix_success_stories_created", "created_at", "id"),
        Index("ix_success_stories_request", "request_id"),
    )

    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text)
    before_image_url: Mapped[str | None] = mapped_column(Text)
    after_image_url: Mapped[str | None] = mapped_column(Text)
    impact_description: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    celebrations_count: Mapped[int] = mapped_column(default=0, server_default="0")
    is_featured: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The funding request whose outcome the story tells (one of the author's own).
    request_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("funding_requests.id", ondelete="SET NULL")
    )


class SuccessStoryCelebration(UUIDPrimaryKey, CreatedAt, Base):
    __tablename__ = "success_story_celebrations"
    __table_args__ = (
        UniqueConstraint("success_story_id", "user_id"),
        Index("ix_success_story_celebrations_user", "user_id"),
    )

    success_story_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("success_stories.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))

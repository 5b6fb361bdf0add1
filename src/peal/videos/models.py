"""Videos, their tags, likes and threaded comments."""

from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from peal.db import Base, CreatedAt, Timestamps, UUIDPrimaryKey

VIDEO_STATUSES = ("processing", "ready", "failed")


class Video(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "videos"
    __table_args__ = (
        CheckConstraint("status IN ('processing', 'ready', 'failed')", name="status"),
        CheckConstraint(
            "views_count >= 0 AND likes_count >= 0 AND comments_count >= 0 AND shares_count >= 0",
            name="counts",
        ),
        Index("idx_videos_author", "author_id"),
        Index("idx_videos_category", "category"),
        Index("idx_videos_trending", "is_trending", "created_at"),
        Index("ix_videos_created", "created_at", "id"),
    )

    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    thumbnail_url: Mapped[str | None] = mapped_column(Text)
    video_url: Mapped[str] = mapped_column(Text)
    video_duration: Mapped[int | None]
    category: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(
        String(20), default="processing", server_default="processing"
    )
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    views_count: Mapped[int] = mapped_column(default=0, server_default="0")
    likes_count: Mapped[int] = mapped_column(default=0, server_default="0")
    comments_count: Mapped[int] = mapped_column(default=0, server_default="0")
    shares_count: Mapped[int] = mapped_column(default=0, server_default="0")
    is_trending: Mapped[bool] = mapped_column(default=False, server_default=false())


class VideoTag(UUIDPrimaryKey, CreatedAt, Base):
    __tablename__ = "video_tags"
    __table_args__ = (UniqueConstraint("video_id", "tag"), Index("ix_video_tags_tag", "tag"))

    video_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(100))


class VideoLike(UUIDPrimaryKey, CreatedAt, Base):
    __tablename__ = "video_likes"
    __table_args__ = (
        UniqueConstraint("video_id", "user_id"),
        Index("ix_video_likes_user", "user_id", "created_at"),
    )

    video_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))


class VideoComment(UUIDPrimaryKey, CreatedAt, Base):
    __tablename__ = "video_comments"
    __table_args__ = (
        CheckConstraint("replies_count >= 0", name="replies_count"),
        Index("ix_video_comments_video_created", "video_id", "created_at", "id"),
        Index("ix_video_comments_parent", "parent_id"),
        Index("ix_video_comments_user", "user_id"),
    )

    video_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    content: Mapped[str] = mapped_column(Text)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("video_comments.id", ondelete="CASCADE")
    )
    replies_count: Mapped[int] = mapped_column(default=0, server_default="0")

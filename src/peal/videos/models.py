"""Videos, their tags, likes, threaded comments, and the view and share events."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from peal.core.moderation import Moderated
from peal.db import Base, CreatedAt, Timestamps, UUIDPrimaryKey


class VideoStatus(StrEnum):
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


VIDEO_STATUSES = tuple(VideoStatus)

_READY = text("status = 'ready'")
_PROCESSING = text("status = 'processing'")
_NEVER = text("0")


def _where(condition: Any) -> dict[str, Any]:
    """A partial index on both databases (PostgreSQL and SQLite both support them)."""
    return {"postgresql_where": condition, "sqlite_where": condition}


class Video(UUIDPrimaryKey, Timestamps, Moderated, Base):
    __tablename__ = "videos"
    __table_args__ = (
        CheckConstraint("status IN ('processing', 'ready', 'failed')", name="status"),
        CheckConstraint(
            "views_count >= 0 AND likes_count >= 0 AND comments_count >= 0 AND shares_count >= 0",
            name="counts",
        ),
        Index("ix_videos_created", "created_at", "id"),
        # Every public list shows ready videos only, newest first (or by trending score):
        # partial indexes in the order of each listing, so a page is a short index walk.
        Index("ix_videos_ready_created", "created_at", "id", **_where(_READY)),
        Index("ix_videos_author_created", "author_id", "created_at", "id"),
        Index("ix_videos_category_created", "category", "created_at", "id", **_where(_READY)),
        Index(
            "ix_videos_trending_score",
            "trending_score",
            "created_at",
            "id",
            **_where(_READY),
        ),
        Index("ux_videos_video_key", "video_key", unique=True),
        # A list joined from another table (a tag's `video_tags` rows, the feed's tag source)
        # checks each video's visibility by id: from this index alone (an index-only scan of
        # a small index), not a random heap page per row. Counters are not in it: their
        # updates stay HOT.
        Index(
            "ix_videos_id_visibility",
            "id",
            postgresql_include=["author_id", "status", "moderation_status"],
        ),
        # The sweeper of stuck processing: a handful of rows at any time.
        Index("ix_videos_processing", "created_at", **_where(_PROCESSING)),
        # Substring search: a trigram GIN index on PostgreSQL (a rare word is an index lookup;
        # a common one walks the newest-first index and stops at a page). SQLite has no such
        # index type: it gets an always-empty placeholder of the same name, so one schema
        # describes both, and scans, which is fine for the embedded default.
        Index(
            "ix_videos_search_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
            sqlite_where=_NEVER,
        ),
        # Room on each page for the counter updates (views, likes) to stay HOT updates: no new
        # index entries, so a popular video does not bloat the eight indexes above.
        {"postgresql_with": {"fillfactor": 85}},
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
    # Recomputed by the trending job (see `videos.ranking.recompute_trending`).
    trending_score: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # The stored file (one video per upload) and the thumbnail the server made, if it did:
    # both are deleted with the video.
    video_key: Mapped[str | None] = mapped_column(String(255))
    thumbnail_key: Mapped[str | None] = mapped_column(String(255))
    processing_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    processing_started_at: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]
    # Lower-cased title, description and tags: what `search` matches (kept by the service).
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")


class VideoTag(UUIDPrimaryKey, CreatedAt, Base):
    __tablename__ = "video_tags"
    # The tag filter walks one tag's entries newest first and stops at a page, for a rare tag
    # as for a common one: hence the video's creation time, copied here, in the index.
    __table_args__ = (
        UniqueConstraint("video_id", "tag"),
        Index("ix_video_tags_tag", "tag", "video_created_at", "video_id"),
    )

    video_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    video_created_at: Mapped[datetime]
    tag: Mapped[str] = mapped_column(String(100))


class VideoLike(UUIDPrimaryKey, CreatedAt, Base):
    __tablename__ = "video_likes"
    __table_args__ = (
        UniqueConstraint("video_id", "user_id"),
        Index("ix_video_likes_user", "user_id", "created_at"),
        Index("ix_video_likes_created", "created_at"),
    )

    video_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))


class VideoComment(UUIDPrimaryKey, CreatedAt, Moderated, Base):
    __tablename__ = "video_comments"
    __table_args__ = (
        CheckConstraint("replies_count >= 0", name="replies_count"),
        Index("ix_video_comments_video_created", "video_id", "created_at", "id"),
        Index("ix_video_comments_parent", "parent_id", "created_at", "id"),
        Index("ix_video_comments_user", "user_id"),
        Index("ix_video_comments_created", "created_at"),
    )

    video_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    content: Mapped[str] = mapped_column(Text)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("video_comments.id", ondelete="CASCADE")
    )
    replies_count: Mapped[int] = mapped_column(default=0, server_default="0")


class VideoView(UUIDPrimaryKey, CreatedAt, Base):
    """One counted view: at most one per viewer, video and clock hour (the unique key makes
    the rule hold under concurrency). `viewer_key` is `u:<user id>` or `a:<salted hash>`."""

    __tablename__ = "video_views"
    __table_args__ = (
        UniqueConstraint("video_id", "viewer_key", "hour"),
        Index("ix_video_views_created", "created_at"),
    )

    video_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    viewer_key: Mapped[str] = mapped_column(String(80))
    hour: Mapped[int]


class VideoShare(UUIDPrimaryKey, CreatedAt, Base):
    """One counted share (the counter is `videos.shares_count`); kept for the trending window."""

    __tablename__ = "video_shares"
    __table_args__ = (
        Index("ix_video_shares_video", "video_id"),
        Index("ix_video_shares_created", "created_at"),
        # One counted share per sharer, video and UTC day, under any concurrency.
        Index("ux_video_shares_video_sharer_day", "video_id", "sharer_key", "day", unique=True),
    )

    video_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # `u:<user id>` or `a:<salted hash of the IP>`, like `VideoView.viewer_key`; NULL on rows
    # older than the rule.
    sharer_key: Mapped[str | None] = mapped_column(String(80))
    day: Mapped[int | None]

"""Users, their skills and interests, and who follows whom."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from peal.db import Base, CreatedAt, Timestamps, UUIDPrimaryKey


class Role(StrEnum):
    WOMAN = "woman"
    SPONSOR = "sponsor"
    ADMIN = "admin"


ROLES = tuple(Role)


class User(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('woman', 'sponsor', 'admin')", name="role"),
        CheckConstraint("followers_count >= 0 AND following_count >= 0", name="counts"),
        Index("ix_users_role_created", "role", "created_at"),
        Index("ix_users_public_created", "is_public", "created_at"),
    )

    # Stored lower-cased and trimmed, so uniqueness is case-insensitive on every database.
    email: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    avatar_url: Mapped[str | None] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(50))
    bio: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(255), index=True)
    is_public: Mapped[bool] = mapped_column(default=True, server_default=true())
    email_verified: Mapped[bool] = mapped_column(default=False, server_default=false())
    followers_count: Mapped[int] = mapped_column(default=0, server_default="0")
    following_count: Mapped[int] = mapped_column(default=0, server_default="0")
    is_banned: Mapped[bool] = mapped_column(default=False, server_default=false())
    deleted_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    password_changed_at: Mapped[datetime | None]
    # Every access and refresh token carries the epoch it was issued under; bumping it
    # (peal.auth.service.end_all_sessions) ends every sign-in of the user at once.
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")

    skills: Mapped[list[UserSkill]] = relationship(
        lazy="raise", cascade="all, delete-orphan", passive_deletes=True, order_by="UserSkill.skill"
    )
    interests: Mapped[list[UserInterest]] = relationship(
        lazy="raise",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="UserInterest.interest",
    )

    @property
    def is_active(self) -> bool:
        return not self.is_banned and self.deleted_at is None


class UserSkill(UUIDPrimaryKey, CreatedAt, Base):
    __tablename__ = "user_skills"
    __table_args__ = (UniqueConstraint("user_id", "skill"), Index("ix_user_skills_skill", "skill"))

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    skill: Mapped[str] = mapped_column(String(100))


class UserInterest(UUIDPrimaryKey, CreatedAt, Base):
    __tablename__ = "user_interests"
    __table_args__ = (
        UniqueConstraint("user_id", "interest"),
        Index("ix_user_interests_interest", "interest"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    interest: Mapped[str] = mapped_column(String(100))


class UserFollow(UUIDPrimaryKey, CreatedAt, Base):
    __tablename__ = "user_follows"
    __table_args__ = (
        UniqueConstraint("follower_id", "following_id"),
        CheckConstraint("follower_id <> following_id", name="not_self"),
        Index("ix_user_follows_following_created", "following_id", "created_at"),
        Index("ix_user_follows_follower_created", "follower_id", "created_at"),
    )

    follower_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    following_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))


class UserBlock(UUIDPrimaryKey, CreatedAt, Base):
    """`blocker_id` blocked `blocked_id`: each is invisible to the other from then on."""

    __tablename__ = "user_blocks"
    __table_args__ = (
        UniqueConstraint("blocker_id", "blocked_id"),
        CheckConstraint("blocker_id <> blocked_id", name="not_self"),
        # The other direction of `not_blocked`, and the "who blocked me" side of a purge.
        Index("ix_user_blocks_blocked_blocker", "blocked_id", "blocker_id"),
        Index("ix_user_blocks_blocker_created", "blocker_id", "created_at"),
    )

    blocker_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    blocked_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))


class UserMute(UUIDPrimaryKey, CreatedAt, Base):
    """`muter_id` muted `muted_id`: gone from the muter's feeds and notifications only."""

    __tablename__ = "user_mutes"
    __table_args__ = (
        UniqueConstraint("muter_id", "muted_id"),
        CheckConstraint("muter_id <> muted_id", name="not_self"),
        Index("ix_user_mutes_muted", "muted_id"),
        Index("ix_user_mutes_muter_created", "muter_id", "created_at"),
    )

    muter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    muted_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))


class ExportStatus(StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"
    EXPIRED = "expired"


class DataExport(UUIDPrimaryKey, Base):
    """One request for a copy of a person's data (GDPR): a ZIP in storage once ready."""

    __tablename__ = "data_exports"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'ready', 'failed', 'expired')", name="status"),
        Index("ix_data_exports_user_requested", "user_id", "requested_at"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default=ExportStatus.PENDING)
    requested_at: Mapped[datetime]
    ready_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    storage_key: Mapped[str | None] = mapped_column(String(255))

"""Refresh-token families and single-use tokens (email verification, password reset, email
change)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from peal.db import Base, CreatedAt, UUIDPrimaryKey


class RefreshToken(UUIDPrimaryKey, CreatedAt, Base):
    """One refresh token; rotation links tokens of one sign-in through `family_id`.

    Presenting a token that was already rotated (`replaced_at` set) or revoked means it leaked:
    the whole family is revoked.
    """

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_family", "family_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    replaced_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # The user's session epoch when the family started: a bump of the user's epoch kills it.
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    user_agent: Mapped[str | None] = mapped_column(String(255))
    ip_address: Mapped[str | None] = mapped_column(String(64))


class OneTimeToken(UUIDPrimaryKey, CreatedAt, Base):
    """A single-use token, stored hashed: email verification, password reset or email change.

    An email-change token carries the address it confirms (`new_email`): the pending change
    lives and dies with its link (expiry, use, a newer request), with no second copy to clean.
    """

    __tablename__ = "one_time_tokens"
    __table_args__ = (
        CheckConstraint(
            "purpose IN ('verify_email', 'reset_password', 'change_email')", name="purpose"
        ),
        Index("ix_one_time_tokens_user_purpose", "user_id", "purpose"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    # The address a `change_email` token moves the account to (normalised); NULL otherwise.
    new_email: Mapped[str | None] = mapped_column(String(255))

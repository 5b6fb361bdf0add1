"""Per-user preferences: notifications, language and theme."""

from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, ForeignKey, String, false, true
from sqlalchemy.orm import Mapped, mapped_column

from peal.db import Base, Timestamps, UUIDPrimaryKey

LANGUAGES = ("en", "es", "fr", "pt", "ar")
THEMES = ("light", "dark", "system")
MESSAGE_PRIVACY = ("everyone", "following", "connections")


class UserSettings(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "user_settings"
    __table_args__ = (
        CheckConstraint("language IN ('en', 'es', 'fr', 'pt', 'ar')", name="language"),
        CheckConstraint("theme IN ('light', 'dark', 'system')", name="theme"),
        CheckConstraint(
            "message_privacy IN ('everyone', 'following', 'connections')", name="message_privacy"
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    email_notifications: Mapped[bool] = mapped_column(default=True, server_default=true())
    push_notifications: Mapped[bool] = mapped_column(default=True, server_default=true())
    mentor_messages_notifications: Mapped[bool] = mapped_column(default=True, server_default=true())
    supporter_updates_notifications: Mapped[bool] = mapped_column(
        default=True, server_default=true()
    )
    weekly_digest: Mapped[bool] = mapped_column(default=False, server_default=false())
    language: Mapped[str] = mapped_column(String(10), default="en", server_default="en")
    theme: Mapped[str] = mapped_column(String(20), default="system", server_default="system")
    # Who may message me (API.md "Safety"): anyone, people I follow, or only those always
    # admitted (accepted mentor connections, people I already talk with, admins).
    message_privacy: Mapped[str] = mapped_column(
        String(20), default="following", server_default="following"
    )

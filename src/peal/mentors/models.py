"""Mentor profiles, their skills, and mentoring connections."""

from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from peal.db import Base, CreatedAt, Timestamps, UUIDPrimaryKey


class MentorProfile(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "mentor_profiles"
    __table_args__ = (
        CheckConstraint(
            "availability IN ('available', 'busy', 'unavailable')", name="availability"
        ),
        CheckConstraint("max_mentees >= 0", name="max_mentees"),
        CheckConstraint("current_mentees_count >= 0", name="current_mentees_count"),
        CheckConstraint(
            "years_experience IS NULL OR years_experience >= 0", name="years_experience"
        ),
        Index("ix_mentor_profiles_availability", "availability"),
        # `GET /api/mentors` lists newest first.
        Index("ix_mentor_profiles_created", "created_at", "id"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    bio: Mapped[str | None] = mapped_column(Text)
    availability: Mapped[str] = mapped_column(
        String(50), default="available", server_default="available"
    )
    years_experience: Mapped[int | None]
    max_mentees: Mapped[int] = mapped_column(default=5, server_default="5")
    current_mentees_count: Mapped[int] = mapped_column(default=0, server_default="0")
    accepts_remote: Mapped[bool] = mapped_column(default=True, server_default=true())


class MentorSkill(UUIDPrimaryKey, CreatedAt, Base):
    __tablename__ = "mentor_skills"
    __table_args__ = (
        UniqueConstraint("mentor_id", "skill"),
        Index("ix_mentor_skills_skill", "skill"),
    )

    mentor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("mentor_profiles.id", ondelete="CASCADE")
    )
    skill: Mapped[str] = mapped_column(String(100))


class MentorConnection(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "mentor_connections"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'accepted', 'rejected', 'ended')", name="status"),
        UniqueConstraint("mentor_id", "mentee_id"),
        Index("ix_mentor_connections_mentee", "mentee_id"),
        Index("ix_mentor_connections_mentor_status", "mentor_id", "status"),
    )

    mentor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("mentor_profiles.id", ondelete="CASCADE")
    )
    mentee_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(50), default="pending", server_default="pending")
    # The mentee's note with the request (plain text, bounded by the schema).
    message: Mapped[str | None] = mapped_column(Text)

"""Events hosted by members, and the registrations of their attendees."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from peal.core.moderation import Moderated
from peal.db import Base, CreatedAt, Timestamps, UUIDPrimaryKey
from peal.users.models import User

EVENT_CATEGORIES = ("workshop", "webinar", "networking", "conference", "mentorship")


class Event(UUIDPrimaryKey, Timestamps, Moderated, Base):
    """An event. Its status is not stored: it follows `cancelled_at` and the dates."""

    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint(
            "category IN ('workshop', 'webinar', 'networking', 'conference', 'mentorship')",
            name="category",
        ),
        CheckConstraint("end_date IS NULL OR end_date >= event_date", name="end_after_start"),
        CheckConstraint("max_attendees IS NULL OR max_attendees > 0", name="max_attendees"),
        # The database itself refuses an overbooked event, whatever the code does.
        CheckConstraint(
            "attendee_count >= 0 AND (max_attendees IS NULL OR attendee_count <= max_attendees)",
            name="attendee_count",
        ),
        Index("ix_events_event_date", "event_date"),
        Index("ix_events_host", "host_id"),
        Index("ix_events_category_date", "category", "event_date"),
    )

    host_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    cover_image: Mapped[str | None] = mapped_column(Text)
    event_date: Mapped[datetime]
    end_date: Mapped[datetime | None]
    location: Mapped[str | None] = mapped_column(String(255))
    is_virtual: Mapped[bool] = mapped_column(default=False, server_default=false())
    meeting_url: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(20))
    max_attendees: Mapped[int | None]
    attendee_count: Mapped[int] = mapped_column(default=0, server_default="0")
    cancelled_at: Mapped[datetime | None]

    host: Mapped[User] = relationship(lazy="raise")


class EventRegistration(UUIDPrimaryKey, CreatedAt, Base):
    __tablename__ = "event_registrations"
    __table_args__ = (
        UniqueConstraint("event_id", "user_id"),
        Index("ix_event_registrations_user", "user_id"),
    )

    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))

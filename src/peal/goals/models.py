"""A user's private goals and the milestones that measure their progress."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from peal.db import Base, CreatedAt, Timestamps, UUIDPrimaryKey

GOAL_CATEGORIES = ("business", "education", "career", "personal", "health", "finance")


class GoalStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    ON_HOLD = "on_hold"


GOAL_STATUSES = tuple(GoalStatus)
GOAL_PRIORITIES = ("low", "medium", "high")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class Goal(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "goals"
    __table_args__ = (
        CheckConstraint(_one_of("category", GOAL_CATEGORIES), name="category"),
        CheckConstraint(_one_of("status", GOAL_STATUSES), name="status"),
        CheckConstraint(_one_of("priority", GOAL_PRIORITIES), name="priority"),
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress"),
        Index("ix_goals_user_status", "user_id", "status"),
        # The owner's list: newest first.
        Index("ix_goals_user_created", "user_id", "created_at"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(20))
    target_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(
        String(20), default="in_progress", server_default="in_progress"
    )
    progress: Mapped[int] = mapped_column(default=0, server_default="0")
    priority: Mapped[str] = mapped_column(String(10), default="medium", server_default="medium")
    completed_at: Mapped[datetime | None]

    milestones: Mapped[list[GoalMilestone]] = relationship(
        lazy="raise",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by=lambda: (GoalMilestone.position, GoalMilestone.created_at, GoalMilestone.id),
    )


class GoalMilestone(UUIDPrimaryKey, CreatedAt, Base):
    __tablename__ = "goal_milestones"
    __table_args__ = (Index("ix_goal_milestones_goal_position", "goal_id", "position"),)

    goal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("goals.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    due_date: Mapped[date | None] = mapped_column(Date)
    completed: Mapped[bool] = mapped_column(default=False, server_default=false())
    completed_at: Mapped[datetime | None]
    position: Mapped[int] = mapped_column(default=0, server_default="0")

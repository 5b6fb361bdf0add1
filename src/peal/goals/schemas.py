"""The Goal and Milestone resources as the API shows them, and the goal request bodies."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from peal.core.schemas import CamelModel, UTCTimestamp, input_date, refuse_explicit_null
from peal.core.text import PlainText, TextBounds, plain_text

MAX_MILESTONES = 50
TITLE_MAX = 255
DESCRIPTION_MAX = 5000

GoalCategory = Literal["business", "education", "career", "personal", "health", "finance"]
GoalStatus = Literal["in_progress", "completed", "on_hold"]
GoalPriority = Literal["low", "medium", "high"]


def _title(value: str) -> str:
    # Checked after HTML stripping: "<b></b>" is an empty title.
    if not value:
        raise ValueError("Title is required")
    if len(value) > TITLE_MAX:
        raise ValueError(f"Title must be at most {TITLE_MAX} characters")
    return value


def _description(value: str | None) -> str | None:
    if value is not None and len(value) > DESCRIPTION_MAX:
        raise ValueError(f"Description must be at most {DESCRIPTION_MAX} characters")
    return value or None


InputDate = Annotated[date, BeforeValidator(input_date)]
Title = Annotated[PlainText, TextBounds(TITLE_MAX, required=True), AfterValidator(_title)]
Description = Annotated[
    str | None,
    plain_text(DESCRIPTION_MAX),
    AfterValidator(_description),
    Field(json_schema_extra={"maxLength": DESCRIPTION_MAX}),
]


# --- responses ------------------------------------------------------------------------------


class MilestoneOut(CamelModel):
    id: uuid.UUID
    goal_id: uuid.UUID
    title: str = Field(examples=["Register the business name"])
    description: str | None = Field(default=None, examples=["At the trade registry"])
    due_date: date | None = Field(default=None, examples=["2026-12-15"])
    completed: bool = Field(examples=[False])
    completed_at: UTCTimestamp | None = Field(default=None, examples=[None])
    created_at: UTCTimestamp


class GoalOut(CamelModel):
    id: uuid.UUID
    user_id: uuid.UUID
    title: str = Field(examples=["Open my bakery"])
    description: str | None = Field(default=None, examples=["A small bakery in my street"])
    category: GoalCategory = Field(examples=["business"])
    target_date: date | None = Field(default=None, examples=["2027-03-01"])
    status: GoalStatus = Field(examples=["in_progress"])
    progress: int = Field(ge=0, le=100, examples=[50])
    priority: GoalPriority = Field(examples=["high"])
    completed_at: UTCTimestamp | None = Field(default=None, examples=[None])
    created_at: UTCTimestamp
    updated_at: UTCTimestamp
    milestones: list[MilestoneOut] = Field(default_factory=list)


class GoalResponse(CamelModel):
    goal: GoalOut


class GoalsResponse(CamelModel):
    goals: list[GoalOut]


class MilestoneResponse(CamelModel):
    milestone: MilestoneOut


class GoalStats(CamelModel):
    total: int = Field(examples=[7])
    in_progress: int = Field(examples=[4])
    completed: int = Field(examples=[2])
    on_hold: int = Field(examples=[1])
    overdue: int = Field(examples=[1], description="Not completed and past the target date")
    average_progress: float = Field(examples=[42.9], description="Mean progress, 1 decimal")
    by_category: dict[str, int] = Field(
        examples=[{"business": 3, "education": 2, "career": 1, "personal": 1}]
    )


class GoalStatsResponse(CamelModel):
    stats: GoalStats


# --- requests -------------------------------------------------------------------------------


class MilestoneCreate(CamelModel):
    title: Title = Field(examples=["Register the business name"])
    description: Description = Field(default=None, examples=["At the trade registry"])
    due_date: InputDate | None = Field(default=None, examples=["2026-12-15"])


class MilestoneUpdate(CamelModel):
    """Only the fields sent change; `completed` sets or clears `completedAt`."""

    title: Title | None = Field(default=None, examples=["Register the business name"])
    description: Description = Field(default=None, examples=["At the trade registry"])
    due_date: InputDate | None = Field(default=None, examples=["2026-12-15"])
    completed: bool | None = Field(default=None, examples=[True])

    _required = refuse_explicit_null("title", "completed")


class GoalCreate(CamelModel):
    title: Title = Field(examples=["Open my bakery"])
    description: Description = Field(default=None, examples=["A small bakery in my street"])
    category: GoalCategory = Field(examples=["business"])
    target_date: InputDate | None = Field(default=None, examples=["2027-03-01"])
    priority: GoalPriority = Field(default="medium", examples=["high"])
    milestones: list[MilestoneCreate] = Field(default_factory=list, max_length=MAX_MILESTONES)


class GoalUpdate(CamelModel):
    """Only the fields sent change. `progress` is derived while the goal has milestones."""

    title: Title | None = Field(default=None, examples=["Open my bakery"])
    description: Description = Field(default=None, examples=["A small bakery in my street"])
    category: GoalCategory | None = Field(default=None, examples=["business"])
    target_date: InputDate | None = Field(default=None, examples=["2027-03-01"])
    priority: GoalPriority | None = Field(default=None, examples=["high"])
    status: GoalStatus | None = Field(default=None, examples=["on_hold"])
    progress: int | None = Field(default=None, ge=0, le=100, examples=[60])

    _required = refuse_explicit_null("title", "category", "priority", "status", "progress")

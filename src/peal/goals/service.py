"""The rules of goals: private to their owner, progress derived from milestones when they exist."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from peal.core.errors import Conflict, NotFound
from peal.core.export import row_dict
from peal.core.sql import NO_SYNC
from peal.db import utcnow
from peal.goals.models import GOAL_CATEGORIES, Goal, GoalMilestone
from peal.goals.schemas import (
    MAX_MILESTONES,
    GoalCreate,
    GoalUpdate,
    MilestoneCreate,
    MilestoneUpdate,
)


def _goal_not_found() -> NotFound:
    return NotFound("Goal not found", code="goal_not_found")


def _milestone_not_found() -> NotFound:
    return NotFound("Milestone not found", code="milestone_not_found")


def today_utc() -> date:
    return datetime.now(UTC).date()


# --- reading --------------------------------------------------------------------------------


async def list_goals(session: AsyncSession, owner_id: uuid.UUID, status: str | None) -> list[Goal]:
    """The owner's goals, newest first, with their milestones: two queries whatever the count."""
    query = (
        select(Goal)
        .where(Goal.user_id == owner_id)
        .options(selectinload(Goal.milestones))
        .order_by(Goal.created_at.desc(), Goal.id.desc())
    )
    if status is not None:
        query = query.where(Goal.status == status)
    result = await session.execute(query)
    return list(result.scalars().all())


async def get_goal(session: AsyncSession, owner_id: uuid.UUID, goal_id: uuid.UUID) -> Goal:
    """One goal with its milestones; 404 unless `owner_id` owns it."""
    result = await session.execute(
        select(Goal)
        .where(Goal.id == goal_id, Goal.user_id == owner_id)
        .options(selectinload(Goal.milestones))
        .execution_options(populate_existing=True)
    )
    goal = result.scalar_one_or_none()
    if goal is None:
        raise _goal_not_found()
    return goal


async def _lock_goal(session: AsyncSession, owner_id: uuid.UUID, goal_id: uuid.UUID) -> Goal:
    """The owner's goal, row-locked so that milestone changes and the progress they derive
    are applied one at a time (PostgreSQL row lock; SQLite serialises writers anyway)."""
    result = await session.execute(
        select(Goal)
        .where(Goal.id == goal_id, Goal.user_id == owner_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    goal = result.scalar_one_or_none()
    if goal is None:
        raise _goal_not_found()
    return goal


@dataclass(frozen=True)
class MilestoneCounts:
    total: int
    completed: int


async def _milestone_counts(session: AsyncSession, goal_id: uuid.UUID) -> MilestoneCounts:
    result = await session.execute(
        select(
            func.count(GoalMilestone.id),
            func.coalesce(func.sum(case((GoalMilestone.completed, 1), else_=0)), 0),
        ).where(GoalMilestone.goal_id == goal_id)
    )
    total, completed = result.one()
    return MilestoneCounts(total=int(total), completed=int(completed))


def _set_status(goal: Goal, status: str) -> None:
    if status == goal.status:
        return
    goal.status = status
    goal.completed_at = utcnow() if status == "completed" else None


def _derive_progress(goal: Goal, counts: MilestoneCounts) -> None:
    """With milestones, progress is the completed share; all done completes the goal and an
    undone one reopens it. Without milestones (e.g. the last one deleted) nothing changes."""
    if counts.total == 0:
        return
    goal.progress = int(
        (Decimal(100 * counts.completed) / counts.total).quantize(Decimal(1), ROUND_HALF_UP)
    )
    if counts.completed == counts.total:
        _set_status(goal, "completed")
    elif goal.status == "completed":
        _set_status(goal, "in_progress")


async def _refresh_progress(session: AsyncSession, goal: Goal) -> None:
    _derive_progress(goal, await _milestone_counts(session, goal.id))
    await session.flush()


# --- goals ----------------------------------------------------------------------------------


async def create_goal(session: AsyncSession, owner_id: uuid.UUID, data: GoalCreate) -> Goal:
    goal = Goal(
        user_id=owner_id,
        title=data.title,
        description=data.description,
        category=data.category,
        target_date=data.target_date,
        priority=data.priority,
        status="in_progress",
        progress=0,
    )
    session.add(goal)
    await session.flush()
    session.add_all(
        GoalMilestone(
            goal_id=goal.id,
            title=milestone.title,
            description=milestone.description,
            due_date=milestone.due_date,
            position=position,
        )
        for position, milestone in enumerate(data.milestones)
    )
    await session.flush()
    return await get_goal(session, owner_id, goal.id)


async def update_goal(
    session: AsyncSession, owner_id: uuid.UUID, goal_id: uuid.UUID, data: GoalUpdate
) -> Goal:
    """Apply the whitelisted fields that were sent.

    `progress` belongs to the owner only while the goal has no milestones; with milestones it is
    derived, and a different value is refused (409) rather than silently dropped. Marking a goal
    without milestones `completed` also sets its progress to 100 unless progress was sent.
    """
    goal = await _lock_goal(session, owner_id, goal_id)
    changes = data.model_dump(exclude_unset=True)
    for field in ("title", "description", "category", "target_date", "priority"):
        if field in changes:
            setattr(goal, field, changes[field])
    counts = await _milestone_counts(session, goal.id)
    progress = changes.get("progress")
    if progress is not None and progress != goal.progress:
        if counts.total:
            raise Conflict(
                "Progress follows the milestones of this goal", code="progress_is_derived"
            )
        goal.progress = progress
    status = changes.get("status")
    if status is not None:
        _set_status(goal, status)
        if status == "completed" and counts.total == 0 and progress is None:
            goal.progress = 100
    await session.flush()
    return await get_goal(session, owner_id, goal.id)


async def delete_goal(session: AsyncSession, owner_id: uuid.UUID, goal_id: uuid.UUID) -> None:
    result = await session.execute(
        delete(Goal).where(Goal.id == goal_id, Goal.user_id == owner_id).returning(Goal.id),
        execution_options=NO_SYNC,
    )
    if result.scalar_one_or_none() is None:
        raise _goal_not_found()


# --- milestones -----------------------------------------------------------------------------


async def add_milestone(
    session: AsyncSession, owner_id: uuid.UUID, goal_id: uuid.UUID, data: MilestoneCreate
) -> GoalMilestone:
    goal = await _lock_goal(session, owner_id, goal_id)
    result = await session.execute(
        select(func.count(GoalMilestone.id), func.max(GoalMilestone.position)).where(
            GoalMilestone.goal_id == goal.id
        )
    )
    total, last_position = result.one()
    if total >= MAX_MILESTONES:
        raise Conflict(
            f"A goal has at most {MAX_MILESTONES} milestones", code="too_many_milestones"
        )
    milestone = GoalMilestone(
        goal_id=goal.id,
        title=data.title,
        description=data.description,
        due_date=data.due_date,
        position=0 if last_position is None else last_position + 1,
    )
    session.add(milestone)
    await session.flush()
    await _refresh_progress(session, goal)
    return milestone


async def _get_milestone(
    session: AsyncSession, goal_id: uuid.UUID, milestone_id: uuid.UUID
) -> GoalMilestone:
    result = await session.execute(
        select(GoalMilestone).where(
            GoalMilestone.id == milestone_id, GoalMilestone.goal_id == goal_id
        )
    )
    milestone = result.scalar_one_or_none()
    if milestone is None:
        raise _milestone_not_found()
    return milestone


async def update_milestone(
    session: AsyncSession,
    owner_id: uuid.UUID,
    goal_id: uuid.UUID,
    milestone_id: uuid.UUID,
    data: MilestoneUpdate,
) -> GoalMilestone:
    """Apply the sent fields; `completed` sets or clears `completed_at`, and progress follows."""
    goal = await _lock_goal(session, owner_id, goal_id)
    milestone = await _get_milestone(session, goal.id, milestone_id)
    changes = data.model_dump(exclude_unset=True)
    for field in ("title", "description", "due_date"):
        if field in changes:
            setattr(milestone, field, changes[field])
    completed = changes.get("completed")
    if completed is not None and completed != milestone.completed:
        milestone.completed = completed
        milestone.completed_at = utcnow() if completed else None
    await session.flush()
    await _refresh_progress(session, goal)
    return milestone


async def delete_milestone(
    session: AsyncSession, owner_id: uuid.UUID, goal_id: uuid.UUID, milestone_id: uuid.UUID
) -> None:
    goal = await _lock_goal(session, owner_id, goal_id)
    result = await session.execute(
        delete(GoalMilestone)
        .where(GoalMilestone.id == milestone_id, GoalMilestone.goal_id == goal.id)
        .returning(GoalMilestone.id),
        execution_options=NO_SYNC,
    )
    if result.scalar_one_or_none() is None:
        raise _milestone_not_found()
    await _refresh_progress(session, goal)


# --- stats ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GoalSummary:
    total: int
    in_progress: int
    completed: int
    on_hold: int
    overdue: int
    average_progress: float
    by_category: dict[str, int]


def _count_where(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def goal_stats(session: AsyncSession, owner_id: uuid.UUID) -> GoalSummary:
    """Counts by status, overdue goals (not completed, target date before today in UTC), the
    mean progress and the count per category: two aggregate queries whatever the count."""
    totals = (
        await session.execute(
            select(
                func.count(Goal.id),
                _count_where(Goal.status == "in_progress"),
                _count_where(Goal.status == "completed"),
                _count_where(Goal.status == "on_hold"),
                _count_where((Goal.status != "completed") & (Goal.target_date < today_utc())),
                func.coalesce(func.sum(Goal.progress), 0),
            ).where(Goal.user_id == owner_id)
        )
    ).one()
    total, in_progress, completed, on_hold, overdue, progress_sum = (int(v) for v in totals)
    by_category = dict.fromkeys(GOAL_CATEGORIES, 0)
    rows = await session.execute(
        select(Goal.category, func.count(Goal.id))
        .where(Goal.user_id == owner_id)
        .group_by(Goal.category)
    )
    for category, count in rows.all():
        by_category[category] = int(count)
    # Exact decimal arithmetic, then one decimal rounded half up (not banker's rounding).
    average = (
        (Decimal(progress_sum) / total).quantize(Decimal("0.1"), ROUND_HALF_UP)
        if total
        else Decimal(0)
    )
    return GoalSummary(
        total=total,
        in_progress=in_progress,
        completed=completed,
        on_hold=on_hold,
        overdue=overdue,
        average_progress=float(average),
        by_category=by_category,
    )


# --- account deletion and export -----------------------------------------------------------


async def purge_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Her goals go, with their milestones (ON DELETE CASCADE)."""
    await session.execute(delete(Goal).where(Goal.user_id == user_id), execution_options=NO_SYNC)


async def export_user(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    goals = await session.scalars(
        select(Goal)
        .where(Goal.user_id == user_id)
        .options(selectinload(Goal.milestones))
        .order_by(Goal.created_at)
    )
    return {
        "goals": [
            {**row_dict(goal), "milestones": [row_dict(m) for m in goal.milestones]}
            for goal in goals.all()
        ]
    }

"""HTTP routes of the goals domain: parse, call the service, shape the answer."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from peal.auth.dependencies import CurrentUser
from peal.core.routing import path_id, put_and_patch
from peal.core.schemas import error_responses
from peal.deps import SessionDep
from peal.goals import service
from peal.goals.models import Goal
from peal.goals.schemas import (
    GoalCreate,
    GoalOut,
    GoalResponse,
    GoalsResponse,
    GoalStats,
    GoalStatsResponse,
    GoalStatus,
    GoalUpdate,
    MilestoneCreate,
    MilestoneOut,
    MilestoneResponse,
    MilestoneUpdate,
)

router = APIRouter(prefix="/api/goals", tags=["Goals"], responses=error_responses(401))
GoalId = Annotated[uuid.UUID, path_id("goalId", "goal")]
MilestoneId = Annotated[uuid.UUID, path_id("milestoneId", "milestone")]


def _goal(goal: Goal) -> GoalResponse:
    return GoalResponse(goal=GoalOut.model_validate(goal))


# Declared before "/{goalId}" so that "stats" is never read as a goal id.
@router.get(
    "/stats/summary",
    summary="Counts and mean progress of my goals",
    response_model=GoalStatsResponse,
)
async def goal_stats(session: SessionDep, user: CurrentUser) -> GoalStatsResponse:
    summary = await service.goal_stats(session, user.id)
    return GoalStatsResponse(stats=GoalStats.model_validate(summary))


@router.get(
    "",
    summary="My goals, newest first, each with its milestones",
    response_model=GoalsResponse,
)
async def list_goals(
    session: SessionDep,
    user: CurrentUser,
    goal_status: Annotated[
        GoalStatus | None, Query(alias="status", description="Only goals in this status")
    ] = None,
) -> GoalsResponse:
    goals = await service.list_goals(session, user.id, goal_status)
    return GoalsResponse(goals=[GoalOut.model_validate(goal) for goal in goals])


@router.post(
    "",
    summary="Create a goal, optionally with its milestones",
    status_code=status.HTTP_201_CREATED,
    response_model=GoalResponse,
)
async def create_goal(session: SessionDep, user: CurrentUser, body: GoalCreate) -> GoalResponse:
    return _goal(await service.create_goal(session, user.id, body))


@router.get(
    "/{goalId}",
    summary="One of my goals",
    response_model=GoalResponse,
    responses=error_responses(404),
)
async def get_goal(session: SessionDep, user: CurrentUser, goal_id: GoalId) -> GoalResponse:
    return _goal(await service.get_goal(session, user.id, goal_id))


@put_and_patch(
    router,
    "/{goalId}",
    summary="Update one of my goals (only the fields sent)",
    response_model=GoalResponse,
    responses=error_responses(404, 409),
)
async def update_goal(
    session: SessionDep, user: CurrentUser, goal_id: GoalId, body: GoalUpdate
) -> GoalResponse:
    return _goal(await service.update_goal(session, user.id, goal_id, body))


@router.delete(
    "/{goalId}",
    summary="Delete one of my goals and its milestones",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(404),
)
async def delete_goal(session: SessionDep, user: CurrentUser, goal_id: GoalId) -> Response:
    await service.delete_goal(session, user.id, goal_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{goalId}/milestones",
    summary="Add a milestone to one of my goals",
    status_code=status.HTTP_201_CREATED,
    response_model=MilestoneResponse,
    responses=error_responses(404, 409),
)
async def add_milestone(
    session: SessionDep, user: CurrentUser, goal_id: GoalId, body: MilestoneCreate
) -> MilestoneResponse:
    milestone = await service.add_milestone(session, user.id, goal_id, body)
    return MilestoneResponse(milestone=MilestoneOut.model_validate(milestone))


@put_and_patch(
    router,
    "/{goalId}/milestones/{milestoneId}",
    summary="Update a milestone; `completed` sets or clears `completedAt`",
    response_model=MilestoneResponse,
    responses=error_responses(404),
)
async def update_milestone(
    session: SessionDep,
    user: CurrentUser,
    goal_id: GoalId,
    milestone_id: MilestoneId,
    body: MilestoneUpdate,
) -> MilestoneResponse:
    milestone = await service.update_milestone(session, user.id, goal_id, milestone_id, body)
    return MilestoneResponse(milestone=MilestoneOut.model_validate(milestone))


@router.delete(
    "/{goalId}/milestones/{milestoneId}",
    summary="Delete a milestone",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(404),
)
async def delete_milestone(
    session: SessionDep, user: CurrentUser, goal_id: GoalId, milestone_id: MilestoneId
) -> Response:
    await service.delete_milestone(session, user.id, goal_id, milestone_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

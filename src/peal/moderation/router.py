"""HTTP routes of reports and the moderation queue (the web client's moderationApi)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status

from peal.auth.dependencies import AdminUser, CurrentUser
from peal.core.schemas import PageParams, error_responses
from peal.db import SessionDep
from peal.flows.review_report import review_report
from peal.moderation import service
from peal.moderation.schemas import (
    QueueEnvelope,
    ReportCreate,
    ReportEnvelope,
    ReportsEnvelope,
    ReviewBody,
    StatsEnvelope,
)

router = APIRouter(prefix="/api/moderation", tags=["Moderation"], responses=error_responses(401))

Pages = Annotated[PageParams, Depends()]
ReportId = Annotated[
    uuid.UUID, Path(alias="id", description="The report's id", examples=[uuid.UUID(int=1)])
]


@router.post(
    "/report",
    status_code=status.HTTP_201_CREATED,
    response_model=ReportEnvelope,
    summary="Report content",
    responses=error_responses(400, 404, 409),
)
async def report_content(
    body: ReportCreate, request: Request, session: SessionDep, user: CurrentUser
) -> ReportEnvelope:
    """Report a user, video, comment, request, story or event you can see (404 otherwise).

    One open report per person and content: a second answers 409 `already_reported` with the
    first one's id in `details.reportId`. When `MODERATION_AUTO_HIDE_THRESHOLD` different
    people have open reports on it, the content is hidden until an admin reviews it. The
    reported person is never told who reported.
    """
    report = await service.file_report(
        session,
        user,
        body,
        auto_hide_threshold=request.app.state.settings.moderation_auto_hide_threshold,
    )
    return ReportEnvelope(report=service.present_report(report))


@router.get(
    "/my-reports",
    response_model=ReportsEnvelope,
    summary="Reports I filed",
)
async def my_reports(session: SessionDep, user: CurrentUser, pages: Pages) -> ReportsEnvelope:
    """Newest first, with their review status."""
    reports, total = await service.list_reports_of(
        session, user, limit=pages.limit, offset=pages.offset
    )
    return ReportsEnvelope(reports=reports, pagination=pages.pagination(total))


@router.get(
    "/pending",
    response_model=QueueEnvelope,
    summary="The moderation queue (admins)",
    responses=error_responses(403),
)
async def pending(session: SessionDep, _admin: AdminUser, pages: Pages) -> QueueEnvelope:
    """Pending reports, heaviest content first:
    `weight = 10 * distinct reporters + 5 * floor(log2(1 + reach)) + hours since the oldest
    open report`, where reach is the content's audience (views, followers, supporters,
    celebrations, attendees). Reports of the same content come together."""
    queue = await service.pending_queue(session, limit=pages.limit, offset=pages.offset)
    return QueueEnvelope(reports=queue.reports, pagination=pages.pagination(queue.total))


@router.post(
    "/{id}/review",
    response_model=ReportEnvelope,
    summary="Review a report (admins)",
    responses=error_responses(403, 404, 409),
)
async def review(
    report_id: ReportId,
    body: ReviewBody,
    request: Request,
    session: SessionDep,
    admin: AdminUser,
) -> ReportEnvelope:
    """`dismiss`, `warn` (the author is notified), `remove_content` (soft removal; the author
    is told why) or `ban_user` (the author's account is banned). Every open report of the same
    content closes with this one; the action goes to the audit log. A closed report is 409."""
    report = await review_report(
        session,
        request.app.state.settings,
        report_id,
        admin,
        service.ReviewAction(body.action),
        body.note,
    )
    return ReportEnvelope(report=service.present_report(report))


@router.get(
    "/stats",
    response_model=StatsEnvelope,
    summary="Report counts (admins)",
    responses=error_responses(403),
)
async def moderation_stats(session: SessionDep, _admin: AdminUser) -> StatsEnvelope:
    return StatsEnvelope(stats=await service.stats(session))

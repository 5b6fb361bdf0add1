"""HTTP routes of reports for everyone signed in (the web client's moderationApi).

The admin half of `/api/moderation` (queue, review, stats) is in `peal.admin.router`: it runs
the review flow, and flows sit above this package."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from peal.auth.dependencies import CurrentUser
from peal.core.schemas import PageParams, error_responses, page_params
from peal.deps import SessionDep, SettingsDep
from peal.moderation import service
from peal.moderation.schemas import ReportCreate, ReportEnvelope, ReportsEnvelope

router = APIRouter(prefix="/api/moderation", tags=["Moderation"], responses=error_responses(401))

Pages = Annotated[PageParams, Depends(page_params)]


@router.post(
    "/report",
    status_code=status.HTTP_201_CREATED,
    response_model=ReportEnvelope,
    summary="Report content",
    responses=error_responses(400, 404, 409),
)
async def report_content(
    body: ReportCreate,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
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
        auto_hide_threshold=settings.moderation_auto_hide_threshold,
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

"""HTTP routes of the admin API (the web client's adminApi): admins only, 403 for others."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status

from peal.admin import service
from peal.admin.schemas import (
    AdminReportsEnvelope,
    AdminRequestEnvelope,
    AdminRequestsEnvelope,
    AdminRequestUpdate,
    AdminUserEnvelope,
    AdminUsersEnvelope,
    AdminUserUpdate,
    AdminVideosEnvelope,
    AnalyticsEnvelope,
    DashboardEnvelope,
    Period,
)
from peal.auth.dependencies import AdminUser, require_role
from peal.core.routing import path_id
from peal.core.schemas import Page, PageParams, error_responses, page_params
from peal.deps import SessionDep, SettingsDep
from peal.flows.review_report import review_report
from peal.funding.schemas import RequestStatus
from peal.funding.service import RequestFilters, list_requests
from peal.moderation import service as moderation
from peal.moderation.schemas import (
    AuditEntryOut,
    QueueEnvelope,
    ReportEnvelope,
    ReportStatusName,
    ReviewBody,
    StatsEnvelope,
)


def _admins_only(prefix: str, tag: str) -> APIRouter:
    """A router every route of which is for admins (403 for the others)."""
    return APIRouter(
        prefix=prefix,
        tags=[tag],
        responses=error_responses(401, 403),
        dependencies=[Depends(require_role("admin"))],
    )


router = _admins_only("/api/admin", "Administration")

Pages = Annotated[PageParams, Depends(page_params)]


def _client_list(pages: PageParams, total: int) -> dict[str, Any]:
    """The fields beside the items of an admin list, in the client's own shape
    (`total`, `page`, `limit`), with the usual `pagination` object too."""
    return {
        "total": total,
        "page": pages.page,
        "limit": pages.limit,
        "pagination": pages.pagination(total),
    }


UserId = Annotated[uuid.UUID, path_id("id", "user")]
VideoId = Annotated[uuid.UUID, path_id("id", "video")]
RequestId = Annotated[uuid.UUID, path_id("id", "funding request")]


@router.get("/dashboard", response_model=DashboardEnvelope, summary="Site-wide figures")
async def dashboard(session: SessionDep, _admin: AdminUser) -> DashboardEnvelope:
    """`totalDonationAmount` is in integer cents (the dashboard divides by 100)."""
    return DashboardEnvelope(stats=await service.dashboard(session))


@router.get("/analytics", response_model=AnalyticsEnvelope, summary="What happened lately")
async def analytics(
    session: SessionDep,
    _admin: AdminUser,
    period: Annotated[Period, Query(description="7d, 30d or 90d")] = "30d",
) -> AnalyticsEnvelope:
    """New users, videos and succeeded donations in the period; `donationTotal` in dollars."""
    return AnalyticsEnvelope(analytics=await service.analytics(session, period))


@router.get("/users", response_model=AdminUsersEnvelope, summary="Every account")
async def list_users(
    session: SessionDep,
    admin: AdminUser,
    pages: Pages,
    search: Annotated[str | None, Query(max_length=100, description="Name or email")] = None,
    role: Annotated[str | None, Query(max_length=20, description="Only this role")] = None,
) -> AdminUsersEnvelope:
    """Private and banned accounts too, with `email`, `isBanned` and `_count`."""
    items, total = await service.list_users(
        session, admin, search=search, role=role, limit=pages.limit, offset=pages.offset
    )
    return AdminUsersEnvelope(users=items, **_client_list(pages, total))


@router.patch(
    "/users/{id}",
    response_model=AdminUserEnvelope,
    summary="Change a role, verification or ban",
    responses=error_responses(404, 409),
)
async def update_user(
    user_id: UserId,
    body: AdminUserUpdate,
    session: SessionDep,
    settings: SettingsDep,
    admin: AdminUser,
) -> AdminUserEnvelope:
    """`isBanned: true` bans (tokens refused at once, content hidden, active requests
    cancelled and refunded); `false` lifts it (refunds stay). The last admin cannot lose the
    role, and nobody can ban themselves (409)."""
    await service.update_user(
        session,
        settings,
        admin,
        user_id,
        role=body.role,
        email_verified=body.email_verified,
        is_banned=body.is_banned,
        note=body.note,
    )
    return AdminUserEnvelope(user=await service.admin_user(session, user_id, admin))


@router.delete(
    "/users/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an account",
    responses=error_responses(404, 409),
)
async def delete_user(
    user_id: UserId, session: SessionDep, settings: SettingsDep, admin: AdminUser
) -> Response:
    """The plan's account deletion; your own account is 409 here."""
    await service.delete_user(session, settings, admin, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/videos", response_model=AdminVideosEnvelope, summary="Every video")
async def list_videos(session: SessionDep, admin: AdminUser, pages: Pages) -> AdminVideosEnvelope:
    """Every status, hidden and removed ones included, newest first."""
    items, total = await service.list_videos(session, admin, limit=pages.limit, offset=pages.offset)
    return AdminVideosEnvelope(videos=items, **_client_list(pages, total))


@router.delete(
    "/videos/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a video",
    responses=error_responses(404),
)
async def delete_video(video_id: VideoId, session: SessionDep, admin: AdminUser) -> Response:
    await service.delete_video(session, admin, video_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/funding-requests", response_model=AdminRequestsEnvelope, summary="Every funding request"
)
async def list_funding_requests(
    session: SessionDep,
    admin: AdminUser,
    pages: Pages,
    request_status: Annotated[
        RequestStatus | None, Query(alias="status", description="Only this status")
    ] = None,
) -> AdminRequestsEnvelope:
    items, total = await list_requests(
        session,
        RequestFilters(status=request_status),
        admin,
        limit=pages.limit,
        offset=pages.offset,
    )
    return AdminRequestsEnvelope(requests=items, **_client_list(pages, total))


@router.patch(
    "/funding-requests/{id}",
    response_model=AdminRequestEnvelope,
    summary="Change a request's status",
    responses=error_responses(404, 409),
)
async def update_funding_request(
    request_id: RequestId,
    body: AdminRequestUpdate,
    session: SessionDep,
    settings: SettingsDep,
    admin: AdminUser,
) -> AdminRequestEnvelope:
    """Only `active → cancelled` (every donor refunded); any other move is 409."""
    out = await service.set_request_status(
        session, settings, admin, request_id, body.status, body.note
    )
    return AdminRequestEnvelope(request=out)


@router.get("/reports", response_model=AdminReportsEnvelope, summary="Every report")
async def list_reports(
    session: SessionDep,
    _admin: AdminUser,
    pages: Pages,
    report_status: Annotated[
        ReportStatusName | None, Query(alias="status", description="Only this status")
    ] = None,
) -> AdminReportsEnvelope:
    items, total = await moderation.list_reports(
        session, report_status, limit=pages.limit, offset=pages.offset
    )
    return AdminReportsEnvelope(reports=items, **_client_list(pages, total))


@router.get("/audit-log", response_model=Page[AuditEntryOut], summary="The audit log")
async def audit_log(session: SessionDep, _admin: AdminUser, pages: Pages) -> Page[AuditEntryOut]:
    """Every moderation and admin action: who, what, on what, why, when; newest first."""
    items, total = await moderation.list_audit_log(session, limit=pages.limit, offset=pages.offset)
    return Page(data=items, pagination=pages.pagination(total))


# --- the admin half of /api/moderation (the client's moderationApi) ------------------------

moderation_router = _admins_only("/api/moderation", "Moderation")
ReportId = Annotated[uuid.UUID, path_id("id", "report")]


@moderation_router.get(
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
    queue = await moderation.pending_queue(session, limit=pages.limit, offset=pages.offset)
    return QueueEnvelope(reports=queue.reports, pagination=pages.pagination(queue.total))


@moderation_router.post(
    "/{id}/review",
    response_model=ReportEnvelope,
    summary="Review a report (admins)",
    responses=error_responses(403, 404, 409),
)
async def review(
    report_id: ReportId,
    body: ReviewBody,
    session: SessionDep,
    settings: SettingsDep,
    admin: AdminUser,
) -> ReportEnvelope:
    """`dismiss`, `warn` (the author is notified), `remove_content` (soft removal; the author
    is told why) or `ban_user` (the author's account is banned). Every open report of the same
    content closes with this one; the action goes to the audit log. A closed report is 409."""
    report = await review_report(
        session,
        settings,
        report_id,
        admin,
        moderation.ReviewAction(body.action),
        body.note,
    )
    return ReportEnvelope(report=moderation.present_report(report))


@moderation_router.get(
    "/stats",
    response_model=StatsEnvelope,
    summary="Report counts (admins)",
    responses=error_responses(403),
)
async def moderation_stats(session: SessionDep, _admin: AdminUser) -> StatsEnvelope:
    return StatsEnvelope(stats=await moderation.stats(session))

"""Read-only figures and lists for admins, and the admin actions as short call sequences.

The dashboard, analytics and the users list count rows of several domains in one aggregate
query each (scalar subqueries): these are reports across the whole site, read-only, and
doing them through each domain's service would cost a query per figure. Every change an
admin makes goes through the owning domain's service (or a flow) and into the audit log.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ScalarSelect, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from peal.admin.schemas import (
    PERIOD_DAYS,
    AdminUserOut,
    Analytics,
    DashboardStats,
    Period,
    UserCounts,
)
from peal.config import Settings
from peal.core.errors import Conflict
from peal.core.sql import contains_pattern, like
from peal.db import utcnow
from peal.flows.ban_account import ban_account, unban_account
from peal.flows.delete_account import delete_account
from peal.funding import donations
from peal.funding.models import FundingDonation, FundingRequest
from peal.funding.schemas import FundingRequestOut
from peal.funding.service import effective_status, get_request, present_request
from peal.mentors.models import MentorProfile
from peal.moderation import service as moderation
from peal.moderation.models import ModerationReport
from peal.users import service as users
from peal.users.models import User
from peal.videos import service as videos
from peal.videos.models import Video
from peal.videos.schemas import VideoOut

ACTIVE_DAYS = 30


def _count(model: Any, *conditions: Any) -> ScalarSelect[int]:
    return select(func.count()).select_from(model).where(*conditions).scalar_subquery()


def _succeeded() -> Any:
    return FundingDonation.status == "succeeded"


async def dashboard(session: AsyncSession) -> DashboardStats:
    """Every figure in one query."""
    live_user = User.deleted_at.is_(None)
    since = utcnow() - timedelta(days=ACTIVE_DAYS)
    row = (
        await session.execute(
            select(
                _count(User, live_user),
                _count(User, live_user, User.last_login_at >= since),
                _count(Video),
                _count(FundingRequest),
                _count(FundingDonation, _succeeded()),
                select(func.coalesce(func.sum(FundingDonation.amount), 0))
                .where(_succeeded())
                .scalar_subquery(),
                _count(MentorProfile),
                _count(ModerationReport, ModerationReport.status == "pending"),
            )
        )
    ).one()
    users_, active, videos_, requests, gifts, amount, mentors, pending = row
    return DashboardStats(
        total_users=users_,
        active_users=active,
        total_videos=videos_,
        total_funding_requests=requests,
        total_donations=gifts,
        total_donation_amount=int(Decimal(amount) * 100),
        total_mentors=mentors,
        pending_reports=pending,
    )


async def analytics(session: AsyncSession, period: Period) -> Analytics:
    """What happened in the period, in one query."""
    since = utcnow() - timedelta(days=PERIOD_DAYS[period])
    recent_gift = (_succeeded(), FundingDonation.created_at >= since)
    row = (
        await session.execute(
            select(
                _count(User, User.deleted_at.is_(None), User.created_at >= since),
                _count(Video, Video.created_at >= since),
                _count(FundingDonation, *recent_gift),
                select(func.coalesce(func.sum(FundingDonation.amount), 0))
                .where(*recent_gift)
                .scalar_subquery(),
            )
        )
    ).one()
    new_users, new_videos, new_donations, total = row
    return Analytics(
        period=period,
        new_users=new_users,
        new_videos=new_videos,
        new_donations=new_donations,
        donation_total=Decimal(total).quantize(Decimal("0.01")),
    )


# --- users --------------------------------------------------------------------------------


async def present_admin_users(
    session: AsyncSession, rows: list[tuple[User, int, int, int]], admin: User
) -> list[AdminUserOut]:
    """Users with email, ban flag and `_count`: three more queries whatever their number."""
    presented = await users.present_users(session, [row[0] for row in rows], admin)
    return [
        AdminUserOut(
            **out.model_dump(),
            is_banned=user.is_banned,
            counts=UserCounts(
                videos=video_count, funding_requests=request_count, funding_donations=gift_count
            ),
        )
        for out, (user, video_count, request_count, gift_count) in zip(presented, rows, strict=True)
    ]


def _with_counts() -> Any:
    return select(
        User,
        _count(Video, Video.author_id == User.id),
        _count(FundingRequest, FundingRequest.author_id == User.id),
        _count(FundingDonation, FundingDonation.donor_id == User.id),
    )


async def list_users(
    session: AsyncSession,
    admin: User,
    *,
    search: str | None,
    role: str | None,
    limit: int,
    offset: int,
) -> tuple[list[AdminUserOut], int]:
    """Every live account (private and banned ones too), newest first: five queries."""
    conditions: list[Any] = [User.deleted_at.is_(None)]
    if role:
        conditions.append(User.role == role)
    if text := (search or "").strip():
        pattern = contains_pattern(text.lower())
        conditions.append(
            or_(like(User.name, pattern), like(User.email, pattern, ignore_case=False))
        )
    total = (
        await session.execute(select(func.count()).select_from(User).where(*conditions))
    ).scalar_one()
    rows = [
        (user, v, r, d)
        for user, v, r, d in await session.execute(
            _with_counts()
            .where(*conditions)
            .order_by(User.created_at.desc(), User.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ]
    return await present_admin_users(session, rows, admin), total


async def admin_user(session: AsyncSession, user_id: uuid.UUID, admin: User) -> AdminUserOut:
    user, video_count, request_count, gift_count = (
        await session.execute(_with_counts().where(User.id == user_id))
    ).one()
    rows = [(user, video_count, request_count, gift_count)]
    return (await present_admin_users(session, rows, admin))[0]


async def update_user(
    session: AsyncSession,
    settings: Settings,
    admin: User,
    user_id: uuid.UUID,
    *,
    role: str | None,
    email_verified: bool | None,
    is_banned: bool | None,
    note: str | None,
) -> None:
    """Role, email verification and ban, each through its owner, each audited."""
    # Not locked here: a role change locks the admins in id order first (see change_role),
    # and a ban locks the account itself.
    user = await users.get_account(session, user_id)
    if role is not None and await users.change_role(session, user, role):
        await moderation.record(session, admin.id, f"set_role:{role}", "user", user.id, note)
    if email_verified is not None and user.email_verified != email_verified:
        await users.set_email_verified(session, user, email_verified)
        await moderation.record(
            session, admin.id, f"set_email_verified:{str(email_verified).lower()}", "user", user.id
        )
    if is_banned is True:
        await ban_account(session, settings, user.id, admin, note)
    elif is_banned is False:
        await unban_account(session, user.id, admin, note)


async def delete_user(
    session: AsyncSession, settings: Settings, admin: User, user_id: uuid.UUID
) -> None:
    if user_id == admin.id:
        raise Conflict("You cannot delete your own account from here", code="cannot_delete_self")
    await delete_account(session, settings, user_id, admin)
    await moderation.record(session, admin.id, "delete_user", "user", user_id)


# --- content ------------------------------------------------------------------------------


async def list_videos(
    session: AsyncSession, admin: User, *, limit: int, offset: int
) -> tuple[list[VideoOut], int]:
    """Every video in every status, newest first: four queries."""
    total = (await session.execute(select(func.count()).select_from(Video))).scalar_one()
    rows = [
        (video, author)
        for video, author in await session.execute(
            videos.with_author()
            .order_by(Video.created_at.desc(), Video.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ]
    return await videos.present_videos(session, rows, admin), total


async def delete_video(session: AsyncSession, admin: User, video_id: uuid.UUID) -> None:
    await videos.delete_video(session, video_id, admin)
    await moderation.record(session, admin.id, "delete_video", "video", video_id)


async def set_request_status(
    session: AsyncSession,
    settings: Settings,
    admin: User,
    request_id: uuid.UUID,
    status: str,
    note: str | None,
) -> FundingRequestOut:
    """Only the moves the status machine allows an admin: `active → cancelled` (which refunds
    every donor). `funded` and `expired` follow the money and the calendar; a request never
    moves back. Setting the status it already has changes nothing."""
    request, author = await get_request(session, request_id, admin)
    current = effective_status(request)
    if status != current:
        if status != "cancelled" or current != "active":
            raise Conflict(
                f"A {current} request cannot become {status}", code="invalid_status_transition"
            )
        request, author = await donations.cancel_request(session, settings, request_id, admin)
        await moderation.record(session, admin.id, "cancel_request", "request", request_id, note)
    return present_request(request, author)

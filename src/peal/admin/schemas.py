"""The admin API's shapes: the web client's own, which differ from the list envelope."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from peal.core.schemas import CamelModel, Pagination
from peal.funding.schemas import FundingRequestOut, MoneyOut
from peal.moderation.schemas import Note, ReportOut
from peal.users.schemas import UserOut
from peal.videos.schemas import VideoOut

Period = Literal["7d", "30d", "90d"]
PERIOD_DAYS = {"7d": 7, "30d": 30, "90d": 90}


class DashboardStats(CamelModel):
    total_users: int = Field(examples=[1200])
    active_users: int = Field(examples=[640], description="Signed in within 30 days")
    total_videos: int = Field(examples=[3400])
    total_funding_requests: int = Field(examples=[210])
    total_donations: int = Field(examples=[980], description="Succeeded donations")
    total_donation_amount: int = Field(
        examples=[4_525_050], description="Succeeded donations, in integer cents"
    )
    total_mentors: int = Field(examples=[75])
    pending_reports: int = Field(examples=[4])


class DashboardEnvelope(CamelModel):
    stats: DashboardStats


class Analytics(CamelModel):
    period: Period
    new_users: int = Field(examples=[40])
    new_videos: int = Field(examples=[120])
    new_donations: int = Field(examples=[55], description="Succeeded donations")
    donation_total: MoneyOut = Field(examples=[1830.5], description="In dollars")


class AnalyticsEnvelope(CamelModel):
    analytics: Analytics


class UserCounts(CamelModel):
    videos: int = Field(examples=[3])
    funding_requests: int = Field(examples=[1])
    funding_donations: int = Field(examples=[0])


class AdminUserOut(UserOut):
    is_banned: bool = Field(examples=[False])
    counts: UserCounts = Field(alias="_count", serialization_alias="_count")


class AdminUsersEnvelope(CamelModel):
    users: list[AdminUserOut]
    total: int
    page: int
    limit: int
    pagination: Pagination


class AdminUserUpdate(CamelModel):
    role: Literal["woman", "sponsor", "admin"] | None = None
    email_verified: bool | None = None
    is_banned: bool | None = None
    note: Note = None


class AdminUserEnvelope(CamelModel):
    user: AdminUserOut


class AdminVideosEnvelope(CamelModel):
    videos: list[VideoOut]
    total: int
    page: int
    limit: int
    pagination: Pagination


class AdminRequestsEnvelope(CamelModel):
    requests: list[FundingRequestOut]
    total: int
    page: int
    limit: int
    pagination: Pagination


class AdminRequestUpdate(CamelModel):
    status: Literal["active", "funded", "expired", "cancelled"] = Field(examples=["cancelled"])
    note: Note = None


class AdminRequestEnvelope(CamelModel):
    request: FundingRequestOut


class AdminReportsEnvelope(CamelModel):
    reports: list[ReportOut]
    total: int
    page: int
    limit: int
    pagination: Pagination

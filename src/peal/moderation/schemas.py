"""Reports, the moderation queue, stats and the audit log as the API shows them."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field

from peal.core.schemas import CamelModel, Pagination, UTCTimestamp
from peal.core.text import bounded_text

DESCRIPTION_MAX = 2000
NOTE_MAX = 2000

ReportReason = Literal[
    "spam", "harassment", "hate", "scam", "nudity", "violence", "misinformation", "other"
]
ReviewActionName = Literal["dismiss", "warn", "remove_content", "ban_user"]
ReportStatusName = Literal["pending", "dismissed", "actioned"]

# Bounded raw (before HTML stripping) and again once cleaned.
Description = Annotated[
    str | None,
    Field(default=None, max_length=DESCRIPTION_MAX * 4, examples=["He keeps asking for money"]),
    bounded_text(DESCRIPTION_MAX, required=False),
]
Note = Annotated[
    str | None,
    Field(default=None, max_length=NOTE_MAX * 4, examples=["Scam: asks donors to pay off-site"]),
    bounded_text(NOTE_MAX, required=False),
]


ContentTypeName = Literal["user", "video", "comment", "request", "story", "message", "event"]


class ReportCreate(CamelModel):
    content_type: ContentTypeName = Field(
        description="user, video, comment, request, story, message (participants only) or event",
        examples=["video"],
    )
    content_id: uuid.UUID
    reason: ReportReason = Field(examples=["scam"])
    description: Description = None


class ReviewBody(CamelModel):
    action: ReviewActionName = Field(examples=["remove_content"])
    note: Note = None


class ReportOut(CamelModel):
    """A ModerationReport. `reporterId` is shown only to the reporter herself and to admins;
    the reported person never reads reports."""

    id: uuid.UUID
    reporter_id: uuid.UUID
    content_type: str = Field(examples=["video"])
    content_id: uuid.UUID
    reason: str = Field(examples=["scam"])
    description: str | None
    status: str = Field(examples=["pending"])
    reviewed_by: uuid.UUID | None
    reviewed_at: UTCTimestamp | None
    action: str | None = Field(examples=[None])
    created_at: UTCTimestamp


class QueuedReportOut(ReportOut):
    """A pending report in the admin queue, with the weight of its content's reports."""

    content_author_id: uuid.UUID
    reporter_count: int = Field(examples=[3], description="Distinct reporters of the content")
    weight: float = Field(examples=[52.5], description="The queue's order (see the route)")


class ReportEnvelope(CamelModel):
    report: ReportOut


class ReportsEnvelope(CamelModel):
    reports: list[ReportOut]
    pagination: Pagination | None = None


class QueueEnvelope(CamelModel):
    reports: list[QueuedReportOut]
    pagination: Pagination


class ModerationStats(CamelModel):
    pending: int = Field(examples=[4])
    reviewed: int = Field(examples=[10], description="dismissed + actioned")
    dismissed: int = Field(examples=[6])
    actioned: int = Field(examples=[4])


class StatsEnvelope(CamelModel):
    stats: ModerationStats


class AuditEntryOut(CamelModel):
    id: uuid.UUID
    actor_id: uuid.UUID | None = Field(description="The admin; null for automatic actions")
    action: str = Field(examples=["remove_content"])
    target_type: str = Field(examples=["video"])
    target_id: uuid.UUID | None
    note: str | None
    created_at: UTCTimestamp

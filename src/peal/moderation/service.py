"""The rules of reports: filing one, auto-hide, the weighted queue, closing, stats, audit.

The queue's weight of a reported piece of content (all its open reports share it):

    weight = 10 * distinct reporters + 5 * floor(log2(1 + reach)) + hours since its oldest
             open report

so one more reporter counts as much as ten hours of waiting, and content seen by 1,000 people
(reach ≈ 2^10) outranks content seen by one by 50 points. Reach is the content's audience when
reported: views of a video (or of a comment's video), a person's followers, a request's
supporters, a story's celebrations, an event's attendees. The order is computed in SQL (the
current time only shifts every weight alike, so ordering by `10 r + 5 s - oldest_hours` is
the same order), a fixed number of queries whatever the page.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import case, distinct, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from peal.core.errors import BadRequest, Conflict, NotFound, ValidationFailed
from peal.core.export import jsonable
from peal.core.moderation import ModerationStatus
from peal.core.sql import NO_SYNC
from peal.core.sqltime import epoch_seconds
from peal.db import utcnow
from peal.moderation.content import CONTENT_TYPES, ContentType
from peal.moderation.models import AuditLogEntry, ModerationReport
from peal.moderation.schemas import (
    AuditEntryOut,
    ModerationStats,
    QueuedReportOut,
    ReportCreate,
    ReportOut,
)
from peal.notifications.service import notify
from peal.users.models import User

WEIGHT_PER_REPORTER = 10
WEIGHT_PER_REACH_DOUBLING = 5
WEIGHT_PER_HOUR = 1


class ReportStatus(StrEnum):
    PENDING = "pending"
    DISMISSED = "dismissed"
    ACTIONED = "actioned"


class ReviewAction(StrEnum):
    DISMISS = "dismiss"
    WARN = "warn"
    REMOVE_CONTENT = "remove_content"
    BAN_USER = "ban_user"


def content_type(name: str) -> ContentType:
    kind = CONTENT_TYPES.get(name)
    if kind is None:
        raise ValidationFailed("contentType", f"must be one of: {', '.join(CONTENT_TYPES)}")
    return kind


def reach_score(reach: int) -> int:
    """floor(log2(1 + reach)), in integers."""
    return (max(reach, 0) + 1).bit_length() - 1


def present_report(report: ModerationReport) -> ReportOut:
    return ReportOut(
        id=report.id,
        reporter_id=report.reporter_id,
        content_type=report.content_type,
        content_id=report.content_id,
        reason=report.reason,
        description=report.description,
        status=report.status,
        reviewed_by=report.reviewed_by,
        reviewed_at=report.reviewed_at,
        action=report.action,
        created_at=report.created_at,
    )


# --- the audit log ------------------------------------------------------------------------


async def record(
    session: AsyncSession,
    actor_id: uuid.UUID | None,
    action: str,
    target_type: str,
    target_id: uuid.UUID | None,
    note: str | None = None,
) -> None:
    """Write one line of the audit log (in the action's own transaction)."""
    session.add(
        AuditLogEntry(
            actor_id=actor_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            note=note,
        )
    )
    await session.flush()


async def list_audit_log(
    session: AsyncSession, *, limit: int, offset: int
) -> tuple[list[AuditEntryOut], int]:
    """Newest first: two queries."""
    total = (await session.execute(select(func.count()).select_from(AuditLogEntry))).scalar_one()
    rows = await session.scalars(
        select(AuditLogEntry)
        .order_by(AuditLogEntry.created_at.desc(), AuditLogEntry.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [AuditEntryOut.model_validate(entry) for entry in rows], total


# --- filing a report ----------------------------------------------------------------------


async def _serialise_reports_of(
    session: AsyncSession, content_type_name: str, content_id: uuid.UUID
) -> None:
    """One report of a given content at a time (PostgreSQL advisory lock until commit), so
    the distinct-reporter count that triggers auto-hide is never read by two at once.
    SQLite runs one writer at a time anyway."""
    if session.get_bind().dialect.name != "postgresql":
        return
    key = int.from_bytes(uuid.uuid5(content_id, content_type_name).bytes[:8], signed=True)
    await session.execute(select(func.pg_advisory_xact_lock(key)))


async def _open_reporters(
    session: AsyncSession, content_type_name: str, content_id: uuid.UUID
) -> int:
    return (
        await session.execute(
            select(func.count(distinct(ModerationReport.reporter_id))).where(
                ModerationReport.content_type == content_type_name,
                ModerationReport.content_id == content_id,
                ModerationReport.status == ReportStatus.PENDING,
            )
        )
    ).scalar_one()


async def file_report(
    session: AsyncSession, reporter: User, body: ReportCreate, *, auto_hide_threshold: int
) -> ModerationReport:
    """File a report on content the reporter can see (404 otherwise, as reading it would be).

    A second open report of the same content by the same person is 409 `already_reported`
    (its id in `details`). When the distinct reporters with open reports reach
    `auto_hide_threshold`, the content is hidden until reviewed and its author is told it is
    under review (never by whom).
    """
    kind = content_type(body.content_type)
    await _serialise_reports_of(session, body.content_type, body.content_id)
    found = await kind.find(session, body.content_id, reporter)
    if found.author_id == reporter.id:
        raise BadRequest("You cannot report your own content", code="cannot_report_own")
    existing = await session.scalar(
        select(ModerationReport.id).where(
            ModerationReport.reporter_id == reporter.id,
            ModerationReport.content_type == body.content_type,
            ModerationReport.content_id == body.content_id,
            ModerationReport.status == ReportStatus.PENDING,
        )
    )
    if existing is not None:
        raise Conflict(
            "You already reported this; it is waiting for review",
            code="already_reported",
            details={"reportId": str(existing)},
        )
    report = ModerationReport(
        id=uuid.uuid4(),
        reporter_id=reporter.id,
        content_type=body.content_type,
        content_id=body.content_id,
        content_author_id=found.author_id,
        reach_score=reach_score(found.reach),
        reason=body.reason,
        description=body.description,
        status=ReportStatus.PENDING,
    )
    session.add(report)
    await session.flush()
    if kind.set_status is not None:
        reporters = await _open_reporters(session, body.content_type, body.content_id)
        if reporters >= auto_hide_threshold and await kind.set_status(
            session, body.content_id, ModerationStatus.HIDDEN
        ):
            await notify(
                session,
                found.author_id,
                "content_under_review",
                "Under review",
                f"Some people reported your {kind.noun}. It is hidden while our team reviews it.",
                {"contentType": body.content_type, "contentId": str(body.content_id)},
            )
            await record(session, None, "auto_hide", body.content_type, body.content_id)
    return report


async def list_reports_of(
    session: AsyncSession, reporter: User, *, limit: int, offset: int
) -> tuple[list[ReportOut], int]:
    """The reports this person filed, newest first: two queries."""
    mine = ModerationReport.reporter_id == reporter.id
    total = (
        await session.execute(select(func.count()).select_from(ModerationReport).where(mine))
    ).scalar_one()
    rows = await session.scalars(
        select(ModerationReport)
        .where(mine)
        .order_by(ModerationReport.created_at.desc(), ModerationReport.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [present_report(report) for report in rows], total


# --- the admin side -------------------------------------------------------------------------


async def list_reports(
    session: AsyncSession, status: str | None, *, limit: int, offset: int
) -> tuple[list[ReportOut], int]:
    """Every report (or those in `status`), newest first: two queries."""
    conditions = [ModerationReport.status == status] if status else []
    total = (
        await session.execute(select(func.count()).select_from(ModerationReport).where(*conditions))
    ).scalar_one()
    rows = await session.scalars(
        select(ModerationReport)
        .where(*conditions)
        .order_by(ModerationReport.created_at.desc(), ModerationReport.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [present_report(report) for report in rows], total


@dataclass(frozen=True)
class Queue:
    reports: list[QueuedReportOut]
    total: int


async def pending_queue(session: AsyncSession, *, limit: int, offset: int) -> Queue:
    """Pending reports, heaviest content first (see the module's formula): two queries."""
    pending = ModerationReport.status == ReportStatus.PENDING
    groups = (
        select(
            ModerationReport.content_type.label("content_type"),
            ModerationReport.content_id.label("content_id"),
            func.count(distinct(ModerationReport.reporter_id)).label("reporters"),
            func.max(ModerationReport.reach_score).label("reach_score"),
            func.min(ModerationReport.created_at).label("oldest"),
        )
        .where(pending)
        .group_by(ModerationReport.content_type, ModerationReport.content_id)
        .subquery("groups")
    )
    dialect = session.get_bind().dialect.name
    order_key = (
        groups.c.reporters * WEIGHT_PER_REPORTER
        + groups.c.reach_score * WEIGHT_PER_REACH_DOUBLING
        - epoch_seconds(groups.c.oldest, dialect) / literal(3600.0) * WEIGHT_PER_HOUR
    )
    total = (
        await session.execute(select(func.count()).select_from(ModerationReport).where(pending))
    ).scalar_one()
    rows = await session.execute(
        select(ModerationReport, groups.c.reporters, groups.c.reach_score, groups.c.oldest)
        .join(
            groups,
            (groups.c.content_type == ModerationReport.content_type)
            & (groups.c.content_id == ModerationReport.content_id),
        )
        .where(pending)
        .order_by(
            order_key.desc(),
            ModerationReport.content_type,
            ModerationReport.content_id,
            ModerationReport.created_at.asc(),
            ModerationReport.id.asc(),
        )
        .limit(limit)
        .offset(offset)
    )
    now = utcnow()
    out = []
    for report, reporters, score, oldest in rows:
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=now.tzinfo)
        hours = max((now - oldest).total_seconds(), 0.0) / 3600
        weight = (
            reporters * WEIGHT_PER_REPORTER
            + score * WEIGHT_PER_REACH_DOUBLING
            + hours * WEIGHT_PER_HOUR
        )
        out.append(
            QueuedReportOut(
                **present_report(report).model_dump(),
                content_author_id=report.content_author_id,
                reporter_count=reporters,
                weight=round(weight, 2),
            )
        )
    return Queue(out, total)


async def get_pending_report(session: AsyncSession, report_id: uuid.UUID) -> ModerationReport:
    """A report to review, locked: 404 if none, 409 `already_reviewed` if closed."""
    report = await session.scalar(
        select(ModerationReport)
        .where(ModerationReport.id == report_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if report is None:
        raise NotFound("Report not found", code="report_not_found")
    if report.status != ReportStatus.PENDING:
        raise Conflict("This report was already reviewed", code="already_reviewed")
    return report


async def close_reports(
    session: AsyncSession,
    report: ModerationReport,
    *,
    status: ReportStatus,
    action: ReviewAction,
    reviewer: User,
    note: str | None,
) -> int:
    """Close every open report of the same content together; how many were closed."""
    now = utcnow()
    closed = await session.scalars(
        update(ModerationReport)
        .where(
            ModerationReport.content_type == report.content_type,
            ModerationReport.content_id == report.content_id,
            ModerationReport.status == ReportStatus.PENDING,
        )
        .values(
            status=status,
            action=action,
            review_note=note,
            reviewed_by=reviewer.id,
            reviewed_at=now,
            updated_at=now,
        )
        .returning(ModerationReport.id),
        execution_options=NO_SYNC,
    )
    count = len(closed.all())
    await session.refresh(report)
    return count


async def stats(session: AsyncSession) -> ModerationStats:
    """Counts by status in one aggregate query."""

    def count_of(status: ReportStatus) -> Any:
        return func.coalesce(func.sum(case((ModerationReport.status == status, 1), else_=0)), 0)

    row = (
        await session.execute(
            select(
                count_of(ReportStatus.PENDING),
                count_of(ReportStatus.DISMISSED),
                count_of(ReportStatus.ACTIONED),
            )
        )
    ).one()
    pending, dismissed, actioned = (int(value) for value in row)
    return ModerationStats(
        pending=pending,
        reviewed=dismissed + actioned,
        dismissed=dismissed,
        actioned=actioned,
    )


async def pending_count(session: AsyncSession) -> int:
    return (
        await session.execute(
            select(func.count())
            .select_from(ModerationReport)
            .where(ModerationReport.status == ReportStatus.PENDING)
        )
    ).scalar_one()


# --- data export ----------------------------------------------------------------------------


async def export_user(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    """The reports this person filed, oldest first: what she reported, why, and what came of
    it. Nothing of anyone else: not who reviewed it, nor the admin's note, nor any report
    about her or her content (its reporters stay unknown to her). One query."""
    rows = await session.scalars(
        select(ModerationReport)
        .where(ModerationReport.reporter_id == user_id)
        .order_by(ModerationReport.created_at, ModerationReport.id)
    )
    return {
        "reports": [
            {
                "id": str(report.id),
                "contentType": report.content_type,
                "contentId": str(report.content_id),
                "reason": report.reason,
                "description": report.description,
                "status": report.status,
                "action": report.action,
                "createdAt": jsonable(report.created_at),
                "reviewedAt": jsonable(report.reviewed_at),
            }
            for report in rows
        ]
    }

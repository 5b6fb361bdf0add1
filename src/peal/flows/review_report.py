"""An admin's review of a report: close every open report of the content, act on it.

- `dismiss`: the content was fine; if auto-hidden, it shows again.
- `warn`: the content stays (shown again if auto-hidden); its author is told.
- `remove_content`: soft removal (404 to everyone but the author and admins, gone from
  every list; counters and money records stay); the author is told why. A person cannot
  be "removed": for a `user` report this is 409, ban instead.
- `ban_user`: the author's account goes through `ban_account`; the reported content itself
  is removed as well, so it stays gone if the ban is lifted.

No message to the author names a reporter; the reason and the admin's note are all she reads.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from peal.config import Settings
from peal.core.errors import Conflict
from peal.core.moderation import ModerationStatus
from peal.flows.ban_account import ban_account
from peal.moderation import service as moderation
from peal.moderation.content import CONTENT_TYPES
from peal.moderation.models import ModerationReport
from peal.moderation.service import ReportStatus, ReviewAction
from peal.notifications.service import notify
from peal.users.models import User


async def review_report(
    session: AsyncSession,
    settings: Settings,
    report_id: uuid.UUID,
    admin: User,
    action: ReviewAction,
    note: str | None,
) -> ModerationReport:
    report = await moderation.get_pending_report(session, report_id)
    kind = CONTENT_TYPES[report.content_type]
    author_id = report.content_author_id
    data = {"contentType": report.content_type, "contentId": str(report.content_id)}
    if action in (ReviewAction.DISMISS, ReviewAction.WARN):
        if kind.set_status is not None:
            await kind.set_status(session, report.content_id, None)
        if action == ReviewAction.WARN:
            await notify(
                session,
                author_id,
                "moderation_warning",
                "A warning from the PEAL team",
                note or "Please keep what you post within the community guidelines.",
                data,
            )
    elif action == ReviewAction.REMOVE_CONTENT:
        if kind.set_status is None:
            raise Conflict(
                "A person cannot be removed: ban the account instead", code="not_removable"
            )
        await kind.set_status(session, report.content_id, ModerationStatus.REMOVED)
        await notify(
            session,
            author_id,
            "content_removed",
            "Content removed",
            f"We removed your {kind.noun} (reason: {report.reason})."
            + (f" {note}" if note else ""),
            data,
        )
    else:
        await ban_account(session, settings, author_id, admin, note)
        if kind.set_status is not None:
            await kind.set_status(session, report.content_id, ModerationStatus.REMOVED)
    status = ReportStatus.DISMISSED if action == ReviewAction.DISMISS else ReportStatus.ACTIONED
    await moderation.close_reports(
        session, report, status=status, action=action, reviewer=admin, note=note
    )
    await moderation.record(
        session, admin.id, str(action), report.content_type, report.content_id, note
    )
    return report

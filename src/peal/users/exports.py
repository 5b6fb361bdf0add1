"""Data export requests (GDPR): at most one a day, a signed download link valid 7 days.

The ZIP itself is built by a job (`safety.tasks.build_export`, through `flows.export_account`);
this module keeps the request's record and the rules around it.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from peal.core.errors import Forbidden, NotFound, RateLimited
from peal.core.security import constant_time_equals, sign
from peal.db import utcnow
from peal.users.models import DataExport, ExportStatus, User

EXPORT_INTERVAL = timedelta(days=1)
LINK_LIFETIME = timedelta(days=7)
DOWNLOAD_ROUTE = "/api/exports/{export_id}/download"


async def request_export(session: AsyncSession, user: User) -> DataExport:
    """A new pending export, unless one was asked for within the last day (429). The user's
    row is locked first, so two requests at once cannot both pass the check."""
    await session.execute(select(User.id).where(User.id == user.id).with_for_update())
    now = utcnow()
    last = await session.scalar(
        select(DataExport.requested_at)
        .where(DataExport.user_id == user.id, DataExport.requested_at > now - EXPORT_INTERVAL)
        .order_by(DataExport.requested_at.desc())
        .limit(1)
    )
    if last is not None:
        wait = math.ceil((last + EXPORT_INTERVAL - now).total_seconds())
        raise RateLimited(
            "You can ask for one export a day",
            code="export_rate_limited",
            headers={"Retry-After": str(max(wait, 1))},
        )
    export = DataExport(
        id=uuid.uuid4(), user_id=user.id, status=ExportStatus.PENDING, requested_at=now
    )
    session.add(export)
    await session.flush()
    return export


def current_status(export: DataExport, now: datetime) -> str:
    if export.status == ExportStatus.READY and export.expires_at and export.expires_at <= now:
        return ExportStatus.EXPIRED
    return export.status


async def latest_export(session: AsyncSession, user: User) -> DataExport:
    export = await session.scalar(
        select(DataExport)
        .where(DataExport.user_id == user.id)
        .order_by(DataExport.requested_at.desc())
        .limit(1)
    )
    if export is None:
        raise NotFound("You have not asked for an export", code="export_not_found")
    return export


async def claim_pending(session: AsyncSession, export_id: uuid.UUID) -> DataExport | None:
    """The export if it still waits to be built (a job that runs twice does nothing)."""
    export = await session.get(DataExport, export_id)
    return export if export is not None and export.status == ExportStatus.PENDING else None


async def mark_ready(session: AsyncSession, export_id: uuid.UUID, key: str) -> DataExport:
    now = utcnow()
    await session.execute(
        update(DataExport)
        .where(DataExport.id == export_id)
        .values(
            status=ExportStatus.READY,
            ready_at=now,
            expires_at=now + LINK_LIFETIME,
            storage_key=key,
        )
    )
    export = await session.get(DataExport, export_id, populate_existing=True)
    assert export is not None
    return export


async def mark_failed(session: AsyncSession, export_id: uuid.UUID) -> None:
    await session.execute(
        update(DataExport).where(DataExport.id == export_id).values(status=ExportStatus.FAILED)
    )


def _signature(secret: str, export_id: uuid.UUID, expires: int) -> str:
    return sign(secret, f"data-export:{export_id}:{expires}")


def download_link(public_url: str, secret: str, export: DataExport) -> str | None:
    """The signed link of a ready export, valid until it expires; None otherwise."""
    if current_status(export, utcnow()) != ExportStatus.READY or export.expires_at is None:
        return None
    expires = int(export.expires_at.timestamp())
    query = urlencode({"expires": expires, "signature": _signature(secret, export.id, expires)})
    path = DOWNLOAD_ROUTE.format(export_id=export.id)
    return f"{public_url.rstrip('/')}{path}?{query}"


async def export_for_download(
    session: AsyncSession, secret: str, export_id: uuid.UUID, expires: int, signature: str
) -> DataExport:
    """The export a signed link names: 403 for a wrong signature, 404 once expired or gone."""
    if not constant_time_equals(signature, _signature(secret, export_id, expires)):
        raise Forbidden("Invalid download link", code="invalid_signature")
    export = await session.get(DataExport, export_id)
    now = utcnow()
    if (
        export is None
        or export.storage_key is None
        or current_status(export, now) != ExportStatus.READY
        or expires <= now.timestamp()
    ):
        raise NotFound("This export is no longer available", code="export_expired")
    return export

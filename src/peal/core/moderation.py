"""The moderation flag every reportable content table carries, and its one SQL condition.

`moderation_status` is NULL for live content, `hidden` while enough reports wait for review
(auto-hide) and `removed` after an admin's `remove_content`. Both keep the row (money records
and counters stay); the content is 404 to everyone but its author and admins, and gone from
every list of everyone else.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, String, or_, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from peal.core.sql import NO_SYNC


class ModerationStatus(StrEnum):
    HIDDEN = "hidden"
    REMOVED = "removed"


class Moderated:
    """Mixin of a content table that can be hidden or removed by moderation."""

    moderation_status: Mapped[str | None] = mapped_column(String(20), default=None)


def not_moderated(
    status: Any, author_id: Any, viewer_id: uuid.UUID | None, *, admin: bool
) -> ColumnElement[bool]:
    """Live content, or hidden/removed content seen by its own author or an admin."""
    if admin:
        return true()
    if viewer_id is None:
        return status.is_(None)  # type: ignore[no-any-return]
    return or_(status.is_(None), author_id == viewer_id)


# The moves moderation makes: hide only live content (so the author is told once), remove
# live or hidden content, restore only what is hidden (a removal is final).
_MOVES_FROM: dict[ModerationStatus | None, tuple[str | None, ...]] = {
    ModerationStatus.HIDDEN: (None,),
    ModerationStatus.REMOVED: (None, ModerationStatus.HIDDEN),
    None: (ModerationStatus.HIDDEN,),
}


async def set_moderation_status(
    session: AsyncSession, model: Any, content_id: uuid.UUID, status: ModerationStatus | None
) -> bool:
    """Move one row's flag with a guarded UPDATE (see `_MOVES_FROM`); True when it moved."""
    sources = _MOVES_FROM[status]
    states = [state for state in sources if state is not None]
    allowed = [model.moderation_status.in_(states)] if states else []
    if None in sources:
        allowed.append(model.moderation_status.is_(None))
    values: dict[str, Any] = {"moderation_status": status}
    if hasattr(model, "updated_at"):
        values["updated_at"] = model.updated_at  # a moderation decision is not an edit
    result = await session.execute(
        update(model)
        .where(model.id == content_id, or_(*allowed))
        .values(**values)
        .returning(model.id),
        execution_options=NO_SYNC,
    )
    return result.first() is not None

"""The notification service every domain calls (`notify`, `notify_many`), and the inbox rules.

What each setting of the recipient (API.md "Settings") does to a notification:

- `mentorMessagesNotifications` off: `message`, `mentor_request`, `mentor_accepted` and
  `mentor_rejected` are not stored.
- `supporterUpdatesNotifications` off: `donation` and `request_funded` are not stored.
- `emailNotifications` off: no email copy, even when the caller asks for one (`email=True`).
- `pushNotifications` off: nothing here. It is for the device push / real-time channel; the
  in-app list is the user's record and keeps whatever the category toggles let through.

Other types (`like`, `comment`, `reply`, `follow`, `celebration`, `video_ready`,
`video_upload`) have no toggle and are always stored. Nobody is notified of their own action
(pass `actor_id`), nor of the doing of someone they blocked or muted or who blocked them.
An email copy goes only to an active account with a verified address.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Select,
    Uuid,
    and_,
    bindparam,
    case,
    delete,
    false,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from peal.core.errors import NotFound
from peal.core.export import row_dict
from peal.core.pagination import cut_page, keyset_page
from peal.core.realtime import notifications_after_commit
from peal.core.schemas import Cursor
from peal.core.sql import IDS, NO_SYNC, batches, rowcount
from peal.db import utcnow
from peal.email.service import queue_email
from peal.notifications.models import Notification
from peal.notifications.schemas import NotificationOut
from peal.settings.models import UserSettings
from peal.settings.service import get_settings_for_many
from peal.users.models import User
from peal.users.policy import not_blocked, not_muted

MENTOR_TYPES = frozenset(
    {"message", "message_request", "mentor_request", "mentor_accepted", "mentor_rejected"}
)
SUPPORTER_TYPES = frozenset({"donation", "request_funded"})
# The types worth an email copy (pass `email=True` for these); likes, comments, follows and
# the like stay in-app only.
EMAIL_WORTHY_TYPES = frozenset(
    {"donation", "request_funded", "request_expired", "mentor_request", "mentor_accepted"}
)
TITLE_MAX = 255
# What a notification says instead of the words of content moderation took down.
WITHDRAWN_MESSAGE = "This message was removed."
WITHDRAWN_COMMENT = "This comment was removed."
# Recipients per INSERT in a fan-out: keeps each statement well under the bind-parameter limits
# of PostgreSQL (32767) and SQLite (32766).
FAN_OUT_BATCH = 1000


def _jsonable(data: dict[str, Any] | None) -> dict[str, Any]:
    """`data` as JSON will store it: ids and times a caller passes become strings."""
    result: dict[str, Any] = json.loads(json.dumps(data or {}, default=str))
    return result


def category_enabled(settings: UserSettings, type: str) -> bool:
    """Whether the recipient's category toggles let a notification of `type` through."""
    if type in MENTOR_TYPES:
        return settings.mentor_messages_notifications
    if type in SUPPORTER_TYPES:
        return settings.supporter_updates_notifications
    return True


async def notify(
    session: AsyncSession,
    recipient_id: uuid.UUID,
    type: str,
    title: str,
    message: str,
    data: dict[str, Any] | None = None,
    *,
    actor_id: uuid.UUID | None = None,
    email: bool = False,
    recipient_settings: UserSettings | None = None,
) -> Notification | None:
    """Notify `recipient_id`; None when it is the actor's own action or their settings say no.

    With `email=True` (see EMAIL_WORTHY_TYPES) a copy is emailed after commit, in the
    recipient's language, if they keep email notifications on. A caller that reads the
    recipient's settings anyway (for an email of its own) passes them: one query less.
    """
    if actor_id is not None and actor_id == recipient_id:
        return None
    if actor_id is not None and await _shut_out(session, [recipient_id], actor_id):
        return None
    settings = recipient_settings
    if settings is None:
        settings = (await get_settings_for_many(session, [recipient_id]))[recipient_id]
    if not category_enabled(settings, type):
        return None
    notification = Notification(
        id=uuid.uuid4(),
        user_id=recipient_id,
        type=type,
        title=title[:TITLE_MAX],
        message=message,
        data=_jsonable(data),
        is_read=False,
    )
    session.add(notification)
    await session.flush()
    _publish_after_commit(session, [notification])
    if email and settings.email_notifications:
        await _email_copy(session, notification, settings.language)
    return notification


@functools.cache
def _shut_out_statement() -> Select[uuid.UUID]:
    """Built once (every like, comment and donation notifies someone): its values are bound."""
    person = aliased(User)
    actor = bindparam("actor_id", type_=Uuid())
    return select(person.id).where(
        person.id.in_(IDS),
        ~and_(not_blocked(person.id, actor), not_muted(person.id, actor)),
    )


async def _shut_out(
    session: AsyncSession, recipient_ids: Sequence[uuid.UUID], actor_id: uuid.UUID
) -> set[uuid.UUID]:
    """Recipients who must not hear of `actor_id`: a block either way, or a mute. One query."""
    rows = await session.scalars(
        _shut_out_statement(), {"ids": list(recipient_ids), "actor_id": actor_id}
    )
    return set(rows.all())


async def _email_copy(session: AsyncSession, notification: Notification, language: str) -> None:
    recipient = await session.get(User, notification.user_id)
    if recipient is None or not recipient.is_active or not recipient.email_verified:
        return  # an unverified address may not be its owner's: never mail it notifications
    queue_email(
        session,
        to=recipient.email,
        template="notification",
        language=language,
        context={
            "name": recipient.name,
            "type": notification.type,
            "title": notification.title,
            "message": notification.message,
        },
    )


async def notify_many(
    session: AsyncSession,
    recipient_ids: Iterable[uuid.UUID],
    type: str,
    title: str,
    message: str,
    data: dict[str, Any] | None = None,
    *,
    actor_id: uuid.UUID | None = None,
) -> int:
    """The same notification to many (a fan-out to followers); returns how many were stored.

    Per batch of recipients: one query for those who blocked or muted the actor, one for their
    settings, one multi-row INSERT. No email.
    """
    ids = [rid for rid in dict.fromkeys(recipient_ids) if rid != actor_id]
    created_at = utcnow()
    payload = _jsonable(data)
    stored = 0
    for batch in batches(ids, FAN_OUT_BATCH):
        if actor_id is not None:
            shut_out = await _shut_out(session, batch, actor_id)
            batch = [rid for rid in batch if rid not in shut_out]
        settings = await get_settings_for_many(session, batch)
        rows = [
            {
                "id": uuid.uuid4(),
                "user_id": rid,
                "type": type,
                "title": title[:TITLE_MAX],
                "message": message,
                "data": payload,
                "is_read": False,
                "created_at": created_at,
            }
            for rid in batch
            if category_enabled(settings[rid], type)
        ]
        if rows:
            await session.execute(insert(Notification).values(rows))
            stored += len(rows)
            _publish_after_commit(session, [Notification(**row) for row in rows])
    return stored


def _publish_after_commit(session: AsyncSession, notifications: list[Notification]) -> None:
    """Every stored notification reaches its recipient's sockets and SSE streams, after the
    commit (never for a rolled-back write)."""
    notifications_after_commit(
        session,
        [(item.user_id, notification_payload(item)) for item in notifications],
    )


def notification_payload(notification: Notification) -> dict[str, Any]:
    """The Notification as the API shows it (JSON-ready, camelCase)."""
    return NotificationOut.model_validate(notification).model_dump(mode="json", by_alias=True)


# How many missed notifications a reconnecting stream gets back at most (newest kept).
REPLAY_LIMIT = 100


async def list_since(
    session: AsyncSession, user_id: uuid.UUID, last_seen_id: uuid.UUID, *, limit: int = REPLAY_LIMIT
) -> list[Notification]:
    """`user_id`'s notifications created after `last_seen_id` (one of theirs), oldest first.

    For `Last-Event-ID`: an id that is not theirs (or gone) replays nothing. One query.
    """
    seen = (
        select(Notification.created_at, Notification.id)
        .where(Notification.id == last_seen_id, Notification.user_id == user_id)
        .subquery()
    )
    query = (
        select(Notification)
        .join(
            seen,
            tuple_(Notification.created_at, Notification.id) > tuple_(seen.c.created_at, seen.c.id),
        )
        .where(Notification.user_id == user_id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit)
    )
    items = list((await session.scalars(query)).all())
    items.reverse()
    return items


async def count_unread(session: AsyncSession, user_id: uuid.UUID) -> int:
    result = await session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.is_read == false())
    )
    return result or 0


async def _counts(session: AsyncSession, user_id: uuid.UUID) -> tuple[int, int]:
    """(all, unread) notifications of `user_id`, in one query."""
    unread = func.coalesce(func.sum(case((Notification.is_read == false(), 1), else_=0)), 0)
    row = (
        await session.execute(select(func.count(), unread).where(Notification.user_id == user_id))
    ).one()
    return int(row[0]), int(row[1])


async def list_notifications(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    unread_only: bool,
    limit: int,
    offset: int,
    cursor: Cursor | None,
) -> tuple[list[Notification], int, int, str | None]:
    """A page of the inbox, newest first: (items, total, unread count, next cursor).

    After a `cursor` the page starts past it (keyset: no OFFSET scan); otherwise at `offset`.
    Two queries whatever the page size.
    """
    total, unread = await _counts(session, user_id)
    query = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.is_read == false())
    query = keyset_page(
        query, Notification.created_at, Notification.id, limit=limit, offset=offset, cursor=cursor
    )
    items, next_cursor = cut_page(
        (await session.scalars(query)).all(), limit, lambda item: (item.created_at, item.id)
    )
    return items, (unread if unread_only else total), unread, next_cursor


async def mark_read(
    session: AsyncSession, user_id: uuid.UUID, notification_id: uuid.UUID
) -> Notification:
    """Mark one of `user_id`'s notifications read; another user's is NotFound."""
    notification = await session.scalar(
        select(Notification).where(
            Notification.id == notification_id, Notification.user_id == user_id
        )
    )
    if notification is None:
        raise NotFound("Notification not found")
    if not notification.is_read:
        notification.is_read = True
        await session.flush()
    return notification


async def mark_all_read(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Mark every unread notification of `user_id` read; returns how many changed."""
    result = await session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.is_read == false())
        .values(is_read=True),
        execution_options=NO_SYNC,
    )
    return rowcount(result)


async def delete_notification(
    session: AsyncSession, user_id: uuid.UUID, notification_id: uuid.UUID
) -> None:
    """Delete one of `user_id`'s notifications; another user's is NotFound."""
    result = await session.execute(
        delete(Notification).where(
            Notification.id == notification_id, Notification.user_id == user_id
        ),
        execution_options=NO_SYNC,
    )
    if rowcount(result) == 0:
        raise NotFound("Notification not found")


async def withdraw_previews(
    session: AsyncSession,
    user_ids: Collection[uuid.UUID],
    key: str,
    values: Sequence[uuid.UUID],
    preview: str,
) -> None:
    """Moderation (or a deletion) took down the content whose id is `data[key]`, one of
    `values`: the notifications of `user_ids` (those it was sent to) that quote it keep their
    title and link but say `preview` instead of its words. Looked up per recipient, on the
    inbox index, not across every notification. At most FAN_OUT_BATCH of each."""
    if not user_ids or not values:
        return
    await session.execute(
        update(Notification)
        .where(
            Notification.user_id.in_(user_ids),
            Notification.data[key].as_string().in_([str(value) for value in values]),
        )
        .values(message=preview),
        execution_options=NO_SYNC,
    )


async def purge_user_notifications(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Drop a user's whole inbox (account deletion)."""
    await session.execute(
        delete(Notification).where(Notification.user_id == user_id),
        execution_options=NO_SYNC,
    )


# --- account deletion and export -----------------------------------------------------------

purge_user = purge_user_notifications


async def export_user(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    """Her inbox as she sees it in the app."""
    rows = await session.scalars(
        select(Notification)
        .where(Notification.user_id == user_id)
        .order_by(Notification.created_at, Notification.id)
    )
    return {"notifications": [row_dict(row, exclude={"user_id"}) for row in rows.all()]}

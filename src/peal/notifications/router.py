"""HTTP routes of the notifications domain: parse, call the service, shape the answer.

Every route acts on the caller's own inbox: another user's notification answers 404.
PATCH is accepted wherever PUT is (the web client uses both).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from peal.auth.dependencies import CurrentUser
from peal.core.routing import path_id, put_and_patch
from peal.core.schemas import CursorParams, cursor_params, error_responses
from peal.deps import SessionDep
from peal.notifications import service
from peal.notifications.schemas import (
    NotificationEnvelope,
    NotificationOut,
    NotificationPage,
    ReadAllOut,
)

router = APIRouter(
    prefix="/api/notifications", tags=["Notifications"], responses=error_responses(401)
)

NotificationId = Annotated[uuid.UUID, path_id("notificationId", "notification")]
Pages = Annotated[CursorParams, Depends(cursor_params)]


@router.get(
    "",
    response_model=NotificationPage,
    summary="List my notifications",
    responses=error_responses(),
)
async def list_notifications(
    session: SessionDep,
    user: CurrentUser,
    pages: Pages,
    unread_only: Annotated[
        bool, Query(alias="unreadOnly", description="Only the unread notifications")
    ] = False,
) -> NotificationPage:
    """Newest first. Pass `pagination.nextCursor` back as `cursor` for the next page (stable
    while new notifications arrive); `page` works too. `unreadCount` counts all unread ones."""
    items, total, unread, next_cursor = await service.list_notifications(
        session,
        user.id,
        unread_only=unread_only,
        limit=pages.limit,
        offset=pages.offset,
        cursor=pages.cursor,
    )
    return NotificationPage(
        data=[NotificationOut.model_validate(item) for item in items],
        pagination=pages.pagination(total, next_cursor),
        unread_count=unread,
    )


# Declared before "/{notificationId}/...": a literal path must never be read as an id.
@put_and_patch(
    router,
    "/read-all",
    response_model=ReadAllOut,
    summary="Mark all my notifications read",
    responses=error_responses(),
)
async def mark_all_read(session: SessionDep, user: CurrentUser) -> ReadAllOut:
    updated = await service.mark_all_read(session, user.id)
    return ReadAllOut(updated=updated, unread_count=0)


@put_and_patch(
    router,
    "/{notificationId}/read",
    response_model=NotificationEnvelope,
    summary="Mark a notification read",
    responses=error_responses(404),
)
async def mark_read(
    session: SessionDep, user: CurrentUser, notification_id: NotificationId
) -> NotificationEnvelope:
    """Idempotent: marking a read notification again changes nothing."""
    notification = await service.mark_read(session, user.id, notification_id)
    return NotificationEnvelope(notification=NotificationOut.model_validate(notification))


@router.delete(
    "/{notificationId}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete a notification",
    responses=error_responses(404),
)
async def delete_notification(
    session: SessionDep, user: CurrentUser, notification_id: NotificationId
) -> Response:
    await service.delete_notification(session, user.id, notification_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

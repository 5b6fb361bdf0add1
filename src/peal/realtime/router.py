"""`GET /api/notifications/stream`: new notifications as Server-Sent Events.

Included before the notifications router, so `/stream` is never read as a notification id.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from sse_starlette import EventSourceResponse, ServerSentEvent

from peal.auth.dependencies import CurrentUser
from peal.core.schemas import error_responses
from peal.deps import FromApp, SessionDep
from peal.notifications.service import list_since, notification_payload
from peal.realtime.hub import CLOSE_STREAM, RealtimeHub

router = APIRouter(prefix="/api/notifications", tags=["Notifications"])

RealtimeDep = Annotated[RealtimeHub, Depends(FromApp[RealtimeHub]("realtime"))]

HEARTBEAT_SECONDS = 15

STREAM_EXAMPLE = (
    ": ping\n\n"
    "event: notification\n"
    "id: 3f0c5a9e-8a63-4b8a-9a55-1c1f4b6f0d2e\n"
    'data: {"id": "3f0c5a9e-8a63-4b8a-9a55-1c1f4b6f0d2e", "type": "message", ...}\n\n'
)


def _event(payload: dict[str, Any]) -> ServerSentEvent:
    return ServerSentEvent(
        data=json.dumps(payload, separators=(",", ":")), event="notification", id=payload["id"]
    )


def _last_seen(value: str | None) -> uuid.UUID | None:
    if not value or len(value) > 64:
        return None
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        return None


@router.get(
    "/stream",
    summary="Stream my new notifications (Server-Sent Events)",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "`text/event-stream`: one `notification` event per new notification "
            "(its `id:` is the notification id; `data:` the Notification as JSON), and a "
            f"`: ping` comment every {HEARTBEAT_SECONDS} s",
            "content": {"text/event-stream": {"example": STREAM_EXAMPLE}},
        },
        **error_responses(401),
    },
)
async def notification_stream(
    session: SessionDep,
    hub: RealtimeDep,
    user: CurrentUser,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            description="The id of the last notification received: what came after it is "
            "sent first (at most 100)",
        ),
    ] = None,
) -> EventSourceResponse:
    """Bearer or cookie authentication. The stream ends when the user signs out everywhere,
    resets their password or is banned; the client reconnects with `Last-Event-ID`."""
    # Subscribed before the replay is read: nothing created in between is lost (a duplicate
    # is skipped by id instead).
    queue = hub.open_stream(user.id)
    try:
        seen = _last_seen(last_event_id)
        missed = await list_since(session, user.id, seen) if seen is not None else []
        replay = [notification_payload(item) for item in missed]
    except BaseException:
        hub.close_stream(user.id, queue)
        raise
    user_id = user.id

    async def events() -> AsyncIterator[ServerSentEvent]:
        sent = {payload["id"] for payload in replay}
        try:
            for payload in replay:
                yield _event(payload)
            while True:
                payload = await queue.get()
                if payload is CLOSE_STREAM:
                    return
                if payload["id"] in sent:
                    continue
                yield _event(payload)
        finally:
            hub.close_stream(user_id, queue)

    return EventSourceResponse(events(), ping=HEARTBEAT_SECONDS)

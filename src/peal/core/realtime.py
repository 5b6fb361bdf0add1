"""The seam between the domains and the real-time layer: what a service may ask of it.

Services sit below the real-time layer (python-socketio, the SSE bus) and must not import it.
They call these functions; the application wires a `RealtimeSink` at start-up
(`peal.realtime.hub.RealtimeHub`). Without one (a CLI command, a job runner without sockets)
every call is a no-op and nobody counts as online.

Everything a request causes is sent after its transaction commits (`after_commit`), never for
a write that rolled back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from peal.db import after_commit


class RealtimeSink(Protocol):
    async def emit_to_users(self, event: str, payload: Any, user_ids: Iterable[uuid.UUID]) -> None:
        """Send `event` to every live connection (socket) of each user."""

    async def publish_notification(self, user_id: uuid.UUID, payload: dict[str, Any]) -> None:
        """A new notification: the user's sockets (`notification`) and SSE streams."""

    async def disconnect_user(self, user_id: uuid.UUID) -> None:
        """Close every socket and SSE stream of the user, in every process."""

    async def is_online(self, user_id: uuid.UUID) -> bool:
        """Whether the user holds at least one live socket (in any process)."""


_sink: RealtimeSink | None = None


def set_sink(sink: RealtimeSink | None) -> None:
    global _sink
    _sink = sink


def get_sink() -> RealtimeSink | None:
    return _sink


async def is_online(user_id: uuid.UUID) -> bool:
    return _sink is not None and await _sink.is_online(user_id)


def emit_after_commit(
    session: AsyncSession, event: str, payload: Any, user_ids: Iterable[uuid.UUID]
) -> None:
    """Send `event` to the users' sockets once the session commits."""
    recipients = list(dict.fromkeys(user_ids))

    async def send() -> None:
        if _sink is not None:
            await _sink.emit_to_users(event, payload, recipients)

    after_commit(session, send)


def notifications_after_commit(
    session: AsyncSession, notifications: list[tuple[uuid.UUID, dict[str, Any]]]
) -> None:
    """Publish new notifications (recipient, Notification as the API shows it) after commit."""

    async def send() -> None:
        if _sink is None:
            return
        for user_id, payload in notifications:
            await _sink.publish_notification(user_id, payload)

    after_commit(session, send)


def disconnect_after_commit(session: AsyncSession, user_id: uuid.UUID) -> None:
    """End the user's live connections once the session commits (sign-out everywhere,
    password reset, ban, account deletion)."""

    async def send() -> None:
        if _sink is not None:
            await _sink.disconnect_user(user_id)

    after_commit(session, send)

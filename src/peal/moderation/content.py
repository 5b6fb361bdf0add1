"""What can be reported: one entry per content type, each a few calls to its own domain.

An entry finds the content *as the reporter sees it* (the domain's own visibility rule, so
reporting what you cannot see is the same 404 as reading it), names its author and its reach
(how many people it touches: the queue weighs it), and hides, removes or restores it.

To add a type (e.g. a mentor connection), write its `find` and `set_status` in its domain and
add one line to `CONTENT_TYPES`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from peal.core.moderation import ModerationStatus
from peal.events import service as events
from peal.funding import service as funding
from peal.messaging import service as messaging
from peal.stories import service as stories
from peal.users import service as users
from peal.users.models import User
from peal.videos import comments
from peal.videos import service as videos


@dataclass(frozen=True)
class Found:
    author_id: uuid.UUID
    reach: int


Finder = Callable[[AsyncSession, uuid.UUID, User], Awaitable[Found]]
StatusSetter = Callable[[AsyncSession, uuid.UUID, ModerationStatus | None], Awaitable[bool]]


@dataclass(frozen=True)
class ContentType:
    noun: str  # how the author is told about it: "video"
    find: Finder
    # None: this content cannot be hidden or removed by itself (a person is banned instead).
    set_status: StatusSetter | None


async def _user(session: AsyncSession, content_id: uuid.UUID, viewer: User) -> Found:
    user = await users.get_visible_user(session, content_id, viewer)
    return Found(user.id, user.followers_count)


async def _video(session: AsyncSession, content_id: uuid.UUID, viewer: User) -> Found:
    video, _author = await videos.get_visible_video(session, content_id, viewer)
    return Found(video.author_id, video.views_count)


async def _comment(session: AsyncSession, content_id: uuid.UUID, viewer: User) -> Found:
    comment, video = await comments.get_visible_comment(session, content_id, viewer)
    return Found(comment.user_id, video.views_count)


async def _request(session: AsyncSession, content_id: uuid.UUID, viewer: User) -> Found:
    request, _author = await funding.get_request(session, content_id, viewer)
    return Found(request.author_id, request.supporters_count)


async def _story(session: AsyncSession, content_id: uuid.UUID, viewer: User) -> Found:
    story, _author = await stories.get_story(session, content_id, viewer)
    return Found(story.author_id, story.celebrations_count)


async def _event(session: AsyncSession, content_id: uuid.UUID, viewer: User) -> Found:
    event = await events.get_event(session, viewer, content_id)
    return Found(event.host_id, event.attendee_count)


async def _message(session: AsyncSession, content_id: uuid.UUID, viewer: User) -> Found:
    return Found(await messaging.reportable_message(session, content_id, viewer), 1)


CONTENT_TYPES: dict[str, ContentType] = {
    "user": ContentType("profile", _user, None),
    "video": ContentType("video", _video, videos.set_moderation_status),
    "comment": ContentType("comment", _comment, comments.set_moderation_status),
    "request": ContentType("funding request", _request, funding.set_moderation_status),
    "story": ContentType("success story", _story, stories.set_moderation_status),
    "event": ContentType("event", _event, events.set_moderation_status),
    # Removed, a message leaves the conversation for everyone but admins.
    "message": ContentType("message", _message, messaging.set_moderation_status),
}

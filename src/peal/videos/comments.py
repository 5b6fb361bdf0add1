"""Threaded comments on videos, with `commentsCount` and `repliesCount` kept exact.

Every change to a video's comments first locks the video's row (creating a comment does it
with the counter UPDATE, deleting with SELECT ... FOR UPDATE), so the comments of one video
change one transaction at a time and the counters always match the rows. Deleting a comment
deletes its whole thread (the replies under it, at any depth).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from peal.core.errors import Forbidden, NotFound, ValidationFailed
from peal.core.moderation import ModerationStatus, not_moderated
from peal.core.moderation import set_moderation_status as set_row_moderation
from peal.core.pagination import cut_page, keyset_page
from peal.core.schemas import Cursor
from peal.core.sql import batches
from peal.db import utcnow
from peal.notifications.service import FAN_OUT_BATCH, WITHDRAWN_COMMENT, notify, withdraw_previews
from peal.users.models import User
from peal.users.policy import is_admin, not_blocked, profile_visible
from peal.users.schemas import UserSummary
from peal.videos.models import Video, VideoComment
from peal.videos.schemas import CommentOut
from peal.videos.service import get_ready_video, get_visible_video

_PREVIEW = 80


@dataclass(frozen=True)
class CommentPage:
    rows: list[tuple[VideoComment, User]]
    total: int
    next_cursor: str | None


def present_comment(comment: VideoComment, user: User) -> CommentOut:
    return CommentOut(
        id=comment.id,
        video_id=comment.video_id,
        user_id=comment.user_id,
        user=UserSummary(id=user.id, name=user.name, avatar_url=user.avatar_url),
        content=comment.content,
        parent_id=comment.parent_id,
        replies_count=comment.replies_count,
        created_at=comment.created_at,
    )


def listable(viewer: User | None) -> ColumnElement[bool]:
    """The moderation condition of comments: live ones, and hidden or removed ones only to
    their writer (and admins)."""
    return not_moderated(
        VideoComment.moderation_status,
        VideoComment.user_id,
        viewer.id if viewer is not None else None,
        admin=is_admin(viewer),
    )


async def get_visible_comment(
    session: AsyncSession, comment_id: uuid.UUID, viewer: User | None
) -> tuple[VideoComment, Video]:
    """A comment `viewer` can read (on a video they can see, by an active writer), or 404."""
    row = (
        await session.execute(
            select(VideoComment, Video)
            .join(Video, Video.id == VideoComment.video_id)
            .join(User, User.id == VideoComment.user_id)
            .where(
                VideoComment.id == comment_id,
                profile_visible(viewer),
                listable(viewer),
            )
        )
    ).first()
    if row is None:
        raise NotFound("Comment not found", code="comment_not_found")
    comment, video = row
    await get_visible_video(session, video.id, viewer)
    return comment, video


async def set_moderation_status(
    session: AsyncSession, comment_id: uuid.UUID, status: ModerationStatus | None
) -> bool:
    """Hide, remove or restore a comment (moderation); True when it changed. Hidden or
    removed, its notifications stop quoting it (a restore does not bring the words back)."""
    moved = await set_row_moderation(session, VideoComment, comment_id, status)
    if moved and status is not None:
        await _withdraw_previews(session, [comment_id])
    return moved


async def _withdraw_previews(session: AsyncSession, comment_ids: Sequence[uuid.UUID]) -> None:
    """These comments were taken down: the notifications quoting them (sent to the video's
    author, and to the author of the comment each one answers) no longer do."""
    answered = aliased(VideoComment)
    for batch in batches(comment_ids, FAN_OUT_BATCH // 2):
        rows = await session.execute(
            select(Video.author_id, answered.user_id)
            .select_from(VideoComment)
            .join(Video, Video.id == VideoComment.video_id)
            .outerjoin(answered, answered.id == VideoComment.parent_id)
            .where(VideoComment.id.in_(batch))
        )
        told = {person for row in rows for person in row if person is not None}
        await withdraw_previews(session, told, "commentId", batch, WITHDRAWN_COMMENT)


def _preview(text: str) -> str:
    return text if len(text) <= _PREVIEW else text[: _PREVIEW - 1] + "\u2026"


async def list_comments(
    session: AsyncSession,
    video_id: uuid.UUID,
    viewer: User | None,
    *,
    parent_id: uuid.UUID | None,
    limit: int,
    offset: int,
    cursor: Cursor | None,
) -> CommentPage:
    """Top-level comments newest first, or the replies to `parent_id` oldest first (a thread
    reads top-down). Only comments of people `viewer` may see. Four queries at most,
    whatever the page size."""
    video, _author = await get_visible_video(session, video_id, viewer)
    if parent_id is not None:
        parent = await session.scalar(
            select(VideoComment.id).where(
                VideoComment.id == parent_id, VideoComment.video_id == video.id, listable(viewer)
            )
        )
        if parent is None:
            raise NotFound("Comment not found")
    conditions: list[ColumnElement[bool]] = [
        VideoComment.video_id == video.id,
        VideoComment.parent_id == parent_id if parent_id else VideoComment.parent_id.is_(None),
        # The one rule of who may see whom: comments of private, banned or deleted accounts,
        # and of people blocked either way, are left out; and comments moderation hid.
        profile_visible(viewer),
        listable(viewer),
    ]
    total = await session.scalar(
        select(func.count())
        .select_from(VideoComment)
        .join(User, User.id == VideoComment.user_id)
        .where(*conditions)
    )
    query = (
        select(VideoComment, User).join(User, User.id == VideoComment.user_id).where(*conditions)
    )
    query = keyset_page(
        query,
        VideoComment.created_at,
        VideoComment.id,
        limit=limit,
        offset=offset,
        cursor=cursor,
        ascending=parent_id is not None,
    )
    rows = [(comment, user) for comment, user in await session.execute(query)]
    rows, next_cursor = cut_page(rows, limit)
    return CommentPage(rows, total or 0, next_cursor)


async def add_comment(
    session: AsyncSession,
    video_id: uuid.UUID,
    user: User,
    content: str,
    parent_id: uuid.UUID | None,
) -> VideoComment:
    """A comment, or a reply to a comment of the same video (422 for any other parent)."""
    video, _author = await get_ready_video(session, video_id, user)
    # The counter first: its row lock orders this against deletions on the same video.
    await session.execute(
        update(Video)
        .where(Video.id == video.id)
        .values(comments_count=Video.comments_count + 1, updated_at=Video.updated_at)
    )
    parent_author: uuid.UUID | None = None
    if parent_id is not None:
        parent_author = await session.scalar(
            update(VideoComment)
            .where(
                and_(VideoComment.id == parent_id, VideoComment.video_id == video.id),
                # No reply to someone blocked either way: their comment is not there for her.
                not_blocked(user.id, VideoComment.user_id),
            )
            .values(replies_count=VideoComment.replies_count + 1)
            .returning(VideoComment.user_id)
        )
        if parent_author is None:
            raise ValidationFailed("parentId", "must be a comment on this video")
    comment = VideoComment(
        id=uuid.uuid4(),
        video_id=video.id,
        user_id=user.id,
        content=content,
        parent_id=parent_id,
        replies_count=0,
        created_at=utcnow(),
    )
    session.add(comment)
    await session.flush()
    data = {"videoId": video.id, "commentId": comment.id, "userId": user.id}
    if parent_author is not None:
        await notify(
            session,
            parent_author,
            "reply",
            "New reply",
            f"{user.name} replied: {_preview(content)}",
            {**data, "parentId": parent_id},
            actor_id=user.id,
        )
    if parent_author != video.author_id:
        await notify(
            session,
            video.author_id,
            "comment",
            "New comment",
            f"{user.name} commented on \u201c{video.title}\u201d: {_preview(content)}",
            data,
            actor_id=user.id,
        )
    return comment


async def delete_comment(
    session: AsyncSession, video_id: uuid.UUID, comment_id: uuid.UUID, user: User
) -> None:
    """Delete a comment and its thread: by its author, the video's author or an admin."""
    video, _author = await get_visible_video(session, video_id, user, lock=True)
    comment = await session.scalar(
        select(VideoComment).where(VideoComment.id == comment_id, VideoComment.video_id == video.id)
    )
    if comment is None:
        raise NotFound("Comment not found")
    if user.id not in (comment.user_id, video.author_id) and not is_admin(user):
        raise Forbidden("You cannot delete this comment", code="not_comment_author")
    thread = (
        select(VideoComment.id).where(VideoComment.id == comment.id).cte("thread", recursive=True)
    )
    thread = thread.union_all(select(VideoComment.id).where(VideoComment.parent_id == thread.c.id))
    thread_ids = list(await session.scalars(select(thread.c.id)))
    # The replies go with their parent (ON DELETE CASCADE); the thread read above is exact
    # because the video's row is locked: no reply can be added to it meanwhile.
    await _withdraw_previews(session, thread_ids)
    await session.execute(delete(VideoComment).where(VideoComment.id == comment.id))
    await session.execute(
        update(Video)
        .where(Video.id == video.id)
        .values(comments_count=Video.comments_count - len(thread_ids), updated_at=Video.updated_at)
    )
    if comment.parent_id is not None:
        await session.execute(
            update(VideoComment)
            .where(VideoComment.id == comment.parent_id)
            .values(replies_count=VideoComment.replies_count - 1)
        )
    session.expunge(comment)

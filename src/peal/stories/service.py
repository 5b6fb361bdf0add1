"""The rules of success stories: authorship, admin-only featuring, celebrations, and the
impact report sent to the donors of the request a story tells the outcome of."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, func, or_, select, true
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession

from peal.core.errors import Forbidden, NotFound, ValidationFailed
from peal.core.export import jsonable, row_dict
from peal.core.moderation import ModerationStatus, not_moderated
from peal.core.moderation import set_moderation_status as set_row_moderation
from peal.core.pagination import cut_page, keyset_page
from peal.core.schemas import Cursor
from peal.core.sql import NO_SYNC, contains_pattern, insert_ignoring_duplicates, like, rowcount
from peal.db import utcnow
from peal.funding.models import FundingRequest
from peal.funding.service import donor_ids, summary
from peal.notifications.service import notify, notify_many
from peal.stories.models import SuccessStory, SuccessStoryCelebration
from peal.stories.schemas import StoryCreate, StoryOut
from peal.uploads.service import mark_in_use, resolve_owned_upload
from peal.users.models import User
from peal.users.policy import is_admin, profile_visible

STORYTELLER_ROLES = ("woman", "admin")
# "The most celebrated recent story" when none is featured: recent means this many days.
FEATURED_RECENT_DAYS = 30
IMAGE_FIELDS = {"before_image_url": "beforeImageUrl", "after_image_url": "afterImageUrl"}


def _with_author() -> Select[SuccessStory, User]:
    return select(SuccessStory, User).join(User, User.id == SuccessStory.author_id)


def listable(viewer: User | None) -> ColumnElement[bool]:
    """The moderation condition of stories: live ones, and hidden or removed ones only to
    their author (and admins)."""
    return not_moderated(
        SuccessStory.moderation_status,
        SuccessStory.author_id,
        viewer.id if viewer is not None else None,
        admin=is_admin(viewer),
    )


async def set_moderation_status(
    session: AsyncSession, story_id: uuid.UUID, status: ModerationStatus | None
) -> bool:
    """Hide, remove or restore a story (moderation); True when it changed."""
    return await set_row_moderation(session, SuccessStory, story_id, status)


async def get_story(
    session: AsyncSession, story_id: uuid.UUID, viewer: User | None, *, lock: bool = False
) -> tuple[SuccessStory, User]:
    """The story and its author, or 404 when missing or hidden from `viewer`."""
    query = _with_author().where(
        SuccessStory.id == story_id, profile_visible(viewer), listable(viewer)
    )
    if lock:
        query = query.with_for_update(of=SuccessStory)
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound("Story not found", code="story_not_found")
    return row


async def _own_story(
    session: AsyncSession, story_id: uuid.UUID, user: User
) -> tuple[SuccessStory, User]:
    story, author = await get_story(session, story_id, user, lock=True)
    if story.author_id != user.id and not is_admin(user):
        raise Forbidden("Only the author can change this story", code="not_author")
    return story, author


# --- presenting ---------------------------------------------------------------------------


async def _celebrated_by(
    session: AsyncSession, story_ids: Sequence[uuid.UUID], viewer: User | None
) -> set[uuid.UUID]:
    if viewer is None or not story_ids:
        return set()
    rows = await session.scalars(
        select(SuccessStoryCelebration.success_story_id).where(
            SuccessStoryCelebration.user_id == viewer.id,
            SuccessStoryCelebration.success_story_id.in_(story_ids),
        )
    )
    return set(rows.all())


def _present(story: SuccessStory, author: User, celebrated: bool) -> StoryOut:
    return StoryOut(
        id=story.id,
        title=story.title,
        description=story.description,
        before_image_url=story.before_image_url,
        after_image_url=story.after_image_url,
        impact_description=story.impact_description,
        author_id=story.author_id,
        author=summary(author),
        request_id=story.request_id,
        celebrations_count=story.celebrations_count,
        celebrated_by_me=celebrated,
        is_featured=story.is_featured,
        created_at=story.created_at,
        updated_at=story.updated_at,
    )


async def present_stories(
    session: AsyncSession, rows: Sequence[tuple[SuccessStory, User]], viewer: User | None
) -> list[StoryOut]:
    """One query for `celebratedByMe`, whatever the number of stories."""
    celebrated = await _celebrated_by(session, [story.id for story, _ in rows], viewer)
    return [_present(story, author, story.id in celebrated) for story, author in rows]


async def present_story(
    session: AsyncSession, story: SuccessStory, author: User, viewer: User | None
) -> StoryOut:
    return (await present_stories(session, [(story, author)], viewer))[0]


# --- creating and changing ----------------------------------------------------------------


async def _image(
    session: AsyncSession, url: str | None, owner_id: uuid.UUID, field: str
) -> tuple[str | None, uuid.UUID | None]:
    if url is None:
        return None, None
    upload = await resolve_owned_upload(session, url, owner_id, "image", field=field)
    return upload.url or upload.key, upload.id


async def _own_request(
    session: AsyncSession, request_id: uuid.UUID, author_id: uuid.UUID
) -> FundingRequest:
    """A story may only tell the outcome of its author's own request."""
    request = await session.scalar(
        select(FundingRequest).where(
            FundingRequest.id == request_id, FundingRequest.author_id == author_id
        )
    )
    if request is None:
        raise ValidationFailed("requestId", "must be one of the author's own funding requests")
    return request


async def _tell_donors(
    session: AsyncSession, story: SuccessStory, author: User, request: FundingRequest
) -> int:
    """The impact report: everyone who gave to the request learns what became of it."""
    return await notify_many(
        session,
        await donor_ids(session, request.id),
        "impact_story",
        f"What your support did: “{request.title}”",
        f"{author.name} shared a success story: “{story.title}”.",
        {"storyId": str(story.id), "requestId": str(request.id)},
        actor_id=author.id,
    )


async def create_story(session: AsyncSession, author: User, body: StoryCreate) -> SuccessStory:
    request = await _own_request(session, body.request_id, author.id) if body.request_id else None
    used: list[uuid.UUID] = []
    images: dict[str, str | None] = {}
    for field, wire_name in IMAGE_FIELDS.items():
        images[field], upload_id = await _image(session, getattr(body, field), author.id, wire_name)
        if upload_id is not None:
            used.append(upload_id)
    story = SuccessStory(
        id=uuid.uuid4(),
        title=body.title,
        description=body.description,
        impact_description=body.impact_description,
        author_id=author.id,
        celebrations_count=0,
        is_featured=bool(body.is_featured) if is_admin(author) else False,
        request_id=request.id if request else None,
        **images,
    )
    session.add(story)
    await session.flush()
    await mark_in_use(session, used)
    if request is not None:
        await _tell_donors(session, story, author, request)
    return story


async def update_story(
    session: AsyncSession, story_id: uuid.UUID, user: User, changes: dict[str, Any]
) -> tuple[SuccessStory, User]:
    """The author (or an admin) changes the story; `isFeatured` only by an admin."""
    story, author = await _own_story(session, story_id, user)
    for field in ("title", "description", "impact_description"):
        if field in changes:
            setattr(story, field, changes[field])
    used: list[uuid.UUID] = []
    for field, wire_name in IMAGE_FIELDS.items():
        if field in changes and changes[field] != getattr(story, field):
            value, upload_id = await _image(session, changes[field], user.id, wire_name)
            setattr(story, field, value)
            if upload_id is not None:
                used.append(upload_id)
    if "is_featured" in changes and changes["is_featured"] is not None and is_admin(user):
        story.is_featured = changes["is_featured"]
    newly_linked = None
    if "request_id" in changes and changes["request_id"] != story.request_id:
        if changes["request_id"] is None:
            story.request_id = None
        else:
            newly_linked = await _own_request(session, changes["request_id"], story.author_id)
            story.request_id = newly_linked.id
    story.updated_at = utcnow()
    await session.flush()
    await mark_in_use(session, used)
    if newly_linked is not None:
        await _tell_donors(session, story, author, newly_linked)
    return story, author


async def delete_story(session: AsyncSession, story_id: uuid.UUID, user: User) -> None:
    story, _author = await _own_story(session, story_id, user)
    await session.execute(
        delete(SuccessStory).where(SuccessStory.id == story.id), execution_options=NO_SYNC
    )


# --- listing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoryFilters:
    author_id: uuid.UUID | None = None
    featured: bool | None = None
    search: str | None = None


def _conditions(filters: StoryFilters, viewer: User | None) -> list[ColumnElement[bool]]:
    conditions = [profile_visible(viewer), listable(viewer)]
    if filters.author_id is not None:
        conditions.append(SuccessStory.author_id == filters.author_id)
    if filters.featured is not None:
        conditions.append(SuccessStory.is_featured == filters.featured)
    if search := (filters.search or "").strip():
        pattern = contains_pattern(search)
        conditions.append(
            or_(
                like(SuccessStory.title, pattern),
                like(SuccessStory.description, pattern),
                like(SuccessStory.impact_description, pattern),
            )
        )
    return conditions


async def list_stories(
    session: AsyncSession,
    filters: StoryFilters,
    viewer: User | None,
    *,
    limit: int,
    offset: int,
    cursor: Cursor | None,
) -> tuple[list[StoryOut], int, str | None]:
    """Newest first: count, page and `celebratedByMe` (three queries whatever the page size)."""
    conditions = _conditions(filters, viewer)
    total = (
        await session.execute(
            select(func.count())
            .select_from(SuccessStory)
            .join(User, User.id == SuccessStory.author_id)
            .where(*conditions)
        )
    ).scalar_one()
    query = keyset_page(
        _with_author().where(*conditions),
        SuccessStory.created_at,
        SuccessStory.id,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
    rows, next_cursor = cut_page((await session.execute(query)).all(), limit)
    return await present_stories(session, rows, viewer), total, next_cursor


async def featured_story(session: AsyncSession, viewer: User | None) -> StoryOut:
    """The latest featured story; else the most celebrated of the last 30 days; else the most
    celebrated ever. 404 when there is no story at all."""
    visible = and_(profile_visible(viewer), listable(viewer))
    by_celebrations = (SuccessStory.celebrations_count.desc(), SuccessStory.created_at.desc())
    candidates = (
        _with_author()
        .where(visible, SuccessStory.is_featured == true())
        .order_by(SuccessStory.created_at.desc(), SuccessStory.id.desc()),
        _with_author()
        .where(
            visible,
            SuccessStory.created_at >= utcnow() - timedelta(days=FEATURED_RECENT_DAYS),
        )
        .order_by(*by_celebrations),
        _with_author().where(visible).order_by(*by_celebrations),
    )
    for query in candidates:
        row = (await session.execute(query.limit(1))).first()
        if row is not None:
            return await present_story(session, row[0], row[1], viewer)
    raise NotFound("No story yet", code="story_not_found")


# --- celebrations -------------------------------------------------------------------------


async def _count(session: AsyncSession, story_id: uuid.UUID) -> int:
    return int(
        await session.scalar(
            select(SuccessStory.celebrations_count).where(SuccessStory.id == story_id)
        )
        or 0
    )


async def celebrate(session: AsyncSession, story_id: uuid.UUID, user: User) -> int:
    """Idempotent: a second celebration by the same user changes nothing (unique pair)."""
    story, _author = await get_story(session, story_id, user)
    result = await session.execute(
        insert_ignoring_duplicates(
            session, SuccessStoryCelebration, ["success_story_id", "user_id"]
        ).values(id=uuid.uuid4(), success_story_id=story.id, user_id=user.id, created_at=utcnow())
    )
    if rowcount(result) == 1:
        await session.execute(
            sql_update(SuccessStory)
            .where(SuccessStory.id == story.id)
            .values(
                celebrations_count=SuccessStory.celebrations_count + 1,
                updated_at=SuccessStory.updated_at,  # a celebration is not an edit
            ),
            execution_options=NO_SYNC,
        )
        await notify(
            session,
            story.author_id,
            "celebration",
            "Your story is being celebrated",
            f"{user.name} celebrated “{story.title}”.",
            {"storyId": str(story.id), "userId": str(user.id)},
            actor_id=user.id,
        )
    return await _count(session, story.id)


async def uncelebrate(session: AsyncSession, story_id: uuid.UUID, user: User) -> int:
    story, _author = await get_story(session, story_id, user)
    result = await session.execute(
        delete(SuccessStoryCelebration).where(
            SuccessStoryCelebration.success_story_id == story.id,
            SuccessStoryCelebration.user_id == user.id,
        ),
        execution_options=NO_SYNC,
    )
    if rowcount(result) == 1:
        await session.execute(
            sql_update(SuccessStory)
            .where(SuccessStory.id == story.id)
            .values(
                celebrations_count=SuccessStory.celebrations_count - 1,
                updated_at=SuccessStory.updated_at,
            ),
            execution_options=NO_SYNC,
        )
    return await _count(session, story.id)


# --- account deletion and export -----------------------------------------------------------


async def purge_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Her stories go (with their celebrations); her celebrations leave the others' counts.

    Losing a celebration is not an edit: `updated_at` stays, as in `uncelebrate`."""
    await session.execute(
        delete(SuccessStory).where(SuccessStory.author_id == user_id), execution_options=NO_SYNC
    )
    celebrated = select(SuccessStoryCelebration.success_story_id).where(
        SuccessStoryCelebration.user_id == user_id
    )
    await session.execute(
        sql_update(SuccessStory)
        .where(SuccessStory.id.in_(celebrated.scalar_subquery()))
        .values(
            celebrations_count=SuccessStory.celebrations_count - 1,
            updated_at=SuccessStory.updated_at,
        ),
        execution_options=NO_SYNC,
    )
    await session.execute(
        delete(SuccessStoryCelebration).where(SuccessStoryCelebration.user_id == user_id),
        execution_options=NO_SYNC,
    )


async def export_user(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    """Her stories, and the stories she celebrated (by id and title)."""
    stories = await session.scalars(
        select(SuccessStory)
        .where(SuccessStory.author_id == user_id)
        .order_by(SuccessStory.created_at)
    )
    celebrated = await session.execute(
        select(SuccessStory.id, SuccessStory.title, SuccessStoryCelebration.created_at)
        .join(SuccessStoryCelebration, SuccessStoryCelebration.success_story_id == SuccessStory.id)
        .where(SuccessStoryCelebration.user_id == user_id)
        .order_by(SuccessStoryCelebration.created_at)
    )
    return {
        "stories": [row_dict(story) for story in stories.all()],
        "celebrations": [
            {"storyId": str(story_id), "storyTitle": title, "createdAt": jsonable(at)}
            for story_id, title, at in celebrated
        ],
    }

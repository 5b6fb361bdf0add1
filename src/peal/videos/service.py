"""The rules of videos: who sees what, creating and editing, likes, views, shares, lists.

Visibility (one rule, used by every query here):

- a `ready` video is visible when its author's account is active (not banned, not deleted)
  and the author's profile is public; a private profile's videos are seen only by their
  author and admins (404 to everyone else, so their existence does not leak);
- `processing` and `failed` videos are seen only by their author and admins;
- admins see everything.
"""

from __future__ import annotations

import functools
import hashlib
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from peal.core.errors import Conflict, Forbidden, NotFound
from peal.core.export import jsonable, person, row_dict
from peal.core.moderation import ModerationStatus, not_moderated
from peal.core.moderation import set_moderation_status as set_row_moderation
from peal.core.pagination import bound_keyset_page, bound_offset_page, cut_page, keyset_values
from peal.core.schemas import Cursor
from peal.core.sql import (
    IDS,
    NO_SYNC,
    SIMPLE,
    contains_pattern,
    insert_ignoring_duplicates,
    like,
    rowcount,
    simple_tsvector,
)
from peal.db import utcnow
from peal.notifications.service import notify
from peal.outbox import enqueue_job
from peal.uploads.service import forget_files, mark_in_use, resolve_owned_upload
from peal.users.models import User
from peal.users.policy import (
    ViewerShape,
    is_admin,
    not_muted,
    profile_visible,
    viewer_shape,
    viewer_slot,
    viewer_values,
)
from peal.videos.models import Video, VideoComment, VideoLike, VideoShare, VideoTag, VideoView
from peal.videos.schemas import (
    VideoAuthor,
    VideoCreate,
    VideoOut,
    VideoStatus,
    VideoUpdate,
    normalize_tag,
)

# --- visibility ----------------------------------------------------------------------------


def listable(viewer: User | None) -> ColumnElement[bool]:
    """The moderation condition: live videos, and hidden or removed ones only to their author
    (and admins). Every video query goes through `video_visible`, which includes it."""
    return not_moderated(
        Video.moderation_status,
        Video.author_id,
        viewer.id if viewer is not None else None,
        admin=is_admin(viewer),
    )


def video_visible(viewer: User | None) -> ColumnElement[bool]:
    """SQL condition on `Video` joined with its author `User`."""
    if is_admin(viewer):
        return true()
    if viewer is None:
        return and_(Video.status == "ready", profile_visible(None), listable(None))
    return and_(
        or_(Video.status == "ready", Video.author_id == viewer.id),
        profile_visible(viewer),
        listable(viewer),
    )


async def set_moderation_status(
    session: AsyncSession, video_id: uuid.UUID, status: ModerationStatus | None
) -> bool:
    """Hide, remove or restore a video (moderation); True when it changed."""
    return await set_row_moderation(session, Video, video_id, status)


def unmuted_authors(viewer: User | None) -> list[ColumnElement[bool]]:
    """Feeds (lists not of one author) leave out the people the viewer muted."""
    return [] if viewer is None else [not_muted(viewer.id, Video.author_id)]


def with_author() -> Select[Video, User]:
    return select(Video, User).join(User, User.id == Video.author_id)


class VideoCard(NamedTuple):
    """The columns a `VideoOut` shows, read as plain rows: lists load these, never the whole
    video and author entities (no ORM identity map, no `password_hash` or `search_text`)."""

    id: uuid.UUID
    title: str
    description: str | None
    thumbnail_url: str | None
    video_url: str
    video_duration: int | None
    category: str | None
    status: VideoStatus
    author_id: uuid.UUID
    views_count: int
    likes_count: int
    comments_count: int
    shares_count: int
    is_trending: bool
    created_at: datetime
    updated_at: datetime
    author_name: str
    author_avatar_url: str | None
    author_location: str | None

    @classmethod
    def of(cls, video: Video, author: User) -> VideoCard:
        shown = [getattr(video, name) for name in _VIDEO_CARD_FIELDS]
        return cls._make([*shown, author.name, author.avatar_url, author.location])


_VIDEO_CARD_FIELDS = VideoCard._fields[:16]


def card_query() -> Select[Any]:
    """`with_author()` as `VideoCard` rows: the same join, only the columns shown."""
    columns = [getattr(Video, name) for name in _VIDEO_CARD_FIELDS]
    return select(
        *columns,
        User.name.label("author_name"),
        User.avatar_url.label("author_avatar_url"),
        User.location.label("author_location"),
    ).join(User, User.id == Video.author_id)


async def get_visible_video(
    session: AsyncSession, video_id: uuid.UUID, viewer: User | None, *, lock: bool = False
) -> tuple[Video, User]:
    """The video and its author, or 404 when it does not exist or is hidden from `viewer`."""
    query = with_author().where(Video.id == video_id, video_visible(viewer))
    if lock:
        query = query.with_for_update(of=Video)
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound("Video not found")
    return row[0], row[1]


async def get_ready_video(
    session: AsyncSession, video_id: uuid.UUID, viewer: User | None
) -> tuple[Video, User]:
    """A visible video that can be liked, commented, viewed or shared (ready only)."""
    video, author = await get_visible_video(session, video_id, viewer)
    if video.status != "ready":
        raise Conflict("The video is not ready yet", code="video_not_ready")
    return video, author


# --- presentation --------------------------------------------------------------------------


async def present_videos(
    session: AsyncSession, rows: Sequence[tuple[Video, User]], viewer: User | None
) -> list[VideoOut]:
    """`present_cards` for loaded entities (a single video, admin and search lists)."""
    return await present_cards(
        session, [VideoCard.of(video, author) for video, author in rows], viewer
    )


# Built once (`ids` and `viewer_id` bound): the cards' tags, in order, and for a signed-in
# viewer her likes among the cards in the same round trip (the rows with no tag).
_TAGS: Select[*tuple[Any, ...]] = (
    select(VideoTag.video_id, VideoTag.tag)
    .where(VideoTag.video_id.in_(IDS))
    .order_by(VideoTag.video_id, VideoTag.tag)
)
_TAGS_AND_LIKES: CompoundSelect[*tuple[Any, ...]] = union_all(
    select(VideoTag.video_id, VideoTag.tag.label("tag")).where(VideoTag.video_id.in_(IDS)),
    select(VideoLike.video_id, null()).where(
        VideoLike.user_id == bindparam("viewer_id"), VideoLike.video_id.in_(IDS)
    ),
).order_by(literal_column("tag"))


async def present_cards(
    session: AsyncSession, cards: Sequence[VideoCard], viewer: User | None
) -> list[VideoOut]:
    """Serialise video rows for `viewer`: one more query (their tags, and the viewer's likes
    among them) whatever their number."""
    if not cards:
        return []
    ids = [card.id for card in cards]
    tags: dict[uuid.UUID, list[str]] = defaultdict(list)
    liked: set[uuid.UUID] = set()
    if viewer is None:
        rows = await session.execute(_TAGS, {"ids": ids})
    else:
        rows = await session.execute(_TAGS_AND_LIKES, {"ids": ids, "viewer_id": viewer.id})
    for video_id, tag in rows:
        if tag is None:
            liked.add(video_id)  # a like of the viewer's (a tag is never NULL)
        else:
            tags[video_id].append(tag)
    # Built without validation: every value comes from the database through typed columns,
    # and the input guards of `CamelModel` (NUL characters, JSON types) were a fifth of the
    # list's time under load. FastAPI still serialises them through the response model.
    return [
        VideoOut.model_construct(
            id=card.id,
            title=card.title,
            description=card.description,
            thumbnail_url=card.thumbnail_url,
            video_url=card.video_url,
            video_duration=card.video_duration,
            category=card.category,
            tags=tags[card.id],
            status=card.status,
            author_id=card.author_id,
            author=VideoAuthor.model_construct(
                id=card.author_id,
                name=card.author_name,
                avatar_url=card.author_avatar_url,
                location=card.author_location,
            ),
            views_count=card.views_count,
            likes_count=card.likes_count,
            comments_count=card.comments_count,
            shares_count=card.shares_count,
            is_trending=card.is_trending,
            liked_by_me=card.id in liked,
            created_at=card.created_at,
            updated_at=card.updated_at,
        )
        for card in cards
    ]


async def present_video(
    session: AsyncSession, video: Video, author: User, viewer: User | None
) -> VideoOut:
    return (await present_videos(session, [(video, author)], viewer))[0]


# --- lists ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoFilters:
    category: str | None = None
    tag: str | None = None
    author_id: uuid.UUID | None = None
    search: str | None = None


@dataclass(frozen=True)
class VideoPage:
    rows: list[VideoCard]
    total: int
    next_cursor: str | None


# `pagination.total` is exact up to this many videos and capped there: counting a whole
# 100k-row table on every page would cost more than the page itself (see bench/). Lists past
# the cap still page on (`hasMore` and `nextCursor` come from the rows, not the count).
COUNT_CAP = 1_000
_CAP = bindparam("cap", type_=Integer)  # COUNT_CAP in statements built once (bound per call)


def search_text_of(title: str, description: str | None, tags: Sequence[str]) -> str:
    """What `search` matches: title, description and tags, lower-cased once, here."""
    return " ".join(part for part in (title, description or "", " ".join(tags)) if part).lower()


def _search_condition(session: AsyncSession, term: str) -> ColumnElement[bool]:
    """`search_text LIKE '%term%'` with the user's `%` and `_` taken literally.

    PostgreSQL escapes with a backslash by default (no ESCAPE clause, so the trigram index
    sees a plain constant pattern); SQLite has no default escape character.
    """
    pattern = contains_pattern(term)
    if session.get_bind().dialect.name == "postgresql":
        return Video.search_text.like(pattern)
    return like(Video.search_text, pattern, ignore_case=False)


def words_document() -> ColumnElement[Any]:
    """`search_text`'s words (PostgreSQL's `simple` configuration): the expression of the GIN
    index `ix_videos_search` (declared by `search.models`), so it must stay exactly this."""
    return simple_tsvector(Video.search_text)


# A phrase's rare word finds its candidates through the word index when they are at most
# this many; past it the trigram index does better.
WORD_CANDIDATES = 1_000
_WORDS = func.plainto_tsquery(SIMPLE, bindparam("words", type_=String))
_WORD_MATCHES: Select[Any] = (
    select(Video.id).where(words_document().bool_op("@@")(_WORDS)).limit(_CAP)
)


def whole_words(term: str) -> list[str]:
    """The words of a searched phrase that stand whole in every text it matches: those between
    two others (the first and last may be the ends of longer words), each letters and digits
    only. Stored text holds no markup, so PostgreSQL's parser splits such a word the same way
    inside a text as alone: every text the phrase matches holds its lexemes."""
    return [word for word in term.split(" ")[1:-1] if word.isalnum()]


async def _word_candidates(session: AsyncSession, term: str) -> list[uuid.UUID] | None:
    """The videos holding every whole word of the phrase, read through the word index, or
    None when there is no such word or too many videos hold them (the trigram index then
    serves the search alone). A trigram scan for a phrase of common words reads every posting
    list it names (~20 ms at a million videos, even for one match); a rare word's takes ~1."""
    words = whole_words(term)
    if not words or session.get_bind().dialect.name != "postgresql":
        return None
    values = {"words": " ".join(words), "cap": WORD_CANDIDATES + 1}
    found = list(await session.scalars(_WORD_MATCHES, values))
    return found if len(found) <= WORD_CANDIDATES else None


@dataclass(frozen=True)
class _ListShape:
    """What a video list's videos depend on, besides values bound when they run. (Its page
    also depends on whether it starts after a cursor: `_list_statements`.)"""

    viewer: ViewerShape
    tag: bool = False
    category: bool = False
    author: bool = False
    all_statuses: bool = False  # an author's own list (or an admin's look at one): every status


@dataclass(frozen=True)
class _ListParts:
    conditions: tuple[ColumnElement[bool], ...]
    ids: Select[Any]  # the matching videos' ids, joined as the page is
    page: Select[Any]  # their cards, not yet ordered nor limited
    created: Any  # the (time, id) columns the list is ordered and paged by
    video_id: Any


@functools.lru_cache(maxsize=256)
def _list_parts(shape: _ListShape) -> _ListParts:
    """A video list's conditions and joins, built once per shape; the viewer's id and the
    filters are bound (`viewer_id`, `author_id`, `category`, `tag`: `_list_values`)."""
    viewer = viewer_slot(shape.viewer)
    conditions = [video_visible(viewer)]
    # Lists show ready videos; an author listing her own (or an admin listing anyone's) also
    # sees those still processing or failed.
    if not shape.all_statuses:
        conditions.append(Video.status == "ready")
    if shape.author:
        conditions.append(Video.author_id == bindparam("author_id"))
    else:
        conditions.extend(unmuted_authors(viewer))
    if shape.category:
        conditions.append(Video.category == bindparam("category"))
    ids = select(Video.id).join(User, User.id == Video.author_id)
    page = card_query()
    created, video_id = Video.created_at, Video.id
    if shape.tag:
        # The walk follows the tag's own index (`video_tags (tag, video_created_at)`).
        on_tag = and_(VideoTag.video_id == Video.id, VideoTag.tag == bindparam("tag"))
        ids = ids.join(VideoTag, on_tag)
        page = page.join(VideoTag, on_tag)
        created, video_id = VideoTag.video_created_at, VideoTag.video_id
    return _ListParts(tuple(conditions), ids, page, created, video_id)


@functools.lru_cache(maxsize=256)
def _list_statements(shape: _ListShape, after_cursor: bool) -> tuple[Select[Any], Select[Any]]:
    """An unsearched list's count (capped) and page, built once per shape: building them and
    their cache keys was a tenth of a list's CPU, more for a signed-in viewer's."""
    parts = _list_parts(shape)
    page = bound_keyset_page(
        parts.page.where(*parts.conditions),
        parts.created,
        parts.video_id,
        after_cursor=after_cursor,
    )
    return _capped_count(parts), page


def _capped_count(parts: _ListParts) -> Select[Any]:
    """`pagination.total`: the matching videos counted up to the cap (`cap` bound)."""
    capped = parts.ids.where(*parts.conditions).limit(_CAP).subquery()
    return select(func.count()).select_from(capped)


def _list_values(
    viewer: User | None, filters: VideoFilters, *, limit: int, offset: int, cursor: Cursor | None
) -> tuple[_ListShape, dict[str, Any]]:
    all_statuses = (
        filters.author_id is not None
        and viewer is not None
        and (filters.author_id == viewer.id or is_admin(viewer))
    )
    shape = _ListShape(
        viewer=viewer_shape(viewer),
        tag=bool(filters.tag),
        category=bool(filters.category),
        author=filters.author_id is not None,
        all_statuses=all_statuses,
    )
    values = {**viewer_values(viewer), **keyset_values(limit=limit, offset=offset, cursor=cursor)}
    if filters.author_id is not None:
        values["author_id"] = filters.author_id
    if filters.category:
        values["category"] = normalize_tag(filters.category)
    if filters.tag:
        values["tag"] = normalize_tag(filters.tag)
    return shape, values


def search_term(filters: VideoFilters) -> str | None:
    """The `search` filter as matched: its words lower-cased, one space apart."""
    term = " ".join((filters.search or "").split()).lower()
    return term or None


async def list_videos(
    session: AsyncSession,
    viewer: User | None,
    filters: VideoFilters,
    *,
    limit: int,
    offset: int,
    cursor: Cursor | None,
) -> VideoPage:
    """Newest first. After a `cursor`, keyset (no OFFSET scan). Two queries (count, page).

    With a tag, the walk follows the tag's own index (`video_tags (tag, video_created_at)`),
    so a rare tag costs as little as a common one.

    With a search, the first query reads the matching ids themselves (at most COUNT_CAP + 1):
    when they are all there, the page is taken among them by primary key, and the substring
    match (a trigram index scan, the costly part of a search) runs once, not once for the
    count and again for the page. Past the cap, the page query matches as any list does
    (newest first, stopping at the page).
    """
    shape, values = _list_values(viewer, filters, limit=limit, offset=offset, cursor=cursor)
    term = search_term(filters)
    if term is None:
        count, query = _list_statements(shape, cursor is not None)
        total = await session.scalar(count, {**values, "cap": COUNT_CAP}) or 0
    else:
        parts = _list_parts(shape)
        search = _search_condition(session, term)
        candidates = await _word_candidates(session, term)
        if candidates is not None:
            search = and_(Video.id.in_(candidates), search)
        ids = parts.ids.where(*parts.conditions, search).limit(COUNT_CAP + 1)
        matched = list(await session.scalars(ids, values))
        total = min(len(matched), COUNT_CAP)
        # Every match known: the page is among them, the other rules checked again.
        among = Video.id.in_(matched) if len(matched) <= COUNT_CAP else search
        query = bound_keyset_page(
            parts.page.where(*parts.conditions, among),
            parts.created,
            parts.video_id,
            after_cursor=cursor is not None,
        )
    rows = [VideoCard(*row) for row in await session.execute(query, values)]
    rows, next_cursor = cut_page(rows, limit, position=lambda card: (card.created_at, card.id))
    return VideoPage(rows, total, next_cursor)


@functools.cache
def _trending_statements(shape: ViewerShape) -> tuple[Select[Any], Select[Any]]:
    """The trending list's count and page, built once per viewer shape (`viewer_id`, `limit`
    and `offset` bound): building them and their cache keys was a tenth of the list's time."""
    parts = _list_parts(_ListShape(viewer=shape))  # the plain list's videos: ready, visible
    page = parts.page.where(*parts.conditions).order_by(
        Video.trending_score.desc(), Video.created_at.desc(), Video.id.desc()
    )
    return _capped_count(parts), bound_offset_page(page)


async def list_trending(
    session: AsyncSession, viewer: User | None, *, limit: int, offset: int
) -> VideoPage:
    """Ready videos by trending score (then newest): the ranked list, page by page."""
    count, page = _trending_statements(viewer_shape(viewer))
    values = {**viewer_values(viewer), "cap": COUNT_CAP}
    total = await session.scalar(count, values)
    rows = await session.execute(page, {**values, "limit": limit, "offset": offset})
    return VideoPage([VideoCard(*row) for row in rows], total or 0, None)


async def videos_in_order(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[VideoCard]:
    """The videos of `ids` with their authors, in that order (one query)."""
    if not ids:
        return []
    found = {
        row.id: VideoCard(*row)
        for row in await session.execute(card_query().where(Video.id.in_(ids)))
    }
    return [found[video_id] for video_id in ids if video_id in found]


# --- writing -------------------------------------------------------------------------------


async def _replace_tags(session: AsyncSession, video: Video, tags: Sequence[str]) -> None:
    await session.execute(delete(VideoTag).where(VideoTag.video_id == video.id))
    if tags:
        now = utcnow()
        rows = [
            {
                "id": uuid.uuid4(),
                "video_id": video.id,
                "video_created_at": video.created_at,
                "tag": tag,
                "created_at": now,
            }
            for tag in tags
        ]
        await session.execute(insert(VideoTag), rows)


async def _tags_of(session: AsyncSession, video_id: uuid.UUID) -> list[str]:
    found = await session.scalars(
        select(VideoTag.tag).where(VideoTag.video_id == video_id).order_by(VideoTag.tag)
    )
    return list(found)


def _enqueue_processing(session: AsyncSession, video_id: uuid.UUID) -> None:
    from peal.videos.tasks import process_video

    enqueue_job(session, process_video, str(video_id))


async def create_video(session: AsyncSession, author: User, body: VideoCreate) -> Video:
    """A video from the author's own completed upload; processed by a job after commit."""
    upload = await resolve_owned_upload(
        session, body.video_url, author.id, "video", field="videoUrl"
    )
    if upload.in_use:
        raise Conflict("This upload already belongs to a video", code="upload_in_use")
    thumbnail_url = None
    used = [upload.id]
    if body.thumbnail_url is not None:
        thumbnail = await resolve_owned_upload(
            session, body.thumbnail_url, author.id, "image", field="thumbnailUrl"
        )
        thumbnail_url = thumbnail.url
        used.append(thumbnail.id)  # like the video file: not deletable while the video uses it
    video = Video(
        id=uuid.uuid4(),
        search_text=search_text_of(body.title, body.description, body.tags),
        title=body.title,
        description=body.description,
        category=body.category,
        video_url=upload.url or upload.key,
        video_key=upload.key,
        thumbnail_url=thumbnail_url,
        status="processing",
        author_id=author.id,
    )
    session.add(video)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # the same upload used twice at the same moment
        raise Conflict("This upload already belongs to a video", code="upload_in_use") from exc
    await _replace_tags(session, video, body.tags)
    await mark_in_use(session, used)
    _enqueue_processing(session, video.id)
    return video


async def _own_video(
    session: AsyncSession, video_id: uuid.UUID, user: User, *, admin_may: bool
) -> tuple[Video, User]:
    video, author = await get_visible_video(session, video_id, user, lock=True)
    if video.author_id != user.id and not (admin_may and is_admin(user)):
        raise Forbidden("Only the author can change this video", code="not_author")
    return video, author


async def update_video(
    session: AsyncSession, video_id: uuid.UUID, user: User, body: VideoUpdate
) -> tuple[Video, User]:
    """Change the whitelisted fields present in `body` (author only)."""
    video, author = await _own_video(session, video_id, user, admin_may=False)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    stale_keys: list[str] = []
    if "thumbnail_url" in changes:
        new_url = changes.pop("thumbnail_url")
        if new_url is not None:
            thumbnail = await resolve_owned_upload(
                session, new_url, user.id, "image", field="thumbnailUrl"
            )
            new_url = thumbnail.url
            await mark_in_use(session, [thumbnail.id])
        if new_url != video.thumbnail_url:
            if video.thumbnail_key:  # the frame we made is no longer used
                stale_keys.append(video.thumbnail_key)
                video.thumbnail_key = None
            video.thumbnail_url = new_url
    tags = changes.pop("tags", None)
    if tags is not None:
        await _replace_tags(session, video, tags)
    for field, value in changes.items():
        setattr(video, field, value)
    if tags is not None or {"title", "description"} & changes.keys():
        current = tags if tags is not None else await _tags_of(session, video.id)
        video.search_text = search_text_of(video.title, video.description, current)
    video.updated_at = utcnow()
    await session.flush()
    await forget_files(session, stale_keys)
    return video, author


async def delete_video(session: AsyncSession, video_id: uuid.UUID, user: User) -> None:
    """Delete (author or admin); its files go in a job after commit."""
    video, _author = await _own_video(session, video_id, user, admin_may=True)
    keys = [key for key in (video.video_key, video.thumbnail_key) if key]
    await session.delete(video)
    await session.flush()
    await forget_files(session, keys)


# --- likes, views, shares ------------------------------------------------------------------


async def _bump(session: AsyncSession, video_id: uuid.UUID, column: Any, delta: int) -> int:
    """`UPDATE videos SET x = x + delta` in the caller's transaction; the new value."""
    new_value = await session.scalar(
        update(Video)
        .where(Video.id == video_id)
        # A counter is not an edit: `updatedAt` stays what the author last changed.
        .values({column: column + delta, Video.updated_at: Video.updated_at})
        .returning(column)
    )
    return int(new_value or 0)


async def _current(session: AsyncSession, video_id: uuid.UUID, column: Any) -> int:
    return int(await session.scalar(select(column).where(Video.id == video_id)) or 0)


async def like_video(session: AsyncSession, video_id: uuid.UUID, user: User) -> tuple[bool, int]:
    """Idempotent: liking twice counts once. Notifies the author (not for one's own video)."""
    video, _author = await get_ready_video(session, video_id, user)
    inserted = await session.execute(
        insert_ignoring_duplicates(session, VideoLike).values(
            id=uuid.uuid4(), video_id=video.id, user_id=user.id, created_at=utcnow()
        )
    )
    if rowcount(inserted) != 1:
        return True, await _current(session, video.id, Video.likes_count)
    count = await _bump(session, video.id, Video.likes_count, 1)
    await notify(
        session,
        video.author_id,
        "like",
        "New like",
        f"{user.name} liked your video \u201c{video.title}\u201d",
        {"videoId": video.id, "userId": user.id},
        actor_id=user.id,
    )
    return True, count


async def unlike_video(session: AsyncSession, video_id: uuid.UUID, user: User) -> tuple[bool, int]:
    video, _author = await get_visible_video(session, video_id, user)
    removed = await session.execute(
        delete(VideoLike).where(VideoLike.video_id == video.id, VideoLike.user_id == user.id)
    )
    if rowcount(removed) != 1:
        return False, await _current(session, video.id, Video.likes_count)
    return False, await _bump(session, video.id, Video.likes_count, -1)


def viewer_key(user: User | None, ip: str, salt: str) -> str:
    """Who is viewing or sharing: the user id, or a salted hash of the IP (never stored raw).

    Not the User-Agent: a client picks its own, so rotating it would count each request anew.
    """
    if user is not None:
        return f"u:{user.id}"
    digest = hashlib.sha256(f"{salt}\n{ip}".encode()).hexdigest()
    return f"a:{digest}"


async def record_view(
    session: AsyncSession, video_id: uuid.UUID, viewer: User | None, key: str
) -> tuple[bool, int]:
    """Count a view unless this viewer's was counted in this clock hour (UTC).

    The unique key (video, viewer, hour) decides under any concurrency: only the request whose
    row went in moves the counter.
    """
    video, _author = await get_ready_video(session, video_id, viewer)
    inserted = await session.execute(
        insert_ignoring_duplicates(session, VideoView).values(
            id=uuid.uuid4(),
            video_id=video.id,
            viewer_key=key,
            hour=int(time.time() // 3600),
            created_at=utcnow(),
        )
    )
    if rowcount(inserted) != 1:
        return False, await _current(session, video.id, Video.views_count)
    return True, await _bump(session, video.id, Video.views_count, 1)


async def record_share(
    session: AsyncSession, video_id: uuid.UUID, viewer: User | None, key: str
) -> int:
    """Count a share unless this sharer (`viewer_key`) shared this video this UTC day.

    The unique key (video, sharer, day) decides under any concurrency, as for views.
    """
    video, _author = await get_ready_video(session, video_id, viewer)
    inserted = await session.execute(
        insert_ignoring_duplicates(session, VideoShare).values(
            id=uuid.uuid4(),
            video_id=video.id,
            user_id=viewer.id if viewer else None,
            sharer_key=key,
            day=int(time.time() // 86400),
            created_at=utcnow(),
        )
    )
    if rowcount(inserted) != 1:
        return await _current(session, video.id, Video.shares_count)
    return await _bump(session, video.id, Video.shares_count, 1)


# --- account deletion and export -----------------------------------------------------------

_IN_CHUNK = 500  # ids per IN list, well below SQLite's and asyncpg's parameter limits


async def purge_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Delete what a person made or did in videos, keeping the others' counters right.

    Own videos go with their tags, likes, comments and views (ON DELETE CASCADE); their files
    go with the person's whole storage prefix (`uploads.purge_user`). Counter updates keep
    `updated_at`: losing a like or a comment is not an edit of the video.
    """
    await session.execute(
        delete(Video).where(Video.author_id == user_id), execution_options=NO_SYNC
    )

    liked = select(VideoLike.video_id).where(VideoLike.user_id == user_id)
    await session.execute(
        update(Video)
        .where(Video.id.in_(liked.scalar_subquery()))
        .values(likes_count=Video.likes_count - 1, updated_at=Video.updated_at),
        execution_options=NO_SYNC,
    )
    await session.execute(
        delete(VideoLike).where(VideoLike.user_id == user_id), execution_options=NO_SYNC
    )
    # What she watched is hers too; the view counts stay (they are anonymous totals).
    await session.execute(
        delete(VideoView).where(VideoView.viewer_key == f"u:{user_id}"), execution_options=NO_SYNC
    )
    await session.execute(
        update(VideoShare).where(VideoShare.user_id == user_id).values(user_id=None),
        execution_options=NO_SYNC,
    )

    # A comment takes its replies with it (CASCADE), so each video's count is recounted
    # afterwards rather than decremented. `comments_count` counts replies too.
    video_ids = list(
        (
            await session.scalars(
                select(VideoComment.video_id).where(VideoComment.user_id == user_id).distinct()
            )
        ).all()
    )
    # Parents that survive lose exactly their direct replies written by this user.
    reply = aliased(VideoComment)
    own_replies = (
        select(func.count())
        .select_from(reply)
        .where(reply.parent_id == VideoComment.id, reply.user_id == user_id)
        .scalar_subquery()
    )
    replied_to = (
        select(reply.parent_id)
        .where(reply.user_id == user_id, reply.parent_id.is_not(None))
        .scalar_subquery()
    )
    await session.execute(
        update(VideoComment)
        .where(VideoComment.id.in_(replied_to), VideoComment.user_id != user_id)
        .values(replies_count=VideoComment.replies_count - own_replies),
        execution_options=NO_SYNC,
    )
    await session.execute(
        delete(VideoComment).where(VideoComment.user_id == user_id), execution_options=NO_SYNC
    )
    remaining = (
        select(func.count())
        .select_from(VideoComment)
        .where(VideoComment.video_id == Video.id)
        .scalar_subquery()
    )
    for start in range(0, len(video_ids), _IN_CHUNK):
        await session.execute(
            update(Video)
            .where(Video.id.in_(video_ids[start : start + _IN_CHUNK]))
            .values(comments_count=remaining, updated_at=Video.updated_at),
            execution_options=NO_SYNC,
        )


async def export_user(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    """Her videos (with the comments on them she can see), comments she wrote, her likes.

    Commenters appear by id and name only, and only those she could see in the app."""
    owner = await session.get(User, user_id)
    videos = list(
        (
            await session.scalars(
                select(Video).where(Video.author_id == user_id).order_by(Video.created_at)
            )
        ).all()
    )
    comments_on: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    if videos:
        rows = await session.execute(
            select(VideoComment, User.name)
            .join(User, User.id == VideoComment.user_id)
            .where(
                VideoComment.video_id.in_([video.id for video in videos]),
                profile_visible(owner),
            )
            .order_by(VideoComment.created_at, VideoComment.id)
        )
        for comment, name in rows:
            comments_on[comment.video_id].append(
                {
                    "id": str(comment.id),
                    "user": person(comment.user_id, name),
                    "content": comment.content,
                    "parentId": jsonable(comment.parent_id),
                    "createdAt": jsonable(comment.created_at),
                }
            )
    written = await session.scalars(
        select(VideoComment)
        .where(VideoComment.user_id == user_id)
        .order_by(VideoComment.created_at, VideoComment.id)
    )
    liked = await session.scalars(
        select(VideoLike.video_id).where(VideoLike.user_id == user_id).order_by(VideoLike.video_id)
    )
    return {
        "videos": [
            {**row_dict(video, exclude={"search_text"}), "comments": comments_on[video.id]}
            for video in videos
        ],
        "commentsWritten": [
            row_dict(comment, exclude={"replies_count"}) for comment in written.all()
        ],
        "likedVideoIds": [str(video_id) for video_id in liked.all()],
    }

"""HTTP routes of videos: lists, the feed, CRUD, likes, comments, views and shares."""

from __future__ import annotations

import hmac
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from peal.auth.dependencies import CurrentUser, OptionalUser
from peal.config import Settings
from peal.core.ratelimit import client_ip
from peal.core.routing import path_id
from peal.core.schemas import (
    CursorParams,
    Page,
    PageParams,
    Pagination,
    cursor_params,
    error_responses,
    page_params,
)
from peal.db import read_only
from peal.deps import SessionDep, SettingsDep
from peal.users import service as users_service
from peal.users.models import User
from peal.videos import comments, ranking, service
from peal.videos.schemas import (
    CommentCreate,
    CommentEnvelope,
    CommentOut,
    LikeOut,
    ShareOut,
    VideoCreate,
    VideoEnvelope,
    VideoOut,
    VideoUpdate,
    ViewOut,
)

router = APIRouter(prefix="/api/videos", tags=["Videos"])
users_router = APIRouter(prefix="/api/users", tags=["Videos"])

Pages = Annotated[PageParams, Depends(page_params)]
CursorPages = Annotated[CursorParams, Depends(cursor_params)]
Filter = Annotated[str | None, Query(max_length=100)]
VideoId = Annotated[uuid.UUID, path_id("videoId", "video")]
CommentId = Annotated[uuid.UUID, path_id("commentId", "comment")]
UserId = Annotated[uuid.UUID, path_id("userId", "user")]


def _page(params: PageParams, page: service.VideoPage, data: list[VideoOut]) -> Page[VideoOut]:
    return Page[VideoOut](data=data, pagination=params.pagination(page.total, page.next_cursor))


@router.get(
    "",
    response_model=Page[VideoOut],
    summary="List videos",
    description="Ready videos, newest first, with optional filters. Follow "
    "`pagination.nextCursor` (`cursor=`) for keyset paging, or use `page`. Listing your own "
    "videos (`authorId` = you) also shows those still processing or failed.",
)
@read_only
async def list_videos(
    session: SessionDep,
    viewer: OptionalUser,
    params: CursorPages,
    category: Filter = None,
    tag: Filter = None,
    author_id: Annotated[uuid.UUID | None, Query(alias="authorId")] = None,
    search: Filter = None,
) -> Page[VideoOut]:
    filters = service.VideoFilters(category=category, tag=tag, author_id=author_id, search=search)
    page = await service.list_videos(
        session,
        viewer,
        filters,
        limit=params.limit,
        offset=params.offset,
        cursor=params.cursor,
    )
    return _page(params, page, await service.present_cards(session, page.rows, viewer))


@router.get(
    "/trending",
    response_model=Page[VideoOut],
    summary="Trending videos",
    description="Ready videos ordered by their trending score (recent likes, comments, shares "
    "and views, decayed by age; recomputed every few minutes), then newest.",
)
@read_only
async def trending(session: SessionDep, viewer: OptionalUser, params: Pages) -> Page[VideoOut]:
    page = await service.list_trending(session, viewer, limit=params.limit, offset=params.offset)
    return _page(params, page, await service.present_cards(session, page.rows, viewer))


@router.get(
    "/feed",
    response_model=Page[VideoOut],
    summary="Your feed",
    description="Signed in: videos from people you follow, matching your interests and "
    "skills, and trending, mixed so one creator does not fill the screen, without those you "
    "liked. Anonymous: trending, then newest. Follow `pagination.nextCursor`.",
)
@read_only
async def feed(
    session: SessionDep,
    viewer: OptionalUser,
    limit: Annotated[int, Query(ge=1, le=100, description="Items per page (1..100)")] = 20,
    cursor: Annotated[str | None, Query(max_length=200, description="From `nextCursor`")] = None,
) -> Page[VideoOut]:
    position = ranking.FeedCursor.decode(cursor) if cursor else None
    page = await ranking.feed_page(session, viewer, limit=limit, cursor=position)
    rows = await service.videos_in_order(session, page.ids)
    offset = position.offset if position else 0
    pagination = Pagination.of(
        page=offset // limit + 1,
        limit=limit,
        total=page.total,
        next_cursor=page.next_cursor,
        by_cursor=True,
    )
    return Page[VideoOut](
        data=await service.present_cards(session, rows, viewer), pagination=pagination
    )


@router.post(
    "",
    status_code=201,
    response_model=VideoEnvelope,
    summary="Publish a video",
    description="From one of your completed uploads (`videoUrl` = the `url` that "
    "`/api/uploads/complete` answered). The video starts `processing`; you are notified "
    "when it is ready.",
    responses=error_responses(401, 409),
)
async def create_video(body: VideoCreate, session: SessionDep, user: CurrentUser) -> VideoEnvelope:
    video = await service.create_video(session, user, body)
    return VideoEnvelope(video=await service.present_video(session, video, user, user))


@router.get(
    "/{videoId}",
    response_model=VideoEnvelope,
    summary="A video",
    responses=error_responses(404),
)
async def get_video(video_id: VideoId, session: SessionDep, viewer: OptionalUser) -> VideoEnvelope:
    video, author = await service.get_visible_video(session, video_id, viewer)
    return VideoEnvelope(video=await service.present_video(session, video, author, viewer))


@router.put(
    "/{videoId}",
    response_model=VideoEnvelope,
    summary="Edit your video",
    description="Author only. Changes only the fields sent among `title`, `description`, "
    "`category`, `tags`, `thumbnailUrl` (one of your image uploads); others are ignored.",
    responses=error_responses(401, 403, 404),
)
async def update_video(
    video_id: VideoId, body: VideoUpdate, session: SessionDep, user: CurrentUser
) -> VideoEnvelope:
    video, author = await service.update_video(session, video_id, user, body)
    return VideoEnvelope(video=await service.present_video(session, video, author, user))


@router.delete(
    "/{videoId}",
    status_code=204,
    response_class=Response,
    summary="Delete a video",
    description="The author or an admin. Its likes, comments and stored files go with it.",
    responses=error_responses(401, 403, 404),
)
async def delete_video(video_id: VideoId, session: SessionDep, user: CurrentUser) -> Response:
    await service.delete_video(session, video_id, user)
    return Response(status_code=204)


@router.post(
    "/{videoId}/like",
    response_model=LikeOut,
    summary="Like a video",
    description="Idempotent: liking again changes nothing.",
    responses=error_responses(401, 404, 409),
)
async def like(video_id: VideoId, session: SessionDep, user: CurrentUser) -> LikeOut:
    liked, count = await service.like_video(session, video_id, user)
    return LikeOut(liked=liked, likes_count=count)


@router.delete(
    "/{videoId}/like",
    response_model=LikeOut,
    summary="Unlike a video",
    description="Idempotent: unliking a video you do not like changes nothing.",
    responses=error_responses(401, 404),
)
async def unlike(video_id: VideoId, session: SessionDep, user: CurrentUser) -> LikeOut:
    liked, count = await service.unlike_video(session, video_id, user)
    return LikeOut(liked=liked, likes_count=count)


@router.get(
    "/{videoId}/comments",
    response_model=Page[CommentOut],
    summary="Comments of a video",
    description="Top-level comments, newest first; with `parentId`, the replies to that "
    "comment, oldest first. Follow `pagination.nextCursor` (`cursor=`).",
    responses=error_responses(404),
)
async def list_comments(
    video_id: VideoId,
    session: SessionDep,
    viewer: OptionalUser,
    params: CursorPages,
    parent_id: Annotated[uuid.UUID | None, Query(alias="parentId")] = None,
) -> Page[CommentOut]:
    page = await comments.list_comments(
        session,
        video_id,
        viewer,
        parent_id=parent_id,
        limit=params.limit,
        offset=params.offset,
        cursor=params.cursor,
    )
    return Page[CommentOut](
        data=[comments.present_comment(comment, user) for comment, user in page.rows],
        pagination=params.pagination(page.total, page.next_cursor),
    )


@router.post(
    "/{videoId}/comments",
    status_code=201,
    response_model=CommentEnvelope,
    summary="Comment on a video",
    description="`parentId` replies to a comment of the same video.",
    responses=error_responses(401, 404, 409),
)
async def add_comment(
    video_id: VideoId, body: CommentCreate, session: SessionDep, user: CurrentUser
) -> CommentEnvelope:
    comment = await comments.add_comment(session, video_id, user, body.content, body.parent_id)
    return CommentEnvelope(comment=comments.present_comment(comment, user))


@router.delete(
    "/{videoId}/comments/{commentId}",
    status_code=204,
    response_class=Response,
    summary="Delete a comment",
    description="By its author, the video's author or an admin. Its replies go with it.",
    responses=error_responses(401, 403, 404),
)
async def delete_comment(
    video_id: VideoId, comment_id: CommentId, session: SessionDep, user: CurrentUser
) -> Response:
    await comments.delete_comment(session, video_id, comment_id, user)
    return Response(status_code=204)


def _view_salt(settings: Settings) -> str:
    if settings.view_hash_salt:
        return settings.view_hash_salt
    return hmac.new(settings.jwt_secret.encode(), b"peal:view-salt:v1", "sha256").hexdigest()


def _viewer_key(request: Request, settings: Settings, viewer: User | None) -> str:
    ip = client_ip(request, settings.trusted_proxies)
    return service.viewer_key(viewer, ip, _view_salt(settings))


@router.post(
    "/{videoId}/view",
    response_model=ViewOut,
    summary="Count a view",
    description="At most one view per viewer per video per hour: the signed-in user, or "
    "(anonymous) a salted hash of the IP address.",
    responses=error_responses(404, 409),
)
async def view(
    video_id: VideoId,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: OptionalUser,
) -> ViewOut:
    counted, count = await service.record_view(
        session, video_id, viewer, _viewer_key(request, settings, viewer)
    )
    return ViewOut(counted=counted, views_count=count)


@router.post(
    "/{videoId}/share",
    response_model=ShareOut,
    summary="Count a share",
    description="At most one share per sharer per video per day (UTC): the signed-in user, "
    "or (anonymous) a salted hash of the IP address. Answers the count either way.",
    responses=error_responses(404, 409),
)
async def share(
    video_id: VideoId,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    viewer: OptionalUser,
) -> ShareOut:
    key = _viewer_key(request, settings, viewer)
    return ShareOut(shares_count=await service.record_share(session, video_id, viewer, key))


@users_router.get(
    "/{userId}/videos",
    response_model=Page[VideoOut],
    summary="A user's videos",
    description="Ready videos, newest first (your own list also shows processing and "
    "failed ones). 404 for a user you cannot see.",
    responses=error_responses(404),
)
@read_only
async def user_videos(
    user_id: UserId,
    session: SessionDep,
    viewer: OptionalUser,
    params: CursorPages,
) -> Page[VideoOut]:
    author = await users_service.get_visible_user(session, user_id, viewer)
    page = await service.list_videos(
        session,
        viewer,
        service.VideoFilters(author_id=author.id),
        limit=params.limit,
        offset=params.offset,
        cursor=params.cursor,
    )
    return _page(params, page, await service.present_cards(session, page.rows, viewer))

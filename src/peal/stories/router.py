"""HTTP routes of success stories: parse, call the service, shape the answer."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from peal.auth.dependencies import CurrentUser, OptionalUser, require_role
from peal.core.routing import path_id, put_and_patch
from peal.core.schemas import CursorParams, Page, cursor_params, error_responses
from peal.deps import SessionDep
from peal.stories import service
from peal.stories.schemas import CelebrationOut, StoryCreate, StoryEnvelope, StoryOut, StoryUpdate
from peal.users.models import User

router = APIRouter(prefix="/api/stories", tags=["Stories"], responses=error_responses(401))

StoryId = Annotated[uuid.UUID, path_id("storyId", "story")]
Cursors = Annotated[CursorParams, Depends(cursor_params)]
Storyteller = Annotated[User, Depends(require_role(*service.STORYTELLER_ROLES))]


@router.get(
    "",
    response_model=Page[StoryOut],
    summary="List success stories",
    responses=error_responses(),
)
async def list_stories(
    session: SessionDep,
    viewer: OptionalUser,
    pages: Cursors,
    author_id: Annotated[
        uuid.UUID | None, Query(alias="authorId", description="Only this author's stories")
    ] = None,
    featured: Annotated[bool | None, Query(description="Only featured (or unfeatured)")] = None,
    search: Annotated[
        str | None, Query(max_length=100, description="Part of the text, case-insensitive")
    ] = None,
) -> Page[StoryOut]:
    """Newest first, with a keyset `cursor`."""
    filters = service.StoryFilters(author_id=author_id, featured=featured, search=search)
    items, total, next_cursor = await service.list_stories(
        session, filters, viewer, limit=pages.limit, offset=pages.offset, cursor=pages.cursor
    )
    return Page(data=items, pagination=pages.pagination(total, next_cursor))


# Declared before "/{storyId}" so that "featured" is never read as an id.
@router.get(
    "/featured",
    response_model=StoryEnvelope,
    summary="The featured story",
    responses=error_responses(404),
)
async def featured_story(session: SessionDep, viewer: OptionalUser) -> StoryEnvelope:
    """The latest story an admin featured; when none is, the most celebrated recent one."""
    return StoryEnvelope(story=await service.featured_story(session, viewer))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=StoryEnvelope,
    summary="Share a success story",
    responses=error_responses(403),
)
async def create_story(body: StoryCreate, session: SessionDep, user: Storyteller) -> StoryEnvelope:
    """Images must be ones you uploaded. Naming your funding request in `requestId` sends the
    story to everyone who gave to it."""
    story = await service.create_story(session, user, body)
    return StoryEnvelope(story=await service.present_story(session, story, user, user))


@router.get(
    "/{storyId}",
    response_model=StoryEnvelope,
    summary="Get a success story",
    responses=error_responses(404),
)
async def get_story(story_id: StoryId, session: SessionDep, viewer: OptionalUser) -> StoryEnvelope:
    story, author = await service.get_story(session, story_id, viewer)
    return StoryEnvelope(story=await service.present_story(session, story, author, viewer))


@put_and_patch(
    router,
    "/{storyId}",
    response_model=StoryEnvelope,
    summary="Update a success story",
    responses=error_responses(403, 404),
)
async def update_story(
    story_id: StoryId, body: StoryUpdate, session: SessionDep, user: CurrentUser
) -> StoryEnvelope:
    """By the author (or an admin); only the fields sent change. `isFeatured` is taken from
    admins only."""
    story, author = await service.update_story(
        session, story_id, user, body.model_dump(exclude_unset=True)
    )
    return StoryEnvelope(story=await service.present_story(session, story, author, user))


@router.delete(
    "/{storyId}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete a success story",
    responses=error_responses(403, 404),
)
async def delete_story(story_id: StoryId, session: SessionDep, user: CurrentUser) -> Response:
    await service.delete_story(session, story_id, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{storyId}/celebrate",
    response_model=CelebrationOut,
    summary="Celebrate a story",
    responses=error_responses(404),
)
async def celebrate(story_id: StoryId, session: SessionDep, user: CurrentUser) -> CelebrationOut:
    """Idempotent: celebrating twice counts once. The author is notified the first time."""
    count = await service.celebrate(session, story_id, user)
    return CelebrationOut(celebrated=True, celebrations_count=count)


@router.delete(
    "/{storyId}/celebrate",
    response_model=CelebrationOut,
    summary="Stop celebrating a story",
    responses=error_responses(404),
)
async def uncelebrate(story_id: StoryId, session: SessionDep, user: CurrentUser) -> CelebrationOut:
    """Idempotent: removing a celebration you do not have changes nothing."""
    count = await service.uncelebrate(session, story_id, user)
    return CelebrationOut(celebrated=False, celebrations_count=count)

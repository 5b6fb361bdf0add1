"""HTTP routes of the users domain: parse, call the service, shape the answer."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response, status

from peal.auth import service as auth_service
from peal.auth.dependencies import CurrentUser, OptionalUser, is_admin
from peal.core.errors import ValidationFailed
from peal.core.ratelimit import enforce_email_change_quota
from peal.core.routing import path_id, put_and_patch
from peal.core.schemas import Page, PageParams, error_cases, error_responses, page_params
from peal.db import read_only
from peal.deps import RateLimiterDep, SessionDep, SettingsDep
from peal.flows.delete_account import delete_account
from peal.flows.follow_user import follow_user as start_following
from peal.uploads.service import resolve_image_url
from peal.users import service
from peal.users.schemas import (
    LABEL_MAX,
    FollowOut,
    InterestsBody,
    InterestsOut,
    SkillsBody,
    SkillsOut,
    UserEnvelope,
    UserOut,
    UserUpdate,
    check_email_address,
)

router = APIRouter(prefix="/api/users", tags=["Users"], responses=error_responses(401))

UserId = Annotated[uuid.UUID, path_id("userId", "user")]
Pages = Annotated[PageParams, Depends(page_params)]


@router.get(
    "",
    response_model=Page[UserOut],
    summary="List users",
    responses=error_responses(),
)
async def list_users(
    session: SessionDep,
    viewer: OptionalUser,
    pages: Pages,
    role: Annotated[Literal["woman", "sponsor", "admin"] | None, Query()] = None,
    skill: Annotated[
        str | None, Query(max_length=LABEL_MAX, description="Exact skill, case-insensitive")
    ] = None,
    interest: Annotated[
        str | None, Query(max_length=LABEL_MAX, description="Exact interest, case-insensitive")
    ] = None,
    location: Annotated[
        str | None, Query(max_length=255, description="Part of the location, case-insensitive")
    ] = None,
    search: Annotated[
        str | None, Query(max_length=100, description="Part of the name or bio, case-insensitive")
    ] = None,
    include_private: Annotated[
        bool,
        Query(alias="includePrivate", description="Admins only: list private profiles too"),
    ] = False,
) -> Page[UserOut]:
    """Public profiles, newest first. Banned and deleted users are never listed; private
    profiles only to an admin asking `includePrivate=true` (ignored for everyone else)."""
    filters = service.UserFilters(
        role=role,
        skill=skill,
        interest=interest,
        location=location,
        search=search,
        include_private=include_private and is_admin(viewer),
    )
    users, total = await service.list_users(
        session, filters, viewer, limit=pages.limit, offset=pages.offset
    )
    return Page(data=users, pagination=pages.pagination(total))


@router.get(
    "/{userId}",
    response_model=UserEnvelope,
    summary="Get a user's profile",
    responses=error_responses(404),
)
@read_only
async def get_user(user_id: UserId, session: SessionDep, viewer: OptionalUser) -> UserEnvelope:
    """`email` and `emailVerified` are shown only to the user and admins. A private, banned or
    deleted profile is 404 to everyone else."""
    user = await service.get_visible_user(session, user_id, viewer)
    return UserEnvelope(user=await auth_service.present_account(session, user, viewer))


UPDATE_RESPONSES = {
    **error_responses(403, 404, 429),
    409: error_cases(
        "The new email cannot be used",
        email_taken=auth_service.EMAIL_TAKEN_MESSAGE,
        password_required=auth_service.GOOGLE_ONLY_MESSAGE,
    ),
}


@put_and_patch(
    router,
    "/{userId}",
    response_model=UserEnvelope,
    summary="Update a profile",
    responses=UPDATE_RESPONSES,
)
async def update_user(
    user_id: UserId,
    body: UserUpdate,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    viewer: CurrentUser,
) -> UserEnvelope:
    """The user (or an admin) changes `name`, `bio`, `location`, `avatarUrl`, `isPublic`; only
    the fields sent change, and any other field (role, counters...) is ignored.
    `avatarUrl` is an image the user uploaded, or an https URL on an EXTERNAL_IMAGE_HOSTS host.

    `email`: the current address (compared case-insensitively) changes nothing. Another one
    starts a verified change: the answer still shows the current `email`, with the new one in
    `pendingEmail`; a link valid 24 hours is emailed to the new address, and the change applies
    when it is opened (`POST /api/auth/confirm-email-change`). A newer request replaces the
    link. 409 `email_taken` when another account has the address, 409 `password_required`
    for an account that signs in with Google only, 429 beyond
    `EMAIL_CHANGE_EMAILS_PER_HOUR` links per account or per address."""
    user = await service.get_user_for_change(session, user_id, viewer)
    changes = body.model_dump(exclude_unset=True)
    email = changes.pop("email", None)
    if email is not None and auth_service.is_email_change(user, email):
        try:
            email = check_email_address(email)
        except ValueError as exc:
            raise ValidationFailed("email", str(exc)) from exc
        await enforce_email_change_quota(limiter, str(user.id), email)
        await auth_service.request_email_change(session, settings, user, email)
    if changes.get("avatar_url"):
        changes["avatar_url"] = await resolve_image_url(
            session,
            changes["avatar_url"],
            user.id,
            settings.external_image_hosts,
            field="avatarUrl",
        )
    await service.update_profile(session, user, changes)
    return UserEnvelope(user=await auth_service.present_account(session, user, viewer))


@router.delete(
    "/{userId}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete an account",
    responses=error_responses(403, 404),
)
async def delete_user(
    user_id: UserId, session: SessionDep, settings: SettingsDep, viewer: CurrentUser
) -> Response:
    """The user (or an admin) deletes the account: personal data, content, follows, settings
    and sessions are purged; money records stay, attributed to an anonymised "Deleted user".
    The user's tokens stop working at once."""
    await delete_account(session, settings, user_id, viewer)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{userId}/skills",
    response_model=SkillsOut,
    summary="Get a user's skills",
    responses=error_responses(404),
)
async def get_skills(user_id: UserId, session: SessionDep, viewer: OptionalUser) -> SkillsOut:
    user = await service.get_visible_user(session, user_id, viewer)
    return SkillsOut(skills=await service.get_skills(session, user.id))


@router.put(
    "/{userId}/skills",
    response_model=SkillsOut,
    summary="Replace a user's skills",
    responses=error_responses(403, 404),
)
async def replace_skills(
    user_id: UserId, body: SkillsBody, session: SessionDep, viewer: CurrentUser
) -> SkillsOut:
    """At most 20 skills of 1..50 characters; stored lower-cased, repeats dropped."""
    user = await service.get_user_for_change(session, user_id, viewer)
    return SkillsOut(skills=await service.replace_skills(session, user.id, body.skills))


@router.get(
    "/{userId}/interests",
    response_model=InterestsOut,
    summary="Get a user's interests",
    responses=error_responses(404),
)
async def get_interests(user_id: UserId, session: SessionDep, viewer: OptionalUser) -> InterestsOut:
    user = await service.get_visible_user(session, user_id, viewer)
    return InterestsOut(interests=await service.get_interests(session, user.id))


@router.put(
    "/{userId}/interests",
    response_model=InterestsOut,
    summary="Replace a user's interests",
    responses=error_responses(403, 404),
)
async def replace_interests(
    user_id: UserId, body: InterestsBody, session: SessionDep, viewer: CurrentUser
) -> InterestsOut:
    """At most 20 interests of 1..50 characters; stored lower-cased, repeats dropped."""
    user = await service.get_user_for_change(session, user_id, viewer)
    return InterestsOut(interests=await service.replace_interests(session, user.id, body.interests))


@router.get(
    "/{userId}/followers",
    response_model=Page[UserOut],
    summary="List a user's followers",
    responses=error_responses(404),
)
async def list_followers(
    user_id: UserId, session: SessionDep, viewer: OptionalUser, pages: Pages
) -> Page[UserOut]:
    """Newest follow first. Private profiles are listed only to the user and admins."""
    users, total = await service.list_follows(
        session, user_id, viewer, followers=True, limit=pages.limit, offset=pages.offset
    )
    return Page(data=users, pagination=pages.pagination(total))


@router.get(
    "/{userId}/following",
    response_model=Page[UserOut],
    summary="List the users a user follows",
    responses=error_responses(404),
)
async def list_following(
    user_id: UserId, session: SessionDep, viewer: OptionalUser, pages: Pages
) -> Page[UserOut]:
    """Newest follow first. Private profiles are listed only to the user and admins."""
    users, total = await service.list_follows(
        session, user_id, viewer, followers=False, limit=pages.limit, offset=pages.offset
    )
    return Page(data=users, pagination=pages.pagination(total))


@router.post(
    "/{userId}/follow",
    response_model=FollowOut,
    summary="Follow a user",
    responses=error_responses(400, 404),
)
async def follow_user(user_id: UserId, session: SessionDep, viewer: CurrentUser) -> FollowOut:
    """Idempotent: following twice changes nothing (and notifies once). Following yourself is
    400 `cannot_follow_self`."""
    count = await start_following(session, viewer, user_id)
    return FollowOut(following=True, followers_count=count)


@router.delete(
    "/{userId}/follow",
    response_model=FollowOut,
    summary="Unfollow a user",
    responses=error_responses(404),
)
async def unfollow_user(user_id: UserId, session: SessionDep, viewer: CurrentUser) -> FollowOut:
    """Idempotent: unfollowing someone you do not follow changes nothing."""
    count = await service.unfollow(session, viewer, user_id)
    return FollowOut(following=False, followers_count=count)

"""HTTP routes of funding requests and donations: parse, call the services, shape the answer."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from peal.auth.dependencies import CurrentUser, OptionalUser, require_role
from peal.config import Settings
from peal.core.idempotency import IdempotencyKeyHeader, idempotent_response
from peal.core.ratelimit import RateLimiter, enforce_user_limit
from peal.core.routing import path_id, put_and_patch
from peal.core.schemas import (
    CursorParams,
    Page,
    PageParams,
    cursor_params,
    error_responses,
    page_params,
)
from peal.db import read_only
from peal.deps import RateLimiterDep, SessionDep, SettingsDep
from peal.funding import donations, service
from peal.funding.models import FundingRequest
from peal.funding.schemas import (
    DonateBody,
    DonationOut,
    DonationResult,
    FundingRequestCreate,
    FundingRequestEnvelope,
    FundingRequestOut,
    FundingRequestUpdate,
    RequestStatus,
)
from peal.users.models import User
from peal.users.service import get_visible_user

router = APIRouter(tags=["Funding"], responses=error_responses(401))

RequestId = Annotated[uuid.UUID, path_id("requestId", "funding request")]
UserId = Annotated[uuid.UUID, path_id("userId", "user", example=2)]
Pages = Annotated[PageParams, Depends(page_params)]
Cursors = Annotated[CursorParams, Depends(cursor_params)]
Fundraiser = Annotated[User, Depends(require_role(*service.FUNDRAISER_ROLES))]


async def _envelope(
    session: SessionDep, request: FundingRequest, author: User, viewer: User | None
) -> FundingRequestEnvelope:
    return FundingRequestEnvelope(
        request=await service.request_detail(session, request, author, viewer)
    )


@router.get(
    "/api/requests",
    response_model=Page[FundingRequestOut],
    summary="List funding requests",
    responses=error_responses(),
)
@read_only
async def list_requests(
    session: SessionDep,
    viewer: OptionalUser,
    pages: Pages,
    request_status: Annotated[
        RequestStatus | None, Query(alias="status", description="Only requests in this status")
    ] = None,
    category: Annotated[
        str | None, Query(max_length=100, description="Exact category, case-insensitive")
    ] = None,
    author_id: Annotated[
        uuid.UUID | None, Query(alias="authorId", description="Only this author's requests")
    ] = None,
    search: Annotated[
        str | None,
        Query(max_length=100, description="Part of the title or description, case-insensitive"),
    ] = None,
) -> Page[FundingRequestOut]:
    """Newest first. A request past its deadline shows (and filters) as `expired`."""
    filters = service.RequestFilters(
        status=request_status, category=category, author_id=author_id, search=search
    )
    items, total = await service.list_requests(
        session, filters, viewer, limit=pages.limit, offset=pages.offset
    )
    return Page(data=items, pagination=pages.pagination(total))


@router.get(
    "/api/users/{userId}/requests",
    response_model=Page[FundingRequestOut],
    summary="A user's funding requests",
    tags=["Users"],
    responses=error_responses(404),
)
async def list_user_requests(
    user_id: UserId,
    session: SessionDep,
    viewer: OptionalUser,
    pages: Pages,
    request_status: Annotated[
        RequestStatus | None, Query(alias="status", description="Only requests in this status")
    ] = None,
) -> Page[FundingRequestOut]:
    """Newest first; 404 for a user you cannot see (private, banned or deleted)."""
    user = await get_visible_user(session, user_id, viewer)
    filters = service.RequestFilters(status=request_status, author_id=user.id)
    items, total = await service.list_requests(
        session, filters, viewer, limit=pages.limit, offset=pages.offset
    )
    return Page(data=items, pagination=pages.pagination(total))


@router.post(
    "/api/requests",
    status_code=status.HTTP_201_CREATED,
    response_model=FundingRequestEnvelope,
    summary="Create a funding request",
    responses=error_responses(403),
)
async def create_request(
    body: FundingRequestCreate, session: SessionDep, user: Fundraiser
) -> FundingRequestEnvelope:
    """For women (and admins): a sponsor gets 403. `goalAmount` ≥ 100, `deadline` after today
    and at most 90 days away, `coverImageUrl` an image you uploaded. Starts `active`."""
    request = await service.create_request(session, user, body)
    return await _envelope(session, request, user, user)


@router.get(
    "/api/requests/{requestId}",
    response_model=FundingRequestEnvelope,
    summary="Get a funding request",
    responses=error_responses(404),
)
async def get_request(
    request_id: RequestId, session: SessionDep, viewer: OptionalUser
) -> FundingRequestEnvelope:
    """With `progress` (0..1) and the latest donations (anonymous donors hidden)."""
    request, author = await service.get_request(session, request_id, viewer)
    return await _envelope(session, request, author, viewer)


@put_and_patch(
    router,
    "/api/requests/{requestId}",
    response_model=FundingRequestEnvelope,
    summary="Update a funding request",
    responses=error_responses(403, 404, 409),
)
async def update_request(
    request_id: RequestId, body: FundingRequestUpdate, session: SessionDep, user: CurrentUser
) -> FundingRequestEnvelope:
    """The author (or an admin) changes `title, description, coverImageUrl, category`, and
    while active `goalAmount` (never below what was raised) and `deadline` (by the creation
    rules). Any other field is ignored."""
    request, author = await service.update_request(
        session, request_id, user, body.model_dump(exclude_unset=True)
    )
    return await _envelope(session, request, author, user)


@router.delete(
    "/api/requests/{requestId}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete a funding request",
    responses=error_responses(403, 404, 409),
)
async def delete_request(request_id: RequestId, session: SessionDep, user: CurrentUser) -> Response:
    """Only a request that never received a donation (409 otherwise: cancel it instead)."""
    await service.delete_request(session, request_id, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/api/requests/{requestId}/cancel",
    response_model=FundingRequestEnvelope,
    summary="Cancel a funding request (refunds its donations)",
    responses=error_responses(403, 404, 409),
)
async def cancel_request(
    request_id: RequestId,
    http_request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """By the author or an admin, while active. Every succeeded donation is refunded through
    its payment provider; the money leaves the totals once the provider confirms."""

    async def cancel() -> FundingRequestEnvelope:
        request, author = await donations.cancel_request(session, settings, request_id, user)
        return await _envelope(session, request, author, user)

    return await idempotent_response(
        http_request,
        session,
        ttl_seconds=settings.idempotency_key_ttl,
        user_id=user.id,
        key=idempotency_key,
        payload={},
        status_code=status.HTTP_200_OK,
        action=cancel,
    )


async def donate_response(
    http_request: Request,
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    user: User,
    request_id: uuid.UUID,
    body: DonateBody,
    idempotency_key: str | None,
) -> JSONResponse:
    """The donation flow behind both `/api/requests/:id/donate` and its payments alias."""
    await enforce_user_limit(
        limiter, "donate", settings.donation_rate_limit_per_minute, str(user.id)
    )

    async def run() -> DonationResult:
        return await donations.donate(
            session, settings, request_id=request_id, donor=user, body=body
        )

    return await idempotent_response(
        http_request,
        session,
        ttl_seconds=settings.idempotency_key_ttl,
        user_id=user.id,
        key=idempotency_key,
        payload=body.model_dump(mode="json"),
        status_code=status.HTTP_201_CREATED,
        action=run,
    )


@router.post(
    "/api/requests/{requestId}/donate",
    status_code=status.HTTP_201_CREATED,
    response_model=DonationResult,
    summary="Donate to a funding request",
    responses=error_responses(403, 404, 409, 429),
)
async def donate(
    request_id: RequestId,
    body: DonateBody,
    http_request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    user: CurrentUser,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """`amount` 1.00 to 1,000,000.00, to an active request that is not yours. With the
    development provider the donation succeeds at once; with Stripe it stays `pending` and
    the answer carries the `clientSecret` to confirm the payment in the browser. Send an
    `Idempotency-Key`: a retry then replays the first answer instead of paying twice."""
    return await donate_response(
        http_request, session, settings, limiter, user, request_id, body, idempotency_key
    )


@router.get(
    "/api/requests/{requestId}/donations",
    response_model=Page[DonationOut],
    summary="List a request's donations",
    responses=error_responses(404),
)
async def list_donations(
    request_id: RequestId, session: SessionDep, viewer: OptionalUser, pages: Cursors
) -> Page[DonationOut]:
    """Newest first, with a keyset `cursor`. Succeeded and refunded donations for everyone;
    your own pending ones for you; everything for admins. An anonymous donor is `null`
    except to herself and admins."""
    page = await donations.list_donations(
        session, request_id, viewer, limit=pages.limit, offset=pages.offset, cursor=pages.cursor
    )
    return Page(data=page.items, pagination=pages.pagination(page.total, page.next_cursor))

"""`/api/payments/*`: the Stripe webhook, and the web client's names for the donation routes
(thin aliases over the same services as `/api/requests/:id/donate` and `/donations`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Request, status
from fastapi.responses import JSONResponse

from peal.auth.dependencies import CurrentUser, OptionalUser
from peal.core.idempotency import IdempotencyKeyHeader
from peal.core.schemas import CursorParams, cursor_params, error_responses
from peal.deps import RateLimiterDep, SessionDep, SettingsDep
from peal.flows import settle_payment_webhook as service
from peal.funding import donations
from peal.funding.router import donate_response
from peal.funding.schemas import (
    ConfirmDonationBody,
    ConfirmDonationResult,
    DonationIntentBody,
    DonationResult,
    DonationsEnvelope,
)
from peal.payments.schemas import WebhookAck

router = APIRouter(prefix="/api/payments", tags=["Payments"])

Cursors = Annotated[CursorParams, Depends(cursor_params)]


@router.post(
    "/webhook",
    response_model=WebhookAck,
    summary="Stripe webhook (signed)",
    responses=error_responses(400, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
            "description": "A Stripe event, exactly as Stripe sent it (the signature covers "
            "the raw bytes)",
        }
    },
)
async def stripe_webhook(
    http_request: Request,
    session: SessionDep,
    settings: SettingsDep,
    stripe_signature: Annotated[
        str | None, Header(alias="Stripe-Signature", description="Stripe's `t=...,v1=...`")
    ] = None,
) -> WebhookAck:
    """Verified on the raw body with `STRIPE_WEBHOOK_SECRET` (300 s tolerance): 400 when the
    signature is missing, wrong or stale. Each event is stored and applied once, whatever the
    retries or their order; an already-seen event and unknown types answer 200."""
    payload = await http_request.body()
    return await service.handle_stripe_webhook(session, settings, payload, stripe_signature)


@router.post(
    "/create-donation-intent",
    status_code=status.HTTP_201_CREATED,
    response_model=DonationResult,
    summary="Donate (alias of POST /api/requests/:id/donate)",
    responses=error_responses(401, 403, 404, 409, 429),
)
async def create_donation_intent(
    body: DonationIntentBody,
    http_request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    user: CurrentUser,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """The same donation as `POST /api/requests/:id/donate`, with the request named in the
    body as `requestId`."""
    return await donate_response(
        http_request, session, settings, limiter, user, body.request_id, body, idempotency_key
    )


@router.post(
    "/confirm-donation",
    response_model=ConfirmDonationResult,
    summary="Confirm a donation after paying",
    responses=error_responses(401, 404, 502),
)
async def confirm_donation(
    body: ConfirmDonationBody, session: SessionDep, settings: SettingsDep, user: CurrentUser
) -> ConfirmDonationResult:
    """Asks the payment provider (never the client) how the payment ended and settles the
    donation; safe to repeat and to race the webhook: it is counted once. Your own donations
    only (404 otherwise)."""
    donation, request = await donations.confirm_donation(
        session,
        settings,
        user,
        donation_id=body.donation_id,
        payment_id=body.payment_intent_id,
    )
    return ConfirmDonationResult.of(donation, request)


@router.get(
    "/donations/{requestId}",
    response_model=DonationsEnvelope,
    summary="List a request's donations (alias of GET /api/requests/:id/donations)",
    responses=error_responses(404),
)
async def list_donations(
    request_id: Annotated[uuid.UUID, Path(alias="requestId", examples=[uuid.UUID(int=1)])],
    session: SessionDep,
    viewer: OptionalUser,
    pages: Cursors,
) -> DonationsEnvelope:
    """`{"donations": [...], "pagination": {...}}`, with the same visibility rules."""
    page = await donations.list_donations(
        session, request_id, viewer, limit=pages.limit, offset=pages.offset, cursor=pages.cursor
    )
    return DonationsEnvelope(
        donations=page.items, pagination=pages.pagination(page.total, page.next_cursor)
    )

"""Stripe webhooks: verify the signature on the raw body, store each event once, apply it.

A flow: the payments plumbing (event log, provider) drives the funding ledger.

The event row and what the event changes commit together: a delivery that fails half-way
leaves nothing behind and Stripe sends it again; a delivery that succeeded is never applied a
second time (its id is taken). Events may arrive in any order; the donation state machine in
`funding.donations` makes each of them count at most once and never backwards.
"""

from __future__ import annotations

import json
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from stripe import SignatureVerificationError, WebhookSignature

from peal.config import Settings
from peal.core.errors import AppError, ServiceUnavailable
from peal.core.sql import insert_ignoring_duplicates, rowcount
from peal.funding.donations import (
    find_donation_by_payment,
    settle_failed,
    settle_refunded,
    settle_succeeded,
)
from peal.payments.models import PaymentEvent
from peal.payments.providers import Payment
from peal.payments.schemas import WebhookAck

log = structlog.get_logger("peal.payments")

SIGNATURE_TOLERANCE_SECONDS = 300
SUCCEEDED = "payment_intent.succeeded"
FAILED = ("payment_intent.payment_failed", "payment_intent.canceled")
REFUNDED = "charge.refunded"


class InvalidWebhook(AppError):
    status_code = 400
    code = "invalid_signature"
    message = "The webhook signature is missing or invalid"


def verify_stripe_event(
    settings: Settings, payload: bytes, signature: str | None
) -> dict[str, Any]:
    """The event, if `Stripe-Signature` proves Stripe sent exactly these bytes within 300 s."""
    secret = settings.stripe_webhook_secret
    if not secret:
        raise ServiceUnavailable(
            "Stripe webhooks are not configured (STRIPE_WEBHOOK_SECRET)",
            code="webhooks_not_configured",
        )
    try:
        text = payload.decode("utf-8")
        WebhookSignature.verify_header(text, signature, secret, SIGNATURE_TOLERANCE_SECONDS)
        event = json.loads(text)
    except (SignatureVerificationError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidWebhook() from exc
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("id"), str)
        or not isinstance(event.get("type"), str)
        or not isinstance(event.get("data"), dict)
        or not isinstance(event["data"].get("object"), dict)
    ):
        raise InvalidWebhook("The webhook body is not a Stripe event", code="invalid_event")
    return event


async def _store_once(session: AsyncSession, event: dict[str, Any]) -> bool:
    """Insert the event unless its id is known; True if this delivery is the first."""
    obj = event["data"]["object"]
    result = await session.execute(
        insert_ignoring_duplicates(session, PaymentEvent, ["provider", "event_id"]).values(
            provider="stripe",
            event_id=event["id"][:255],
            type=event["type"][:100],
            object_id=str(obj.get("id"))[:255] if obj.get("id") else None,
            payload=event,
        )
    )
    return rowcount(result) == 1


def _payment(intent: dict[str, Any]) -> Payment:
    return Payment(
        id=str(intent.get("id")),
        status="succeeded",
        amount_cents=int(intent.get("amount_received") or intent.get("amount") or 0),
        currency=str(intent.get("currency", "")),
    )


async def handle_stripe_webhook(
    session: AsyncSession, settings: Settings, payload: bytes, signature: str | None
) -> WebhookAck:
    event = verify_stripe_event(settings, payload, signature)
    if not await _store_once(session, event):
        log.info("webhook_duplicate", event_id=event["id"], type=event["type"])
        return WebhookAck(received=True, duplicate=True)
    await apply_event(session, settings, event["type"], event["data"]["object"])
    return WebhookAck(received=True)


async def apply_event(
    session: AsyncSession, settings: Settings, event_type: str, obj: dict[str, Any]
) -> None:
    if event_type == SUCCEEDED or event_type in FAILED:
        donation_id = await find_donation_by_payment(session, str(obj.get("id")))
        if donation_id is None:
            log.warning("webhook_unknown_payment", type=event_type, payment_id=obj.get("id"))
            return
        if event_type == SUCCEEDED:
            await settle_succeeded(session, settings, donation_id, payment=_payment(obj))
        else:
            await settle_failed(session, donation_id)
        return
    if event_type == REFUNDED:
        await _apply_refund(session, obj)
        return
    log.info("webhook_ignored", type=event_type)


async def _apply_refund(session: AsyncSession, charge: dict[str, Any]) -> None:
    payment_id = charge.get("payment_intent")
    donation_id = await find_donation_by_payment(session, str(payment_id)) if payment_id else None
    if donation_id is None:
        log.warning("webhook_unknown_charge", charge_id=charge.get("id"))
        return
    if charge.get("refunded") is not True:
        # Only whole donations are refunded here; a partial refund made in the dashboard is
        # left to a person (the ledger has no partial state).
        log.error(
            "partial_refund_ignored",
            donation_id=str(donation_id),
            amount_refunded=charge.get("amount_refunded"),
        )
        return
    refunds = (charge.get("refunds") or {}).get("data") or []
    refund_id = str(refunds[0].get("id")) if refunds and isinstance(refunds[0], dict) else None
    await settle_refunded(session, donation_id, refund_id)

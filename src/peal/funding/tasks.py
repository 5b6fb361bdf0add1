"""Background jobs of the funding domain: refunds, cancelled payments, expiry, reconciliation,
and the author's email about a donation.

Each job is idempotent: it reads the donation's state first and every settlement is guarded,
so a retry or a second delivery does nothing more.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import select

from peal.db import commit, utcnow
from peal.email.tasks import send_email_task
from peal.funding.donations import apply_payment, money_text, settle_refunded
from peal.funding.models import FundingDonation, FundingRequest
from peal.funding.service import expire_overdue_requests
from peal.jobs import broker, runtime
from peal.payments.providers import provider_for

log = structlog.get_logger("peal.funding.tasks")

# A pending payment this old is asked about (its webhook may have been lost)...
RECONCILE_AFTER = timedelta(minutes=10)
# ...but not forever: Stripe keeps an abandoned PaymentIntent open indefinitely.
RECONCILE_WITHIN = timedelta(days=7)
# A refund asked this long ago and still not confirmed is asked again (same idempotency key).
REFUND_RETRY_AFTER = timedelta(hours=1)
SWEEP_BATCH = 200


@broker.task(task_name="funding.refund_donation", retry_on_error=True, max_retries=5)
async def refund_donation(donation_id: str) -> None:
    """Ask the donation's provider to refund it; settle now if the provider says it is done
    (otherwise `charge.refunded` will)."""
    settings = runtime().settings
    async with runtime().db.sessionmaker() as session:
        donation = await session.get(FundingDonation, uuid.UUID(donation_id))
        if donation is None or donation.status != "succeeded" or not donation.provider_payment_id:
            return
        provider = provider_for(settings, donation.provider or settings.payment_provider)  # type: ignore[arg-type]
        refund = await provider.refund_payment(
            donation_id=donation.id, payment_id=donation.provider_payment_id, amount=donation.amount
        )
        donation.provider_refund_id = refund.id
        if refund.status == "succeeded":
            await settle_refunded(session, donation.id, refund.id)
        elif refund.status == "failed":
            log.error("refund_failed", donation_id=donation_id, refund_id=refund.id)
        await commit(session)


@broker.task(task_name="funding.donation_email", retry_on_error=True, max_retries=3)
async def send_donation_email(
    request_id: str, to: str, language: str | None, context: dict[str, Any], message_key: str
) -> None:
    """The author's email about a donation, with the money raised so far read now.

    A donation queues it before taking the request's row lock, when its new total is not known
    yet: so that lock is held only from the totals' UPDATE to the commit (see `donations._count`).
    """
    async with runtime().db.sessionmaker() as session:
        raised = await session.scalar(
            select(FundingRequest.current_amount).where(FundingRequest.id == uuid.UUID(request_id))
        )
    if raised is None:  # money rows are never deleted; a request could only be gone in tests
        return
    context = {**context, "current_amount": money_text(raised)}
    # Awaited here, not queued: its retries are this job's.
    await send_email_task(to, "donation_received", language, context, message_key=message_key)


@broker.task(task_name="funding.cancel_pending_payments", retry_on_error=True, max_retries=5)
async def cancel_pending_payments(request_id: str) -> None:
    """A cancelled request takes no more money: cancel its payments still under way. One the
    payer completed meanwhile is counted, then refunded (see `settle_succeeded`)."""
    settings = runtime().settings
    async with runtime().db.sessionmaker() as session:
        pending = (
            await session.execute(
                select(
                    FundingDonation.id,
                    FundingDonation.provider,
                    FundingDonation.provider_payment_id,
                ).where(
                    FundingDonation.funding_request_id == uuid.UUID(request_id),
                    FundingDonation.status == "pending",
                    FundingDonation.provider_payment_id.is_not(None),
                )
            )
        ).all()
    for donation_id, provider_name, payment_id in pending:
        provider = provider_for(settings, provider_name or settings.payment_provider)  # type: ignore[arg-type]
        payment = await provider.cancel_payment(
            donation_id=donation_id, payment_id=payment_id or ""
        )
        async with runtime().db.sessionmaker() as session:
            await apply_payment(session, settings, donation_id, payment)
            await commit(session)


@broker.task(task_name="funding.expire_requests", schedule=[{"cron": "0 * * * *"}])
async def expire_requests() -> None:
    """Hourly: active requests past their deadline become expired (reads check it too)."""
    async with runtime().db.sessionmaker() as session:
        count = await expire_overdue_requests(session)
        await commit(session)
    if count:
        log.info("requests_expired", count=count)


@broker.task(task_name="funding.reconcile_payments", schedule=[{"cron": "*/15 * * * *"}])
async def reconcile_payments() -> None:
    """Every 15 minutes: settle the payments whose webhook never came, and ask again for the
    refunds never confirmed. Both are safe to repeat."""
    settings = runtime().settings
    now = utcnow()
    async with runtime().db.sessionmaker() as session:
        stale = (
            await session.execute(
                select(
                    FundingDonation.id,
                    FundingDonation.provider,
                    FundingDonation.provider_payment_id,
                )
                .where(
                    FundingDonation.status == "pending",
                    FundingDonation.provider_payment_id.is_not(None),
                    FundingDonation.created_at < now - RECONCILE_AFTER,
                    FundingDonation.created_at > now - RECONCILE_WITHIN,
                )
                .order_by(FundingDonation.created_at)
                .limit(SWEEP_BATCH)
            )
        ).all()
        refunding = (
            await session.scalars(
                select(FundingDonation.id)
                .where(
                    FundingDonation.status == "succeeded",
                    FundingDonation.refund_requested_at < now - REFUND_RETRY_AFTER,
                )
                .order_by(FundingDonation.refund_requested_at)
                .limit(SWEEP_BATCH)
            )
        ).all()
    for donation_id, provider_name, payment_id in stale:
        try:
            provider = provider_for(settings, provider_name or settings.payment_provider)  # type: ignore[arg-type]
            payment = await provider.get_payment(payment_id or "")
        except Exception:  # one unreachable payment must not stop the sweep
            log.exception("reconcile_failed", donation_id=str(donation_id))
            continue
        async with runtime().db.sessionmaker() as session:
            await apply_payment(session, settings, donation_id, payment)
            await commit(session)
    for donation_id in refunding:
        await refund_donation.kiq(str(donation_id))

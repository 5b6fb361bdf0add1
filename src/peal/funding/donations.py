"""Donations and the money: donate, confirm, settle (succeeded, failed, refunded), cancel with
refunds, and list. (The ledger check lives in `ledger.py`.)

Every change of a donation's state goes through one of the `settle_*` functions. Each moves the
donation with a guarded UPDATE (`... WHERE status IN (<states it may leave>)`) and changes the
totals only if that UPDATE changed a row: a webhook delivered twice, a confirmation racing its
webhook or a replayed job therefore count once.

A popular request takes many donations at once, so counting one locks the request row last:
the donation, its supporter row (`funding_supporters`, insert-or-ignore), the author's
notification and her email's job are written first, then one UPDATE adds to the totals and
flips `funded`, and the lock is held only from it to the commit: two round trips. Refunds
(rare) still lock the request first.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import (
    Date,
    DateTime,
    Integer,
    Uuid,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    or_,
    select,
    true,
)
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from peal.config import Settings
from peal.core.errors import Conflict, Forbidden, NotFound
from peal.core.pagination import cut_page, keyset_page
from peal.core.schemas import Cursor
from peal.core.sql import NO_SYNC, insert_ignoring_duplicates, rowcount
from peal.db import utcnow
from peal.funding.ledger import CENT
from peal.funding.models import FundingDonation, FundingRequest, FundingSupporter
from peal.funding.schemas import (
    DEMO_CLIENT_SECRET,
    DonateBody,
    DonationOut,
    DonationResult,
    FundingRequestOut,
)
from peal.funding.service import (
    donor_ids,
    donor_visible,
    get_managed_request,
    get_request,
    present_donation,
    present_request,
    today,
)
from peal.notifications.service import notify, notify_many
from peal.outbox import enqueue_job
from peal.payments.providers import CURRENCY, Payment, provider_for, to_cents
from peal.settings.service import get_settings_for
from peal.users.models import User
from peal.users.policy import is_admin

log = structlog.get_logger("peal.funding")


def money_text(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def money_json(amount: Decimal) -> int | float:
    return int(amount) if amount == amount.to_integral_value() else float(amount)


# --- donating -----------------------------------------------------------------------------


async def donate(
    session: AsyncSession,
    settings: Settings,
    *,
    request_id: uuid.UUID,
    donor: User,
    body: DonateBody,
) -> DonationResult:
    """Create a donation and its payment at the provider.

    The development provider settles at once, in this transaction: everything is written
    first without locking the request, and its totals last, by one guarded UPDATE that
    refuses a request no longer active (the whole donation then rolls back). With Stripe the
    donation stays pending and the answer carries the `clientSecret`; the webhook settles it.
    """
    provider = provider_for(settings)
    request, author = await get_request(session, request_id, donor)
    if request.author_id == donor.id:
        raise Forbidden("You cannot donate to your own request", code="own_request")
    if request.status != "active":
        raise _not_active(request.status)
    donation = FundingDonation(
        id=uuid.uuid4(),
        funding_request_id=request.id,
        donor_id=donor.id,
        amount=body.amount,
        message=body.message,
        is_anonymous=body.is_anonymous,
        status="pending",
        provider=provider.name,
    )
    payment = await provider.create_payment(
        donation_id=donation.id,
        request_id=request.id,
        amount=body.amount,
        description=f"PEAL donation to “{request.title}”",
    )
    donation.provider_payment_id = payment.id
    settled = payment.status == "succeeded" and _amount_matches(donation, payment)
    if settled:
        # Paid at once: a row no one else can have counted, so it goes in succeeded.
        donation.status = "succeeded"
        donation.succeeded_at = utcnow()
    session.add(donation)
    await session.flush()
    if settled:
        await _count(session, settings, donation, request=request)
    elif payment.status == "failed":
        await settle_failed(session, donation.id)
        await session.refresh(donation)
    if provider.name == "development":
        client_secret: str | None = DEMO_CLIENT_SECRET
    else:
        client_secret = payment.client_secret if donation.status == "pending" else None
    return DonationResult(
        donation_id=donation.id,
        donation=present_donation(donation, donor, donor),
        request=present_request(request, author),
        provider=provider.name,
        client_secret=client_secret,
        payment_intent_id=payment.id if provider.name == "stripe" else None,
    )


def _not_active(status: str) -> Conflict:
    return Conflict(
        f"This request is {status} and no longer accepts donations", code="request_not_active"
    )


async def apply_payment(
    session: AsyncSession, settings: Settings, donation_id: uuid.UUID, payment: Payment
) -> None:
    """Bring a donation in line with what the provider says of its payment."""
    if payment.status == "succeeded":
        await settle_succeeded(session, settings, donation_id, payment=payment)
    elif payment.status == "failed":
        await settle_failed(session, donation_id)


async def confirm_donation(
    session: AsyncSession,
    settings: Settings,
    viewer: User,
    *,
    donation_id: uuid.UUID | None,
    payment_id: str | None,
) -> tuple[DonationOut, FundingRequestOut]:
    """The client says it finished paying: ask the provider, never the client, and settle.

    Safe to repeat and to race the webhook: settling is guarded and counts once.
    """
    condition = (
        FundingDonation.id == donation_id
        if donation_id is not None
        else FundingDonation.provider_payment_id == payment_id
    )
    query = select(FundingDonation).where(condition)
    if not is_admin(viewer):
        query = query.where(FundingDonation.donor_id == viewer.id)
    donation = await session.scalar(query)
    if donation is None:
        raise NotFound("Donation not found", code="donation_not_found")
    if donation.status in ("pending", "failed") and donation.provider_payment_id:
        provider = provider_for(settings, donation.provider or settings.payment_provider)  # type: ignore[arg-type]
        payment = await provider.get_payment(donation.provider_payment_id)
        await apply_payment(session, settings, donation.id, payment)
        await session.refresh(donation)
    # Not through the visibility check: whoever gave to a request may see what became of it.
    request = await session.get(FundingRequest, donation.funding_request_id)
    assert request is not None  # money rows are never deleted
    await session.refresh(request)
    author = await session.get(User, request.author_id)
    donor = await session.get(User, donation.donor_id)
    assert author is not None
    return present_donation(donation, donor, viewer), present_request(request, author)


# --- settling -----------------------------------------------------------------------------


async def _lock_request_of(
    session: AsyncSession, donation_id: uuid.UUID
) -> tuple[FundingDonation, FundingRequest] | None:
    """The donation and its request, the request row locked (FOR UPDATE on PostgreSQL; SQLite
    serialises writers): for the rare paths (refunds) that read the totals before changing
    them. Counting a success never takes this lock: see `_count`."""
    request_id = await session.scalar(
        select(FundingDonation.funding_request_id).where(FundingDonation.id == donation_id)
    )
    if request_id is None:
        return None
    request = await session.scalar(
        select(FundingRequest)
        .where(FundingRequest.id == request_id)
        # FOR UPDATE, not FOR NO KEY UPDATE: it must wait for the donations in flight (their
        # rows' foreign key checks hold FOR KEY SHARE on the request; see `_keep_supporter`).
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    donation = await session.scalar(
        select(FundingDonation)
        .where(FundingDonation.id == donation_id)
        .execution_options(populate_existing=True)
    )
    assert request is not None and donation is not None  # money rows are never deleted
    return donation, request


def _amount_matches(donation: FundingDonation, payment: Payment | None) -> bool:
    """Whether the provider was paid what the donation says (logged when not: never count
    it then)."""
    if payment is None or payment.amount_cents == 0:  # nothing to compare (development)
        return True
    if payment.amount_cents == to_cents(donation.amount) and payment.currency == CURRENCY:
        return True
    log.error(
        "payment_amount_mismatch",
        donation_id=str(donation.id),
        expected_cents=to_cents(donation.amount),
        paid_cents=payment.amount_cents,
    )
    return False


async def settle_succeeded(
    session: AsyncSession,
    settings: Settings,
    donation_id: uuid.UUID,
    *,
    payment: Payment | None = None,
) -> bool:
    """The payment went through: count it, once. Returns whether this call counted it.

    A failed donation may still succeed (the payer retried with another card); a succeeded
    one is never counted again, a refunded one never revived. Money that arrives after the
    request closed still counts (it was paid); a cancelled request gives it back.
    """
    donation = await session.scalar(
        select(FundingDonation)
        .where(FundingDonation.id == donation_id)
        .execution_options(populate_existing=True)
    )
    if donation is None:
        return False
    return await _count_success(session, settings, donation, payment)


async def _count_success(
    session: AsyncSession, settings: Settings, donation: FundingDonation, payment: Payment | None
) -> bool:
    """Count a succeeded payment of an existing donation, once: the guarded `pending/failed →
    succeeded` UPDATE (a replay, or a confirmation racing its webhook, counts once), then
    `_count`."""
    if not _amount_matches(donation, payment):
        return False
    now = utcnow()
    moved = await session.execute(
        sql_update(FundingDonation)
        .where(
            FundingDonation.id == donation.id,
            FundingDonation.status.in_(("pending", "failed")),
        )
        .values(status="succeeded", succeeded_at=now, updated_at=now),
        execution_options=NO_SYNC,
    )
    if rowcount(moved) == 0:
        return False
    for field, value in (("status", "succeeded"), ("succeeded_at", now), ("updated_at", now)):
        set_committed_value(donation, field, value)
    await _count(session, settings, donation)
    return True


async def _count(
    session: AsyncSession,
    settings: Settings,
    donation: FundingDonation,
    *,
    request: FundingRequest | None = None,
) -> None:
    """Count a donation that just became succeeded into its request's totals, taking the
    request's row lock last: the supporter row (insert-or-ignore: did a row go in?), the
    author's notification and email job, and only then one UPDATE of the request's counters
    that also flips `active → funded`, so exactly one transaction sees the flip. The row lock
    is held from that UPDATE to the commit.

    With `request` (a donation made now, inserted succeeded) the request must still be active:
    if it closed meanwhile the whole donation is refused (409) and rolls back.
    """
    new_supporter = await _add_supporter(session, donation)
    donating = request is not None
    if request is not None:
        # Refused below (and rolled back) unless the request is still active: tell the author
        # now, outside the lock (her email's job reads the new total when it runs).
        await _notify_donation(session, request, donation)
    counted = await _add_to_totals(session, donation, new_supporter, open_only=True)
    if counted is None:
        if request is not None:
            status = await session.scalar(
                select(FundingRequest.status).where(FundingRequest.id == request.id)
            )
            raise _not_active(status or "closed")
        counted = await _add_to_totals(session, donation, new_supporter, open_only=False)
        assert counted is not None  # money rows are never deleted
    if not new_supporter and not donating and await _keep_supporter(session, donation):
        counted = replace(counted, supporters_count=counted.supporters_count + 1)
    if request is None:
        request = await session.get(FundingRequest, donation.funding_request_id)
        assert request is not None
    for field in ("current_amount", "supporters_count", "status", "updated_at"):
        set_committed_value(request, field, getattr(counted, field))
    # Money is safe from here on: what follows only tells people about it (not about money
    # that is on its way back to the donor).
    if not donating and request.status != "cancelled":
        await _notify_donation(session, request, donation)
    if counted.flipped:
        await _notify_funded(session, request)
    if request.status == "cancelled":
        # Paid after the request was cancelled (a payment already under way): give it back.
        await request_refunds(session, settings, request, [donation])


async def _add_supporter(session: AsyncSession, donation: FundingDonation) -> bool:
    """Record the donor as a supporter of the request; True when she was not one yet."""
    inserted = await session.execute(
        insert_ignoring_duplicates(session, FundingSupporter).values(
            funding_request_id=donation.funding_request_id, donor_id=donation.donor_id
        )
    )
    return rowcount(inserted) == 1


async def _keep_supporter(session: AsyncSession, donation: FundingDonation) -> bool:
    """A returning donor found her supporter row before taking the lock; a refund of her
    earlier money, committed while this donation waited for the lock, may have removed it
    since (that refund could not see this donation). Now that this transaction holds the
    request's lock, put the row back and count her again. True when it did.

    Only a settlement of an existing donation (a webhook, a confirmation) meets this race. A
    donation made now inserted its own row first, and that INSERT's foreign key check holds a
    FOR KEY SHARE lock on the request's row until the commit; a refund locks that row FOR
    UPDATE (`_lock_request_of`), which waits for it. So no refund commits between a new
    donation's look at her row and its totals' UPDATE (SQLite runs one writer at a time), and
    a new donation sends nothing more while it holds the lock."""
    still = await session.scalar(
        select(
            exists().where(
                FundingSupporter.funding_request_id == donation.funding_request_id,
                FundingSupporter.donor_id == donation.donor_id,
            )
        )
    )
    if still:
        return False
    await _add_supporter(session, donation)
    await session.execute(
        sql_update(FundingRequest)
        .where(FundingRequest.id == donation.funding_request_id)
        .values(supporters_count=FundingRequest.supporters_count + 1),
        execution_options=NO_SYNC,
    )
    return True


@dataclass(frozen=True)
class Totals:
    current_amount: Decimal
    supporters_count: int
    status: str
    updated_at: datetime
    flipped: bool


@functools.cache
def _totals_statement(open_only: bool) -> Any:
    """The UPDATE of `_add_to_totals`, built once per kind (every donation runs it): the
    request, the amount, whether she joins the supporters, the day and the time are bound."""
    # ROUND: exact on PostgreSQL's NUMERIC; on SQLite (REAL storage) it snaps every total back
    # to whole cents so float error never accumulates.
    amount = bindparam("amount", type_=FundingRequest.__table__.c.current_amount.type)
    total = func.round(FundingRequest.current_amount + amount, 2)
    open_now = and_(
        FundingRequest.status == "active",
        FundingRequest.deadline >= bindparam("today", type_=Date()),
    )
    reached = and_(open_now, total >= FundingRequest.goal_amount)
    statement = sql_update(FundingRequest).where(
        FundingRequest.id == bindparam("request_id", type_=Uuid())
    )
    if open_only:
        statement = statement.where(open_now)
    return statement.values(
        current_amount=total,
        supporters_count=FundingRequest.supporters_count + bindparam("joined", type_=Integer()),
        status=case((reached, "funded"), else_=FundingRequest.status),
        updated_at=bindparam("now", type_=DateTime(timezone=True)),
    ).returning(
        FundingRequest.current_amount,
        FundingRequest.supporters_count,
        FundingRequest.status,
        FundingRequest.updated_at,
    )


async def _add_to_totals(
    session: AsyncSession, donation: FundingDonation, new_supporter: bool, *, open_only: bool
) -> Totals | None:
    """The one statement that takes the request's row lock: add the money and the supporter,
    and flip `active → funded` when the goal is reached. With `open_only` it changes only an
    active request within its deadline (None otherwise); the flip is only ever seen by a
    statement that found the request active, so by exactly one transaction."""
    values = {
        "request_id": donation.funding_request_id,
        "amount": donation.amount,
        "joined": 1 if new_supporter else 0,
        "today": today(),
        "now": utcnow(),
    }
    result = await session.execute(_totals_statement(open_only), values, execution_options=NO_SYNC)
    row = result.first()
    if row is None:
        return None
    current_amount, supporters_count, status, updated_at = row
    return Totals(
        current_amount=Decimal(str(current_amount)).quantize(CENT),
        supporters_count=supporters_count,
        status=status,
        updated_at=updated_at,
        # Only a statement that found the request active can have flipped it; one that did
        # not (`open_only` off) never flips, its CASE requiring an active request.
        flipped=open_only and status == "funded",
    )


async def settle_failed(session: AsyncSession, donation_id: uuid.UUID) -> bool:
    """The payment failed or was cancelled. Only a pending donation can fail: a late
    `payment_failed` after `succeeded` changes nothing."""
    result = await session.execute(
        sql_update(FundingDonation)
        .where(FundingDonation.id == donation_id, FundingDonation.status == "pending")
        .values(status="failed", updated_at=utcnow()),
        execution_options=NO_SYNC,
    )
    return rowcount(result) > 0


async def settle_refunded(
    session: AsyncSession, donation_id: uuid.UUID, refund_id: str | None
) -> bool:
    """The provider confirmed the refund: the money leaves the totals, once, and the
    supporters are recounted exactly. A refund of a payment we never counted (it arrived
    before its success) just closes the donation."""
    locked = await _lock_request_of(session, donation_id)
    if locked is None:
        return False
    donation, request = locked
    now = utcnow()
    moved = await session.execute(
        sql_update(FundingDonation)
        .where(FundingDonation.id == donation.id, FundingDonation.status == "succeeded")
        .values(
            status="refunded",
            refunded_at=now,
            provider_refund_id=refund_id or donation.provider_refund_id,
            updated_at=now,
        ),
        execution_options=NO_SYNC,
    )
    if rowcount(moved) == 0:
        closed = await session.execute(
            sql_update(FundingDonation)
            .where(
                FundingDonation.id == donation.id,
                FundingDonation.status.in_(("pending", "failed")),
            )
            .values(status="refunded", refunded_at=now, updated_at=now),
            execution_options=NO_SYNC,
        )
        return rowcount(closed) > 0
    # Her last money in the request gone: she is no longer a supporter. (Under the request's
    # lock; a donation of hers counted meanwhile puts the row back: `_keep_supporter`.)
    still_in = await session.scalar(
        select(
            exists().where(
                FundingDonation.funding_request_id == request.id,
                FundingDonation.donor_id == donation.donor_id,
                FundingDonation.status == "succeeded",
            )
        )
    )
    left = 0
    if not still_in:
        removed = await session.execute(
            delete(FundingSupporter).where(
                FundingSupporter.funding_request_id == request.id,
                FundingSupporter.donor_id == donation.donor_id,
            ),
            execution_options=NO_SYNC,
        )
        left = rowcount(removed)
    await session.execute(
        sql_update(FundingRequest)
        .where(FundingRequest.id == request.id)
        .values(
            current_amount=func.round(FundingRequest.current_amount - donation.amount, 2),
            supporters_count=FundingRequest.supporters_count - left,
            updated_at=now,
        ),
        execution_options=NO_SYNC,
    )
    return True


async def find_donation_by_payment(session: AsyncSession, payment_id: str) -> uuid.UUID | None:
    found: uuid.UUID | None = await session.scalar(
        select(FundingDonation.id).where(FundingDonation.provider_payment_id == payment_id)
    )
    return found


# --- funded -------------------------------------------------------------------------------


async def mark_funded_if_reached(session: AsyncSession, request: FundingRequest) -> bool:
    """`active → funded` when the raised amount reaches the goal: a guarded UPDATE, so under
    any concurrency exactly one transaction flips it and sends the news."""
    result = await session.execute(
        sql_update(FundingRequest)
        .where(
            FundingRequest.id == request.id,
            FundingRequest.status == "active",
            FundingRequest.deadline >= today(),
            FundingRequest.current_amount >= FundingRequest.goal_amount,
        )
        .values(status="funded", updated_at=utcnow()),
        execution_options=NO_SYNC,
    )
    if rowcount(result) == 0:
        return False
    await session.refresh(request)
    await _notify_funded(session, request)
    return True


# --- notifications ------------------------------------------------------------------------


async def _notify_donation(
    session: AsyncSession, request: FundingRequest, donation: FundingDonation
) -> None:
    """Tell the author: the notification, and the email's job (it reads the new total when it
    runs). An anonymous donor is never named, in the notification or the email."""
    donor = None if donation.is_anonymous else await session.get(User, donation.donor_id)
    who = donor.name if donor is not None else "An anonymous supporter"
    data: dict[str, Any] = {
        "requestId": str(request.id),
        "donationId": str(donation.id),
        "amount": money_json(donation.amount),
        "isAnonymous": donation.is_anonymous,
    }
    if donor is not None:
        data["donorId"] = str(donor.id)
        data["donorName"] = donor.name
    preferences = await get_settings_for(session, request.author_id)
    stored = await notify(
        session,
        request.author_id,
        "donation",
        f"New donation to “{request.title}”",
        f"{who} donated {money_text(donation.amount)}.",
        data,
        actor_id=donation.donor_id,
        recipient_settings=preferences,
    )
    if stored is not None and preferences.email_notifications:
        await _queue_donation_email(session, request, donation, donor, preferences.language)


async def _queue_donation_email(
    session: AsyncSession,
    request: FundingRequest,
    donation: FundingDonation,
    donor: User | None,
    language: str,
) -> None:
    """The author's email about a donation, queued with everything but the request's new
    total: `funding.tasks.send_donation_email` reads it when it runs, so a donation queues this
    before it takes the request's row lock."""
    from peal.funding.tasks import send_donation_email  # it imports this module

    author = await session.get(User, request.author_id)
    if author is None or not author.is_active or not author.email_verified:
        return  # an unverified address may not be its owner's: never mail it money news
    enqueue_job(
        session,
        send_donation_email,
        str(request.id),
        to=author.email,
        language=language,
        context={
            "name": author.name,
            "request_title": request.title,
            "request_id": str(request.id),
            "amount": money_text(donation.amount),
            "donor_name": donor.name if donor is not None else None,
            "message": donation.message,
            "goal_amount": money_text(request.goal_amount),
        },
        # Chosen now, so that a retried job sends the same message (see `queue_email`).
        message_key=uuid.uuid4().hex,
    )


async def _notify_funded(session: AsyncSession, request: FundingRequest) -> None:
    total = money_text(request.current_amount)
    data = {"requestId": str(request.id), "amount": money_json(request.current_amount)}
    await notify(
        session,
        request.author_id,
        "request_funded",
        f"“{request.title}” is fully funded!",
        f"Your request reached its goal: {total} raised.",
        data,
        email=True,
    )
    await notify_many(
        session,
        await donor_ids(session, request.id),
        "request_funded",
        f"“{request.title}” is fully funded",
        f"A request you supported reached its goal of {money_text(request.goal_amount)}.",
        data,
        actor_id=request.author_id,
    )


# --- cancelling and refunds ---------------------------------------------------------------


async def cancel_request(
    session: AsyncSession, settings: Settings, request_id: uuid.UUID, user: User
) -> tuple[FundingRequest, User]:
    """`active → cancelled` by the author or an admin; every succeeded donation is refunded
    through its provider. Cancelling a cancelled request changes nothing."""
    request, author = await get_managed_request(session, request_id, user)
    if request.status != "cancelled":
        await _cancel(session, settings, request)
    return request, author


async def _cancel(session: AsyncSession, settings: Settings, request: FundingRequest) -> None:
    """Cancel a locked request, refund its money and tell its donors."""
    moved = await session.execute(
        sql_update(FundingRequest)
        .where(FundingRequest.id == request.id, FundingRequest.status == "active")
        .values(status="cancelled", updated_at=utcnow()),
        execution_options=NO_SYNC,
    )
    if rowcount(moved) == 0:
        raise Conflict(
            f"This request is {request.status}: only an active request can be cancelled",
            code="request_not_active",
        )
    donors = await donor_ids(session, request.id)
    succeeded = list(
        (
            await session.scalars(
                select(FundingDonation).where(
                    FundingDonation.funding_request_id == request.id,
                    FundingDonation.status == "succeeded",
                )
            )
        ).all()
    )
    await request_refunds(session, settings, request, succeeded)
    _cancel_pending_payments_after_commit(session, request.id)
    await notify_many(
        session,
        donors,
        "request_cancelled",
        f"“{request.title}” was cancelled",
        "The request you supported was cancelled: your donation is being refunded.",
        {"requestId": str(request.id)},
        actor_id=request.author_id,
    )
    await session.refresh(request)


async def request_refunds(
    session: AsyncSession,
    settings: Settings,
    request: FundingRequest,
    donations: list[FundingDonation],
) -> None:
    """Ask each donation's provider for a refund, once (`refund_requested_at`).

    A provider that settles at once (development) refunds here; Stripe is asked by a job after
    commit (no network call under the request lock), and `charge.refunded` settles it.
    """
    if not donations:
        return
    ids = [donation.id for donation in donations]
    claimed = set(
        (
            await session.scalars(
                sql_update(FundingDonation)
                .where(
                    FundingDonation.id.in_(ids),
                    FundingDonation.status == "succeeded",
                    FundingDonation.refund_requested_at.is_(None),
                )
                .values(refund_requested_at=utcnow())
                .returning(FundingDonation.id),
                execution_options=NO_SYNC,
            )
        ).all()
    )
    later: list[uuid.UUID] = []
    for donation in donations:
        if donation.id not in claimed:
            continue
        provider = provider_for(settings, donation.provider or settings.payment_provider)  # type: ignore[arg-type]
        if provider.settles_immediately:
            refund = await provider.refund_payment(
                donation_id=donation.id,
                payment_id=donation.provider_payment_id or "",
                amount=donation.amount,
            )
            await settle_refunded(session, donation.id, refund.id)
        else:
            later.append(donation.id)
    if later:
        _refund_after_commit(session, later)
    log.info("refunds_requested", request_id=str(request.id), count=len(claimed))


def _refund_after_commit(session: AsyncSession, donation_ids: list[uuid.UUID]) -> None:
    from peal.funding.tasks import refund_donation

    for donation_id in donation_ids:
        enqueue_job(session, refund_donation, str(donation_id))


def _cancel_pending_payments_after_commit(session: AsyncSession, request_id: uuid.UUID) -> None:
    from peal.funding.tasks import cancel_pending_payments

    enqueue_job(session, cancel_pending_payments, str(request_id))


async def cancel_requests_of_author(
    session: AsyncSession, settings: Settings, author_id: uuid.UUID
) -> int:
    """Cancel (and refund) every active request of `author_id`: for account deletion or a
    ban, instead of a bare status change that would keep the donors' money."""
    requests = list(
        (
            await session.scalars(
                select(FundingRequest)
                .where(FundingRequest.author_id == author_id, FundingRequest.status == "active")
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).all()
    )
    for request in requests:
        await _cancel(session, settings, request)
    return len(requests)


# --- listing ------------------------------------------------------------------------------


def _visible_donations(viewer: User | None) -> Any:
    """Settled money (succeeded, refunded) for everyone; a donor also sees her own pending or
    failed attempts; admins see everything."""
    settled = FundingDonation.status.in_(("succeeded", "refunded"))
    if is_admin(viewer):
        return true()
    if viewer is None:
        return settled
    return or_(settled, FundingDonation.donor_id == viewer.id)


@dataclass(frozen=True)
class DonationPage:
    items: list[DonationOut]
    total: int
    next_cursor: str | None


async def list_donations(
    session: AsyncSession,
    request_id: uuid.UUID,
    viewer: User | None,
    *,
    limit: int,
    offset: int,
    cursor: Cursor | None,
) -> DonationPage:
    """A request's donations, newest first: three queries whatever the page size. After a
    `cursor` the page starts past it (keyset), otherwise at `offset`."""
    request, _author = await get_request(session, request_id, viewer)
    conditions = [FundingDonation.funding_request_id == request.id, _visible_donations(viewer)]
    total = (
        await session.execute(select(func.count()).select_from(FundingDonation).where(*conditions))
    ).scalar_one()
    query = keyset_page(
        select(FundingDonation, User, donor_visible(viewer))
        .join(User, User.id == FundingDonation.donor_id)
        .where(*conditions),
        FundingDonation.created_at,
        FundingDonation.id,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
    rows, next_cursor = cut_page((await session.execute(query)).all(), limit)
    items = [
        present_donation(donation, donor if visible else None, viewer)
        for donation, donor, visible in rows
    ]
    return DonationPage(items, total, next_cursor)

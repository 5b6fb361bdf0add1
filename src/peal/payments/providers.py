"""The payment-provider interface and its two providers: development (instant) and Stripe.

The rest of the code sees only `PaymentProvider`: create a payment for a donation, read its
state, refund it, cancel it. Every call that creates something at the provider carries an
idempotency key derived from the donation id, so a retry (ours, the SDK's, a job's) can never
charge or refund twice.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar, Literal

import structlog
from stripe import (
    APIConnectionError,
    HTTPXClient,
    InvalidRequestError,
    PaymentIntent,
    RateLimitError,
    StripeClient,
    StripeError,
)

from peal.config import Settings
from peal.core.errors import AppError

log = structlog.get_logger("peal.payments")

CURRENCY = "usd"
ProviderName = Literal["development", "stripe"]
PaymentStatus = Literal["pending", "succeeded", "failed"]
RefundStatus = Literal["pending", "succeeded", "failed"]


class PaymentProviderError(AppError):
    """The provider refused or failed a call we made (not the payer's card)."""

    status_code = 502
    code = "payment_provider_error"
    message = "The payment provider could not process this request"


class PaymentsUnavailable(AppError):
    status_code = 503
    code = "payments_unavailable"
    message = "Payments are not available right now"


@dataclass(frozen=True)
class Payment:
    """A payment as the provider knows it."""

    id: str
    status: PaymentStatus
    amount_cents: int
    currency: str
    client_secret: str | None = None


@dataclass(frozen=True)
class Refund:
    id: str
    status: RefundStatus


def to_cents(amount: Decimal) -> int:
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"{amount} has more than two decimals")
    return int(cents)


class PaymentProvider(ABC):
    name: ClassVar[ProviderName]
    # True when payments and refunds settle during the call (no webhook will follow).
    settles_immediately: ClassVar[bool]

    @abstractmethod
    async def create_payment(
        self, *, donation_id: uuid.UUID, request_id: uuid.UUID, amount: Decimal, description: str
    ) -> Payment: ...

    @abstractmethod
    async def get_payment(self, payment_id: str) -> Payment: ...

    @abstractmethod
    async def refund_payment(
        self, *, donation_id: uuid.UUID, payment_id: str, amount: Decimal
    ) -> Refund: ...

    @abstractmethod
    async def cancel_payment(self, *, donation_id: uuid.UUID, payment_id: str) -> Payment: ...


class DevelopmentPaymentProvider(PaymentProvider):
    """Every payment succeeds at once and every refund too. NEVER in production: no money
    moves, so the factory below refuses it when NODE_ENV=production."""

    name = "development"
    settles_immediately = True

    async def create_payment(
        self, *, donation_id: uuid.UUID, request_id: uuid.UUID, amount: Decimal, description: str
    ) -> Payment:
        return Payment(
            id=f"dev_pi_{donation_id.hex}",
            status="succeeded",
            amount_cents=to_cents(amount),
            currency=CURRENCY,
        )

    async def get_payment(self, payment_id: str) -> Payment:
        # Stateless: a development payment succeeded when it was created.
        return Payment(id=payment_id, status="succeeded", amount_cents=0, currency=CURRENCY)

    async def refund_payment(
        self, *, donation_id: uuid.UUID, payment_id: str, amount: Decimal
    ) -> Refund:
        return Refund(id=f"dev_re_{donation_id.hex}", status="succeeded")

    async def cancel_payment(self, *, donation_id: uuid.UUID, payment_id: str) -> Payment:
        return Payment(id=payment_id, status="succeeded", amount_cents=0, currency=CURRENCY)


_STRIPE_PAYMENT_STATUS: dict[str, PaymentStatus] = {"succeeded": "succeeded", "canceled": "failed"}
_STRIPE_REFUND_STATUS: dict[str, RefundStatus] = {
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "failed",
}


def _payment_from_stripe(intent: PaymentIntent) -> Payment:
    return Payment(
        id=intent.id,
        # requires_payment_method (after a declined card), requires_action, processing...:
        # the payer may still complete it, so it stays pending.
        status=_STRIPE_PAYMENT_STATUS.get(intent.status, "pending"),
        amount_cents=intent.amount,
        currency=intent.currency,
        client_secret=intent.client_secret,
    )


def _provider_error(action: str, exc: StripeError) -> AppError:
    log.warning(
        "stripe_call_failed",
        action=action,
        error_type=type(exc).__name__,
        code=exc.code,
        request_id=exc.request_id,
        http_status=exc.http_status,
    )
    if isinstance(exc, APIConnectionError | RateLimitError):
        return PaymentsUnavailable("The payment provider is unreachable, please retry")
    return PaymentProviderError()


class StripePaymentProvider(PaymentProvider):
    """PaymentIntents through the official SDK's async methods (httpx): the event loop never
    waits on Stripe. The donation stays pending until a signed webhook (or a confirmation that
    reads the PaymentIntent back) says how it ended."""

    name = "stripe"
    settles_immediately = False

    def __init__(self, settings: Settings) -> None:
        if not settings.stripe_secret_key:
            raise PaymentsUnavailable("STRIPE_SECRET_KEY is not configured")
        base = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
        self.client = StripeClient(
            settings.stripe_secret_key,
            http_client=HTTPXClient(timeout=settings.stripe_timeout),
            base_addresses=base,  # type: ignore[arg-type]
            max_network_retries=2,  # safe: every creating call carries an idempotency key
        )

    async def create_payment(
        self, *, donation_id: uuid.UUID, request_id: uuid.UUID, amount: Decimal, description: str
    ) -> Payment:
        try:
            intent = await self.client.v1.payment_intents.create_async(
                {
                    "amount": to_cents(amount),
                    "currency": CURRENCY,
                    "automatic_payment_methods": {"enabled": True},
                    "description": description[:1000],
                    "metadata": {"donation_id": str(donation_id), "request_id": str(request_id)},
                },
                {"idempotency_key": f"peal-donation-{donation_id}"},
            )
        except StripeError as exc:
            raise _provider_error("create_payment_intent", exc) from exc
        return _payment_from_stripe(intent)

    async def get_payment(self, payment_id: str) -> Payment:
        try:
            intent = await self.client.v1.payment_intents.retrieve_async(payment_id)
        except StripeError as exc:
            raise _provider_error("retrieve_payment_intent", exc) from exc
        return _payment_from_stripe(intent)

    async def refund_payment(
        self, *, donation_id: uuid.UUID, payment_id: str, amount: Decimal
    ) -> Refund:
        try:
            refund = await self.client.v1.refunds.create_async(
                {
                    "payment_intent": payment_id,
                    "amount": to_cents(amount),
                    "metadata": {"donation_id": str(donation_id)},
                },
                {"idempotency_key": f"peal-refund-{donation_id}"},
            )
        except InvalidRequestError as exc:
            if exc.code == "charge_already_refunded":
                # Refunded before (our key expired at Stripe after 24 h, or from the dashboard).
                return Refund(id=f"already_refunded_{payment_id}", status="succeeded")
            raise _provider_error("create_refund", exc) from exc
        except StripeError as exc:
            raise _provider_error("create_refund", exc) from exc
        return Refund(
            id=refund.id, status=_STRIPE_REFUND_STATUS.get(refund.status or "", "pending")
        )

    async def cancel_payment(self, *, donation_id: uuid.UUID, payment_id: str) -> Payment:
        try:
            intent = await self.client.v1.payment_intents.cancel_async(
                payment_id, options={"idempotency_key": f"peal-cancel-{donation_id}"}
            )
        except InvalidRequestError as exc:
            # Already succeeded or already canceled: read what it became instead.
            if exc.code == "payment_intent_unexpected_state":
                return await self.get_payment(payment_id)
            raise _provider_error("cancel_payment_intent", exc) from exc
        except StripeError as exc:
            raise _provider_error("cancel_payment_intent", exc) from exc
        return _payment_from_stripe(intent)


# One provider per (event loop, configuration): the Stripe client keeps an httpx connection
# pool, which belongs to the loop that opened it.
_providers: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[object, ...], PaymentProvider]
] = weakref.WeakKeyDictionary()


def _identity(settings: Settings, name: ProviderName) -> tuple[object, ...]:
    return (name, settings.stripe_secret_key, settings.stripe_api_base, settings.stripe_timeout)


def provider_for(settings: Settings, name: ProviderName | None = None) -> PaymentProvider:
    """The provider `name` (default: PAYMENT_PROVIDER). A donation is always settled by the
    provider recorded on it, whatever the setting says today."""
    name = name or settings.payment_provider
    if name == "development":
        if not settings.is_development_like:
            raise PaymentsUnavailable(
                "The development payment provider is refused outside development and test: "
                "set PAYMENT_PROVIDER=stripe"
            )
        return DevelopmentPaymentProvider()
    cache = _providers.setdefault(asyncio.get_running_loop(), {})
    key = _identity(settings, name)
    provider = cache.get(key)
    if provider is None:
        provider = cache[key] = StripePaymentProvider(settings)
    return provider

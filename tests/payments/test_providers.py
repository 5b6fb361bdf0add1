"""Which provider moves the money, and the refusals that keep a deployment honest."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from peal.config import Settings
from peal.payments.providers import (
    DevelopmentPaymentProvider,
    PaymentsUnavailable,
    StripePaymentProvider,
    provider_for,
    to_cents,
)

STRONG = "x" * 40


def test_the_development_provider_is_refused_in_production(settings: Settings) -> None:
    production = settings.model_copy(
        update={
            "environment": "production",
            "jwt_secret": STRONG,
            "jwt_refresh_secret": STRONG,
            "payment_provider": "development",
        }
    )
    with pytest.raises(PaymentsUnavailable):
        provider_for(production)
    # Even a donation recorded with it cannot be settled by it in production.
    with pytest.raises(PaymentsUnavailable):
        provider_for(production.model_copy(update={"payment_provider": "stripe"}), "development")


async def test_the_configured_provider_is_used(settings: Settings) -> None:
    assert isinstance(provider_for(settings), StripePaymentProvider)
    assert provider_for(settings) is provider_for(settings)  # one client per event loop
    development = provider_for(settings, "development")
    assert isinstance(development, DevelopmentPaymentProvider)
    payment = await development.create_payment(
        donation_id=uuid.uuid4(), request_id=uuid.uuid4(), amount=Decimal("12.30"), description=""
    )
    assert payment.status == "succeeded" and payment.amount_cents == 1230


def test_stripe_needs_its_secret_key(settings: Settings) -> None:
    with pytest.raises(PaymentsUnavailable):
        StripePaymentProvider(settings.model_copy(update={"stripe_secret_key": ""}))


def test_cents_are_exact() -> None:
    assert to_cents(Decimal("0.10")) == 10
    assert to_cents(Decimal("1000000.00")) == 100_000_000
    with pytest.raises(ValueError):
        to_cents(Decimal("0.001"))

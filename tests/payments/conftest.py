"""The fake Stripe server for the whole session, and an app configured to use it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from peal.config import Settings
from tests.payments.fake_stripe import API_KEY, WEBHOOK_SECRET, FakeStripe, start_fake_stripe


@pytest.fixture(scope="session")
def fake_stripe_server() -> Iterator[FakeStripe]:
    state, server = start_fake_stripe()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def stripe(fake_stripe_server: FakeStripe) -> FakeStripe:
    fake_stripe_server.reset()
    return fake_stripe_server


@pytest.fixture
def settings(settings: Settings, stripe: FakeStripe) -> Settings:
    """The suite's settings with PAYMENT_PROVIDER=stripe pointed at the fake server."""
    return settings.model_copy(
        update={
            "payment_provider": "stripe",
            "stripe_secret_key": API_KEY,
            "stripe_webhook_secret": WEBHOOK_SECRET,
            "stripe_api_base": stripe.url,
        }
    )

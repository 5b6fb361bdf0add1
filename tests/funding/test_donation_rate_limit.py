"""Donations have a per-user quota on top of the per-IP one, on both donation routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from peal.config import Settings
from peal.main import create_app
from tests.funding.helpers import create_request


@pytest.mark.committing
async def test_a_donor_is_limited_per_account(
    make_settings: Callable[..., Settings], make_user: Callable[..., Any]
) -> None:
    app = create_app(
        make_settings(
            rate_limit_enabled=True, rate_limit_per_minute=1000, donation_rate_limit_per_minute=2
        )
    )
    async with app.router.lifespan_context(app):
        woman = await make_user("woman")
        sponsor = await make_user("sponsor")
        transport = httpx.ASGITransport(app=app, client=("192.0.2.44", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            request = await create_request(client, woman)
            body = {"amount": 10}
            first = await client.post(
                f"/api/requests/{request['id']}/donate", json=body, headers=sponsor.headers
            )
            alias = await client.post(
                "/api/payments/create-donation-intent",
                json={**body, "requestId": request["id"]},
                headers=sponsor.headers,
            )
            third = await client.post(
                f"/api/requests/{request['id']}/donate", json=body, headers=sponsor.headers
            )
    assert first.status_code == 201, first.text
    assert alias.status_code == 201, alias.text
    assert third.status_code == 429
    assert third.json()["code"] == "rate_limited"
    assert int(third.headers["Retry-After"]) > 0

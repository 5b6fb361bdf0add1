"""The donation flow with Stripe, through the real SDK and a fake Stripe server on loopback:
PaymentIntents, signed webhooks delivered twice, out of order or forged, confirmation,
refunds on cancel, reconciliation, and the `/api/payments/*` aliases."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from peal.db import utcnow
from peal.funding.models import FundingDonation
from peal.funding.tasks import reconcile_payments
from peal.jobs import wait_for_jobs
from tests.conftest import TARGET, AuthedUser
from tests.funding.helpers import (
    count_notifications,
    create_request,
    donate,
    donation_rows,
    get_request,
    ledger_mismatches,
    notifications_of,
)
from tests.helpers import ok
from tests.payments.fake_stripe import FakeStripe, charge_refunded, event, sign


async def send(
    client: httpx.AsyncClient, payload: dict[str, Any], **options: Any
) -> httpx.Response:
    body, headers = sign(payload, **options)
    return await client.post("/api/payments/webhook", content=body, headers=headers)


async def pending_donation(
    client: httpx.AsyncClient, donor: AuthedUser, request_id: str, amount: float = 25.5, **kw: Any
) -> dict[str, Any]:
    result = await donate(client, donor, request_id, amount, **kw)
    assert result["provider"] == "stripe"
    assert result["donation"]["status"] == "pending"
    return result


async def test_a_stripe_donation_waits_for_the_webhook(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    stripe: FakeStripe,
    app: FastAPI,
) -> None:
    request = await create_request(client, woman, goalAmount=1000)
    result = await pending_donation(client, sponsor, request["id"], 25.5)
    intent_id = result["paymentIntentId"]
    intent = stripe.intents[intent_id]
    donation_id = result["donation"]["id"]
    assert result["clientSecret"] == intent["client_secret"]
    assert intent["amount"] == 2550 and intent["currency"] == "usd"
    assert intent["metadata"]["donation_id"] == donation_id
    assert stripe.calls_to("POST", "/v1/payment_intents")[0][2] == f"peal-donation-{donation_id}"
    assert result["request"]["currentAmount"] == 0

    # Pending money is nobody's business but the donor's.
    public = (await client.get(f"/api/requests/{request['id']}/donations")).json()
    assert public["data"] == []
    own = await client.get(f"/api/requests/{request['id']}/donations", headers=sponsor.headers)
    assert [d["status"] for d in own.json()["data"]] == ["pending"]

    stripe.pay(intent_id)
    succeeded = event("payment_intent.succeeded", stripe.intents[intent_id])
    response = await send(client, succeeded)
    assert response.status_code == 200, response.text
    assert response.json() == {"received": True, "duplicate": False}
    detail = await get_request(client, request["id"])
    assert detail["currentAmount"] == 25.5
    assert detail["supportersCount"] == 1
    assert len(await notifications_of(app, woman.id, "donation")) == 1

    # Stripe delivers the same event again: stored once, applied once.
    again = await send(client, succeeded)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    # Even a different event about the same payment cannot count it twice.
    replay = await send(client, event("payment_intent.succeeded", stripe.intents[intent_id]))
    assert replay.status_code == 200 and replay.json()["duplicate"] is False
    detail = await get_request(client, request["id"])
    assert detail["currentAmount"] == 25.5
    assert detail["supportersCount"] == 1
    assert len(await notifications_of(app, woman.id, "donation")) == 1
    assert await ledger_mismatches(app) == []


async def test_events_out_of_order_never_corrupt_the_state(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    stripe: FakeStripe,
    app: FastAPI,
) -> None:
    request = await create_request(client, woman, goalAmount=1000)
    first = await pending_donation(client, sponsor, request["id"], 10)
    paid = stripe.pay(first["paymentIntentId"])
    await send(client, event("payment_intent.succeeded", paid))
    # A failure reported late (an earlier attempt) must not undo a success.
    late_failure = event(
        "payment_intent.payment_failed", {**paid, "status": "requires_payment_method"}
    )
    assert (await send(client, late_failure)).status_code == 200

    second = await pending_donation(client, sponsor, request["id"], 5)
    declined = stripe.decline(second["paymentIntentId"])
    await send(client, event("payment_intent.payment_failed", declined))
    # ...and the payer retries with another card: the same intent succeeds after all.
    retried = stripe.pay(second["paymentIntentId"])
    await send(client, event("payment_intent.succeeded", retried))

    rows = {str(row.id): row.status for row in await donation_rows(app, request["id"])}
    assert rows == {first["donation"]["id"]: "succeeded", second["donation"]["id"]: "succeeded"}
    detail = await get_request(client, request["id"])
    assert detail["currentAmount"] == 15
    assert detail["supportersCount"] == 1

    # A payment that fails for good stays failed and counts nothing.
    third = await pending_donation(client, sponsor, request["id"], 7)
    await send(
        client,
        event(
            "payment_intent.canceled",
            {**stripe.intents[third["paymentIntentId"]], "status": "canceled"},
        ),
    )
    rows = {str(row.id): row.status for row in await donation_rows(app, request["id"])}
    assert rows[third["donation"]["id"]] == "failed"
    assert (await get_request(client, request["id"]))["currentAmount"] == 15
    assert await ledger_mismatches(app) == []


async def test_forged_or_stale_webhooks_are_refused(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    stripe: FakeStripe,
    app: FastAPI,
) -> None:
    request = await create_request(client, woman, goalAmount=1000)
    result = await pending_donation(client, sponsor, request["id"], 30)
    paid = event("payment_intent.succeeded", stripe.pay(result["paymentIntentId"]))

    forged = await send(client, paid, secret="whsec_attacker")
    assert forged.status_code == 400
    assert forged.json()["code"] == "invalid_signature"
    stale = await send(client, paid, timestamp=int(time.time()) - 301)
    assert stale.status_code == 400
    body, headers = sign(paid)
    tampered = body.replace(b'"amount_received": 3000', b'"amount_received": 3001')
    assert tampered != body
    assert (
        await client.post("/api/payments/webhook", content=tampered, headers=headers)
    ).status_code == 400
    unsigned = await client.post(
        "/api/payments/webhook", content=body, headers={"Content-Type": "application/json"}
    )
    assert unsigned.status_code == 400
    garbage = await client.post(
        "/api/payments/webhook", content=body, headers={"Stripe-Signature": "nonsense"}
    )
    assert garbage.status_code == 400

    assert (await get_request(client, request["id"]))["currentAmount"] == 0
    # The genuine delivery, within the tolerance, still works afterwards.
    recent = await send(client, paid, timestamp=int(time.time()) - 60)
    assert recent.status_code == 200
    assert (await get_request(client, request["id"]))["currentAmount"] == 30


async def test_unknown_events_and_unknown_payments_are_acknowledged(
    client: httpx.AsyncClient,
) -> None:
    unknown = await send(client, event("customer.created", {"id": "cus_123", "object": "customer"}))
    assert unknown.status_code == 200
    assert unknown.json() == {"received": True, "duplicate": False}
    stranger = await send(
        client,
        event("payment_intent.succeeded", {"id": "pi_not_ours", "amount": 100, "currency": "usd"}),
    )
    assert stranger.status_code == 200
    not_an_event = await client.post(
        "/api/payments/webhook",
        content=sign({"hello": "world"})[0],
        headers=sign({"hello": "world"})[1],
    )
    assert not_an_event.status_code == 400


async def test_a_payment_of_the_wrong_amount_is_not_counted(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, stripe: FakeStripe
) -> None:
    request = await create_request(client, woman, goalAmount=1000)
    result = await pending_donation(client, sponsor, request["id"], 50)
    paid = stripe.pay(result["paymentIntentId"])
    await send(client, event("payment_intent.succeeded", {**paid, "amount_received": 100}))
    assert (await get_request(client, request["id"]))["currentAmount"] == 0


async def test_confirmation_asks_stripe_and_counts_once(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    make_user: Callable[..., Any],
    stripe: FakeStripe,
    app: FastAPI,
) -> None:
    request = await create_request(client, woman, goalAmount=1000)
    result = await pending_donation(client, sponsor, request["id"], 40)
    donation_id = result["donation"]["id"]

    # Not paid yet: the client's word changes nothing.
    early = await client.post(
        "/api/payments/confirm-donation", json={"donationId": donation_id}, headers=sponsor.headers
    )
    assert early.status_code == 200
    assert early.json()["donation"]["status"] == "pending"
    assert early.json()["success"] is False

    stranger = await make_user("sponsor")
    hidden = await client.post(
        "/api/payments/confirm-donation", json={"donationId": donation_id}, headers=stranger.headers
    )
    assert hidden.status_code == 404
    assert (
        await client.post("/api/payments/confirm-donation", json={}, headers=sponsor.headers)
    ).status_code == 422

    paid = stripe.pay(result["paymentIntentId"])
    confirmed = await client.post(
        "/api/payments/confirm-donation",
        json={"paymentIntentId": result["paymentIntentId"]},
        headers=sponsor.headers,
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["donation"]["status"] == "succeeded"
    assert confirmed.json()["success"] is True
    assert confirmed.json()["message"]
    assert confirmed.json()["request"]["currentAmount"] == 40
    # Confirmed again, then the webhook arrives: still counted once.
    await ok(
        client.post(
            "/api/payments/confirm-donation",
            json={"donationId": donation_id},
            headers=sponsor.headers,
        )
    )
    await send(client, event("payment_intent.succeeded", paid))
    detail = await get_request(client, request["id"])
    assert detail["currentAmount"] == 40
    assert len(await notifications_of(app, woman.id, "donation")) == 1
    assert await ledger_mismatches(app) == []


@pytest.mark.committing  # its requests race each other
@pytest.mark.skipif(TARGET != "postgres", reason="concurrent writers need PostgreSQL")
async def test_confirmation_racing_the_webhook_counts_once(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    stripe: FakeStripe,
    app: FastAPI,
) -> None:
    request = await create_request(client, woman, goalAmount=1000)
    donations = [await pending_donation(client, sponsor, request["id"], 3) for _ in range(5)]
    calls = []
    for result in donations:
        paid = stripe.pay(result["paymentIntentId"])
        succeeded = event("payment_intent.succeeded", paid)
        calls += [
            send(client, succeeded),
            send(client, succeeded),
            client.post(
                "/api/payments/confirm-donation",
                json={"donationId": result["donation"]["id"]},
                headers=sponsor.headers,
            ),
        ]
    responses = await asyncio.gather(*calls)
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    detail = await get_request(client, request["id"])
    assert detail["currentAmount"] == 15
    assert detail["supportersCount"] == 1
    assert len(await notifications_of(app, woman.id, "donation")) == 5
    assert await ledger_mismatches(app) == []


async def test_cancel_refunds_through_stripe_and_charge_refunded_settles(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    make_user: Callable[..., Any],
    stripe: FakeStripe,
    app: FastAPI,
) -> None:
    request = await create_request(client, woman, goalAmount=1000)
    other = await make_user("woman")
    paid_ids = []
    for donor, amount in ((sponsor, 20), (other, 30.5)):
        result = await pending_donation(client, donor, request["id"], amount)
        await send(client, event("payment_intent.succeeded", stripe.pay(result["paymentIntentId"])))
        paid_ids.append(result)
    never_paid = await pending_donation(client, sponsor, request["id"], 9)
    assert (await get_request(client, request["id"]))["currentAmount"] == 50.5

    cancelled = await client.post(f"/api/requests/{request['id']}/cancel", headers=woman.headers)
    assert cancelled.status_code == 200
    await wait_for_jobs()
    refunds = stripe.calls_to("POST", "/v1/refunds")
    assert sorted(key for _m, _p, key in refunds) == sorted(
        f"peal-refund-{r['donation']['id']}" for r in paid_ids
    )
    # Asked, not yet confirmed: the money is still counted.
    detail = await get_request(client, request["id"])
    assert detail["status"] == "cancelled"
    assert detail["currentAmount"] == 50.5
    # The payment never made is cancelled at Stripe, and the donation with it.
    assert stripe.intents[never_paid["paymentIntentId"]]["status"] == "canceled"
    statuses = {str(row.id): row.status for row in await donation_rows(app, request["id"])}
    assert statuses[never_paid["donation"]["id"]] == "failed"

    first_refund = next(
        r for r in stripe.refunds.values() if r["payment_intent"] == paid_ids[0]["paymentIntentId"]
    )
    refunded = event(
        "charge.refunded",
        charge_refunded(stripe.intents[paid_ids[0]["paymentIntentId"]], first_refund["id"]),
    )
    assert (await send(client, refunded)).status_code == 200
    assert (await send(client, refunded)).json()["duplicate"] is True
    detail = await get_request(client, request["id"])
    assert detail["currentAmount"] == 30.5
    assert detail["supportersCount"] == 1
    await send(
        client,
        event("charge.refunded", charge_refunded(stripe.intents[paid_ids[1]["paymentIntentId"]])),
    )
    # The same refund told twice by different events: still once.
    await send(
        client,
        event("charge.refunded", charge_refunded(stripe.intents[paid_ids[1]["paymentIntentId"]])),
    )
    detail = await get_request(client, request["id"])
    assert detail["currentAmount"] == 0
    assert detail["supportersCount"] == 0
    rows = {str(row.id): row for row in await donation_rows(app, request["id"])}
    assert rows[paid_ids[0]["donation"]["id"]].provider_refund_id == first_refund["id"]
    assert {rows[r["donation"]["id"]].status for r in paid_ids} == {"refunded"}
    # A late success for a refunded donation changes nothing.
    await send(
        client, event("payment_intent.succeeded", stripe.intents[paid_ids[0]["paymentIntentId"]])
    )
    assert (await get_request(client, request["id"]))["currentAmount"] == 0
    assert await ledger_mismatches(app) == []


async def test_a_payment_completed_during_cancellation_is_refunded(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    stripe: FakeStripe,
    app: FastAPI,
) -> None:
    request = await create_request(client, woman, goalAmount=1000)
    result = await pending_donation(client, sponsor, request["id"], 15)
    paid = stripe.pay(result["paymentIntentId"])  # the webhook is still on its way
    stripe.refund_status = "succeeded"
    await ok(client.post(f"/api/requests/{request['id']}/cancel", headers=woman.headers))
    await wait_for_jobs()
    # The cancel job found it paid: counted, then refunded (Stripe said the refund succeeded).
    rows = await donation_rows(app, request["id"])
    assert [row.status for row in rows] == ["refunded"]
    assert len(stripe.refunds) == 1
    await send(client, event("payment_intent.succeeded", paid))
    detail = await get_request(client, request["id"])
    assert detail["currentAmount"] == 0
    assert await ledger_mismatches(app) == []


async def test_reconciliation_settles_payments_whose_webhook_was_lost(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    stripe: FakeStripe,
    app: FastAPI,
) -> None:
    request = await create_request(client, woman, goalAmount=1000)
    lost = await pending_donation(client, sponsor, request["id"], 12)
    fresh = await pending_donation(client, sponsor, request["id"], 13)
    stripe.pay(lost["paymentIntentId"])
    stripe.pay(fresh["paymentIntentId"])
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(FundingDonation)
            .where(FundingDonation.id == uuid.UUID(lost["donation"]["id"]))
            .values(created_at=utcnow() - timedelta(minutes=30))
        )
        await session.commit()
    await reconcile_payments()
    statuses = {str(row.id): row.status for row in await donation_rows(app, request["id"])}
    assert statuses == {lost["donation"]["id"]: "succeeded", fresh["donation"]["id"]: "pending"}
    assert (await get_request(client, request["id"]))["currentAmount"] == 12


async def test_aliases_are_the_same_donation_flow(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    stripe: FakeStripe,
    app: FastAPI,
) -> None:
    request = await create_request(client, woman, goalAmount=1000)
    body = {"requestId": request["id"], "amount": 19.99, "isAnonymous": True}
    headers = {**sponsor.headers, "Idempotency-Key": str(uuid.uuid4())}
    created = await client.post("/api/payments/create-donation-intent", json=body, headers=headers)
    assert created.status_code == 201, created.text
    result = created.json()
    assert result["donation"]["status"] == "pending"
    assert result["clientSecret"].startswith(result["paymentIntentId"])
    replay = await client.post("/api/payments/create-donation-intent", json=body, headers=headers)
    assert replay.json() == result
    assert len(stripe.intents) == 1  # the retry created no second PaymentIntent

    own = await client.post(
        "/api/payments/create-donation-intent",
        json={"requestId": request["id"], "amount": 5},
        headers=woman.headers,
    )
    assert own.status_code == 403
    missing = await client.post(
        "/api/payments/create-donation-intent",
        json={"requestId": str(uuid.uuid4()), "amount": 5},
        headers=sponsor.headers,
    )
    assert missing.status_code == 404

    stripe.pay(result["paymentIntentId"])
    confirmed = await client.post(
        "/api/payments/confirm-donation",
        json={"donationId": result["donation"]["id"]},
        headers=sponsor.headers,
    )
    assert confirmed.json()["donation"]["status"] == "succeeded"
    listed = (await client.get(f"/api/payments/donations/{request['id']}")).json()
    assert [d["id"] for d in listed["donations"]] == [result["donation"]["id"]]
    assert listed["donations"][0]["donor"] is None
    assert listed["pagination"]["total"] == 1
    assert (await client.get(f"/api/payments/donations/{uuid.uuid4()}")).status_code == 404


async def test_funded_flips_once_when_webhooks_cross_the_goal(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    make_user: Callable[..., Any],
    stripe: FakeStripe,
    app: FastAPI,
) -> None:
    request = await create_request(client, woman, goalAmount=100)
    other = await make_user("woman")
    a = await pending_donation(client, sponsor, request["id"], 70)
    b = await pending_donation(client, other, request["id"], 50)
    for result in (a, b):
        await send(client, event("payment_intent.succeeded", stripe.pay(result["paymentIntentId"])))
    detail = await get_request(client, request["id"])
    # Both payments were under way when the goal was reached: both count.
    assert detail["status"] == "funded"
    assert detail["currentAmount"] == 120
    assert detail["progress"] == 1
    assert await count_notifications(app, "request_funded") == 3  # the author and two donors
    assert json.dumps(detail).count("funded") == 1


async def test_the_web_clients_stripe_flow_confirms_with_the_fields_it_reads(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    stripe: FakeStripe,
) -> None:
    """The client posts create-donation-intent, pays with `clientSecret`, then confirms with
    the top-level `donationId` and `paymentIntentId` and reads `success`, `message` and
    `donation {id, amount, requestId}`."""
    request = await create_request(client, woman, goalAmount=1000)
    created = await client.post(
        "/api/payments/create-donation-intent",
        json={"requestId": request["id"], "amount": 30, "isAnonymous": False},
        headers=sponsor.headers,
    )
    assert created.status_code == 201, created.text
    intent = created.json()
    assert intent["donationId"] == intent["donation"]["id"]
    assert intent["clientSecret"] == stripe.intents[intent["paymentIntentId"]]["client_secret"]

    stripe.pay(intent["paymentIntentId"])
    confirmed = await client.post(
        "/api/payments/confirm-donation",
        json={"donationId": intent["donationId"], "paymentIntentId": intent["paymentIntentId"]},
        headers=sponsor.headers,
    )

    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert body["success"] is True
    assert body["message"] == "Thank you! Your donation has been received."
    assert body["donation"]["id"] == intent["donationId"]
    assert body["donation"]["amount"] == 30
    assert body["donation"]["requestId"] == request["id"]

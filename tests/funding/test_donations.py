"""Donations with the development provider over HTTP: the money rules, the totals, funded
once, notifications and email, anonymity in every response, refunds on cancel, expiry."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select, update

from peal.funding.models import FundingRequest
from peal.funding.tasks import expire_requests
from peal.settings.models import UserSettings
from tests.conftest import AuthedUser, Mailbox, QueryCounter
from tests.funding.helpers import (
    create_request,
    donate,
    donation_rows,
    get_request,
    ledger_mismatches,
    money,
    notifications_of,
    today,
    update_request_row,
)
from tests.helpers import ok


async def test_a_donation_succeeds_at_once_with_the_development_provider(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, app: FastAPI
) -> None:
    request = await create_request(client, woman, goalAmount=1000)
    result = await donate(client, sponsor, request["id"], 25.5, message="<i>Go</i> for it!")
    assert result["provider"] == "development"
    # What the web client reads: "demo_mode" means "already paid", no Stripe step.
    assert result["clientSecret"] == "demo_mode"
    assert result["donationId"] == result["donation"]["id"]
    assert result["paymentIntentId"] is None
    donation = result["donation"]
    assert donation["amount"] == 25.5
    assert donation["status"] == "succeeded"
    assert donation["message"] == "Go for it!"
    assert donation["isAnonymous"] is False
    assert donation["donor"]["id"] == str(sponsor.id)
    assert donation["requestId"] == request["id"]
    assert result["request"]["currentAmount"] == 25.5
    assert result["request"]["supportersCount"] == 1
    assert result["request"]["progress"] == 0.0255

    detail = await get_request(client, request["id"])
    assert detail["currentAmount"] == 25.5
    assert [d["id"] for d in detail["recentDonations"]] == [donation["id"]]
    rows = await donation_rows(app, request["id"])
    assert [(row.status, row.provider) for row in rows] == [("succeeded", "development")]
    assert await ledger_mismatches(app) == []


@pytest.mark.parametrize("amount", [0.99, 0, -5, 1_000_000.01, 10.001, "10", None, True])
async def test_amount_rules(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, amount: Any
) -> None:
    request = await create_request(client, woman)
    response = await client.post(
        f"/api/requests/{request['id']}/donate", json={"amount": amount}, headers=sponsor.headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["details"][0]["field"] == "amount"


@pytest.mark.parametrize("literal", ["NaN", "Infinity"])
async def test_amount_refuses_nan_and_infinity(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, literal: str
) -> None:
    request = await create_request(client, woman)
    response = await client.post(
        f"/api/requests/{request['id']}/donate",
        content=f'{{"amount": {literal}}}',
        headers={**sponsor.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422


async def test_amount_bounds_are_inclusive(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    request = await create_request(client, woman, goalAmount=10_000_000)
    assert (await donate(client, sponsor, request["id"], 1))["donation"]["amount"] == 1
    big = await donate(client, sponsor, request["id"], 1_000_000)
    assert big["donation"]["amount"] == 1_000_000
    assert big["request"]["currentAmount"] == 1_000_001


async def test_nobody_donates_to_her_own_request(
    client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    request = await create_request(client, woman)
    response = await client.post(
        f"/api/requests/{request['id']}/donate", json={"amount": 10}, headers=woman.headers
    )
    assert response.status_code == 403
    assert response.json()["code"] == "own_request"
    unauthenticated = await client.post(
        f"/api/requests/{request['id']}/donate", json={"amount": 10}
    )
    assert unauthenticated.status_code == 401


async def test_only_active_requests_take_donations(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, app: FastAPI
) -> None:
    cancelled = await create_request(client, woman)
    await ok(client.post(f"/api/requests/{cancelled['id']}/cancel", headers=woman.headers))
    funded = await create_request(client, woman, goalAmount=100)
    await donate(client, sponsor, funded["id"], 100)
    expired = await create_request(client, woman)
    await update_request_row(app, expired["id"], deadline=today() - timedelta(days=1))
    for request in (cancelled, funded, expired):
        response = await client.post(
            f"/api/requests/{request['id']}/donate", json={"amount": 10}, headers=sponsor.headers
        )
        assert response.status_code == 409, request["title"]
        assert response.json()["code"] == "request_not_active"
    missing = await client.post(
        f"/api/requests/{uuid.uuid4()}/donate", json={"amount": 10}, headers=sponsor.headers
    )
    assert missing.status_code == 404


async def test_supporters_are_distinct_donors(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    make_user: Callable[..., Any],
    app: FastAPI,
) -> None:
    request = await create_request(client, woman, goalAmount=1000)
    other = await make_user("woman")
    await donate(client, sponsor, request["id"], 10.1)
    await donate(client, sponsor, request["id"], 20.2, isAnonymous=True)
    result = await donate(client, other, request["id"], 0.7 + 1)
    assert result["request"]["supportersCount"] == 2
    assert money(result["request"]["currentAmount"]) == money("32.00")
    assert await ledger_mismatches(app) == []


async def test_funded_exactly_once_and_everybody_is_told(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    make_user: Callable[..., Any],
    app: FastAPI,
) -> None:
    request = await create_request(client, woman, goalAmount=100, title="Sewing studio")
    second = await make_user("woman")
    first = await donate(client, sponsor, request["id"], 60)
    assert first["request"]["status"] == "active"
    last = await donate(client, second, request["id"], 40.5, isAnonymous=True)
    assert last["request"]["status"] == "funded"
    assert last["request"]["progress"] == 1
    assert last["request"]["currentAmount"] == 100.5

    author_news = await notifications_of(app, woman.id, "request_funded")
    assert len(author_news) == 1
    assert "Sewing studio" in author_news[0].title
    for donor in (sponsor, second):
        news = await notifications_of(app, donor.id, "request_funded")
        assert len(news) == 1
        assert news[0].data["requestId"] == request["id"]
    assert len(await notifications_of(app, woman.id, "donation")) == 2


async def test_the_author_is_notified_and_the_anonymous_donor_stays_hidden(
    client: httpx.AsyncClient, woman: AuthedUser, make_user: Callable[..., Any]
) -> None:
    request = await create_request(client, woman, goalAmount=1000, title="Bakery")
    named = await make_user("sponsor", name="Grace Named")
    secret = await make_user("sponsor", name="Zelda Secret")
    await donate(client, named, request["id"], 30)
    await donate(client, secret, request["id"], 45.5, isAnonymous=True, message="From a friend")

    inbox = await client.get("/api/notifications", headers=woman.headers)
    assert inbox.status_code == 200
    items = [n for n in inbox.json()["data"] if n["type"] == "donation"]
    assert len(items) == 2
    anonymous, public = items  # newest first
    assert "Grace Named" in public["message"]
    assert public["data"]["donorId"] == str(named.id)
    assert public["data"]["amount"] == 30
    assert anonymous["data"]["amount"] == 45.5
    assert anonymous["data"]["isAnonymous"] is True
    assert "anonymous" in anonymous["message"].lower()
    text = json.dumps(anonymous)
    assert "Zelda" not in text and str(secret.id) not in text


async def test_anonymous_donor_never_leaks_in_any_response(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    admin: AuthedUser,
    sponsor: AuthedUser,
    make_user: Callable[..., Any],
) -> None:
    request = await create_request(client, woman, goalAmount=5000)
    secret = await make_user("sponsor", name="Zelda Secret")
    result = await donate(client, secret, request["id"], 75, isAnonymous=True)
    donation_id = result["donation"]["id"]
    # The donor herself sees her name on her own donation.
    assert result["donation"]["donor"]["id"] == str(secret.id)

    def donors_of(body: Any) -> list[Any]:
        return [d["donor"] for d in body if d["id"] == donation_id]

    routes = [
        f"/api/requests/{request['id']}/donations",
        f"/api/payments/donations/{request['id']}",
        f"/api/requests/{request['id']}",
        "/api/requests",
    ]
    for viewer in (None, woman, sponsor):
        headers = viewer.headers if viewer else {}
        for route in routes:
            response = await client.get(route, headers=headers)
            assert response.status_code == 200, route
            assert "Zelda" not in response.text, (route, viewer)
            assert str(secret.id) not in response.text, (route, viewer)
        listed = (await client.get(routes[0], headers=headers)).json()["data"]
        assert donors_of(listed) == [None]
        alias = (await client.get(routes[1], headers=headers)).json()["donations"]
        assert donors_of(alias) == [None]
        detail = (await client.get(routes[2], headers=headers)).json()["request"]
        assert donors_of(detail["recentDonations"]) == [None]
    for insider in (secret, admin):
        listed = (await client.get(routes[0], headers=insider.headers)).json()["data"]
        assert donors_of(listed)[0]["id"] == str(secret.id)
        alias = (await client.get(routes[1], headers=insider.headers)).json()["donations"]
        assert donors_of(alias)[0]["name"] == "Zelda Secret"


async def test_donation_email_follows_the_authors_settings(
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    sponsor: AuthedUser,
    mailbox: Mailbox,
    app: FastAPI,
) -> None:
    english = await make_user("woman", name="Amara")
    spanish = await make_user("woman", name="Lucía")
    quiet = await make_user("woman", name="Quiet")
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(UserSettings).where(UserSettings.user_id == spanish.id).values(language="es")
        )
        await session.execute(
            update(UserSettings)
            .where(UserSettings.user_id == quiet.id)
            .values(email_notifications=False)
        )
        await session.commit()
    for author in (english, spanish, quiet):
        request = await create_request(client, author, title=f"Request of {author.name}")
        await donate(client, sponsor, request["id"], 12.5, message="Bravo")
    secret_request = await create_request(client, english, title="Second")
    await donate(client, sponsor, secret_request["id"], 9, isAnonymous=True)
    await mailbox.wait()

    english_mail = mailbox.to(english.email)
    assert len(english_mail) == 2
    subjects = sorted(str(m["Subject"]) for m in english_mail)
    assert f"“{sponsor.name}” donated $12.50" in subjects
    assert "You received an anonymous donation of $9.00" in subjects
    anonymous_mail = next(m for m in english_mail if "anonymous" in str(m["Subject"]))
    body = anonymous_mail.get_body(("plain",))
    assert body is not None
    assert sponsor.name not in body.get_content()
    assert sponsor.name not in (anonymous_mail.get_body(("html",)) or body).get_content()
    # The total is read by the email's job, once the donation committed.
    named_mail = next(m for m in english_mail if "anonymous" not in str(m["Subject"]))
    named_body = named_mail.get_body(("plain",))
    assert named_body is not None
    assert "Raised so far: $12.50 of" in named_body.get_content()

    spanish_mail = mailbox.to(spanish.email)
    assert len(spanish_mail) == 1
    assert str(spanish_mail[0]["Subject"]) == f"«{sponsor.name}» donó $12.50"
    assert mailbox.to(quiet.email) == []


async def test_cancelling_refunds_every_donation(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    make_user: Callable[..., Any],
    app: FastAPI,
) -> None:
    request = await create_request(client, woman, goalAmount=1000)
    other = await make_user("woman")
    await donate(client, sponsor, request["id"], 100)
    await donate(client, sponsor, request["id"], 50.25)
    await donate(client, other, request["id"], 10)
    cancelled = await client.post(f"/api/requests/{request['id']}/cancel", headers=woman.headers)
    assert cancelled.status_code == 200
    body = cancelled.json()["request"]
    assert body["status"] == "cancelled"
    assert body["currentAmount"] == 0
    assert body["supportersCount"] == 0
    rows = await donation_rows(app, request["id"])
    assert {row.status for row in rows} == {"refunded"}
    assert all(row.provider_refund_id and row.refunded_at for row in rows)
    # Refunded money stays on record: the list still shows it, as refunded.
    listed = (await client.get(f"/api/requests/{request['id']}/donations")).json()
    assert [d["status"] for d in listed["data"]] == ["refunded"] * 3
    for donor in (sponsor, other):
        assert len(await notifications_of(app, donor.id, "request_cancelled")) == 1
    assert await ledger_mismatches(app) == []


async def test_an_admin_cancels_anyones_request(
    client: httpx.AsyncClient, woman: AuthedUser, admin: AuthedUser, sponsor: AuthedUser
) -> None:
    request = await create_request(client, woman)
    await donate(client, sponsor, request["id"], 10)
    response = await client.post(f"/api/requests/{request['id']}/cancel", headers=admin.headers)
    assert response.status_code == 200
    assert response.json()["request"]["currentAmount"] == 0


async def test_expiry_on_read_and_by_the_periodic_job(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, app: FastAPI
) -> None:
    read = await create_request(client, woman)
    swept = await create_request(client, woman)
    for request in (read, swept):
        await update_request_row(app, request["id"], deadline=today() - timedelta(days=1))
    # The deadline day itself is still open.
    open_today = await create_request(client, woman)
    await update_request_row(app, open_today["id"], deadline=today())
    await donate(client, sponsor, open_today["id"], 5)

    assert (await get_request(client, read["id"]))["status"] == "expired"
    await expire_requests()
    async with app.state.db.sessionmaker() as session:
        stored = {
            str(r.id): r.status for r in (await session.scalars(select(FundingRequest))).all()
        }
    assert stored[read["id"]] == "expired"
    assert stored[swept["id"]] == "expired"
    assert stored[open_today["id"]] == "active"


async def test_donations_list_paginates_by_cursor_in_fixed_queries(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    count_queries: QueryCounter,
) -> None:
    request = await create_request(client, woman, goalAmount=10000)
    made = [
        (await donate(client, sponsor, request["id"], n + 1))["donation"]["id"] for n in range(7)
    ]
    newest_first = list(reversed(made))
    url = f"/api/requests/{request['id']}/donations"

    first = (await client.get(f"{url}?limit=3")).json()
    assert [d["id"] for d in first["data"]] == newest_first[:3]
    assert first["pagination"]["total"] == 7
    assert first["pagination"]["hasMore"] is True
    cursor = first["pagination"]["nextCursor"]
    second = (await client.get(f"{url}?limit=3&cursor={cursor}")).json()
    assert [d["id"] for d in second["data"]] == newest_first[3:6]
    third = (await client.get(f"{url}?limit=3&cursor={second['pagination']['nextCursor']}")).json()
    assert [d["id"] for d in third["data"]] == newest_first[6:]
    assert third["pagination"]["hasMore"] is False
    assert third["pagination"]["nextCursor"] is None
    assert (await client.get(f"{url}?cursor=garbage")).status_code == 422

    count_queries.reset()
    await client.get(f"{url}?limit=2")
    few = count_queries.count
    count_queries.reset()
    await client.get(f"{url}?limit=100")
    assert count_queries.count == few


async def test_idempotency_key_replays_or_conflicts(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    make_user: Callable[..., Any],
    app: FastAPI,
) -> None:
    request = await create_request(client, woman, goalAmount=1000)
    url = f"/api/requests/{request['id']}/donate"
    headers = {**sponsor.headers, "Idempotency-Key": "donate-123"}
    first = await client.post(url, json={"amount": 20, "message": "hi"}, headers=headers)
    assert first.status_code == 201
    # Same key and body (key order and spacing do not matter): the first answer, again.
    replay = await client.post(
        url,
        content='{"message": "hi",   "amount": 20}',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert len(await donation_rows(app, request["id"])) == 1

    different = await client.post(url, json={"amount": 21, "message": "hi"}, headers=headers)
    assert different.status_code == 409
    assert different.json()["code"] == "idempotency_conflict"
    elsewhere = await client.post(
        "/api/payments/create-donation-intent",
        json={"requestId": request["id"], "amount": 20, "message": "hi"},
        headers=headers,
    )
    assert elsewhere.status_code == 409

    # Keys belong to their user: another donor's identical key is hers alone.
    other = await make_user("sponsor")
    theirs = await client.post(
        url,
        json={"amount": 20, "message": "hi"},
        headers={**other.headers, "Idempotency-Key": "donate-123"},
    )
    assert theirs.status_code == 201
    assert theirs.json()["donation"]["id"] != first.json()["donation"]["id"]
    assert (await get_request(client, request["id"]))["currentAmount"] == 40

    # A failed attempt keeps no key: the retry runs for real.
    bad = {**sponsor.headers, "Idempotency-Key": "bad-then-good"}
    await update_request_row(app, request["id"], status="cancelled")
    assert (await client.post(url, json={"amount": 5}, headers=bad)).status_code == 409
    await update_request_row(app, request["id"], status="active")
    assert (await client.post(url, json={"amount": 5}, headers=bad)).status_code == 201

    too_long = await client.post(
        url, json={"amount": 5}, headers={**sponsor.headers, "Idempotency-Key": "k" * 256}
    )
    assert too_long.status_code == 422


async def test_ledger_reports_tampered_totals(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, app: FastAPI
) -> None:
    request = await create_request(client, woman, goalAmount=1000)
    await donate(client, sponsor, request["id"], 10)
    assert await ledger_mismatches(app) == []
    await update_request_row(app, request["id"], current_amount=money("10.01"), supporters_count=3)
    mismatches = await ledger_mismatches(app)
    assert [str(m.request_id) for m in mismatches] == [request["id"]]
    assert "10.01" in mismatches[0].describe() and "supportersCount 3" in mismatches[0].describe()


async def test_webhooks_are_refused_while_stripe_is_not_configured(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/payments/webhook", content=b"{}")
    assert response.status_code == 503
    assert response.json()["code"] == "webhooks_not_configured"


async def test_donor_text_in_emails_is_quoted_bounded_and_on_one_line(
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    mailbox: Mailbox,
) -> None:
    author = await make_user("woman", name="Amara")
    impostor = "PEAL Support: verify your account at https://evil.example/login now\u202e"
    donor = await make_user("sponsor", name=impostor)
    request = await create_request(client, author)
    message = "Click here\r\nBcc: victim@example.com\n" + "x" * 2000
    await donate(client, donor, request["id"], 2, message=message[:1000])
    await mailbox.wait()

    (mail,) = mailbox.to(author.email)
    subject = str(mail["Subject"])
    assert subject == "“PEAL Support: verify your account at ht…” donated $2.00"
    assert "\u202e" not in subject
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Bcc: victim" not in text.splitlines()  # never a line of its own
    assert "“Click here Bcc: victim@example.com xxx" in text
    assert f"“{impostor[:-1]}” donated $2.00" in text


@pytest.mark.committing  # real commits: the test watches where the commit falls
async def test_a_donation_holds_the_requests_row_lock_for_its_update_and_commit_alone(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, app: FastAPI
) -> None:
    """Many donors give to one popular request at once: each donation takes the request's row
    lock at its totals' UPDATE, so nothing may be sent between that UPDATE and the COMMIT: no
    supporter check, no email job (it is queued before). A returning donor is the case that
    used to check her supporter row under the lock."""
    request = await create_request(client, woman, goalAmount=1000)
    await donate(client, sponsor, request["id"], 5)
    sent: list[str] = []

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(" ".join(statement.split()))

    def on_commit(_conn: Any) -> None:
        sent.append("COMMIT")

    engine = app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    try:
        await donate(client, sponsor, request["id"], 7, message="Again")
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine, "commit", on_commit)

    totals = [i for i, s in enumerate(sent) if s.startswith("UPDATE funding_requests SET")]
    assert len(totals) == 1, sent
    assert sent[totals[0] + 1] == "COMMIT", sent[totals[0] :]
    assert any(s.startswith("INSERT INTO job_outbox") for s in sent[: totals[0]])
    # Paid at once (development), the donation's row goes in succeeded: no second write of it.
    assert not any(s.startswith("UPDATE funding_donations") for s in sent), sent
    # The author's settings, read once for the notification and the email.
    assert sum(s.startswith("SELECT user_settings.") for s in sent[: totals[0]]) == 1, sent
    detail = await get_request(client, request["id"])
    assert (money(detail["currentAmount"]), detail["supportersCount"]) == (12, 1)


async def test_one_totals_statement_serves_every_donation_with_its_own_values(
    client: httpx.AsyncClient, woman: AuthedUser, make_user: Callable[..., Any]
) -> None:
    """The UPDATE that counts a donation is built once; its request, amount, supporter and
    day are bound, so each request gets exactly its own money."""
    from peal.funding.donations import _totals_statement

    donors = [await make_user("sponsor") for _ in range(2)]
    small = await create_request(client, woman, goalAmount=100)
    large = await create_request(client, woman, goalAmount=1000)
    _totals_statement.cache_clear()
    await donate(client, donors[0], small["id"], 12.34)
    await donate(client, donors[1], large["id"], 1.66)
    await donate(client, donors[0], large["id"], 99)
    last = await donate(client, donors[1], small["id"], 87.66)
    assert _totals_statement.cache_info().misses == 1
    assert (last["request"]["currentAmount"], last["request"]["status"]) == (100, "funded")
    detail = await get_request(client, large["id"])
    assert (money(detail["currentAmount"]), detail["supportersCount"]) == (money(100.66), 2)

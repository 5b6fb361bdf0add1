"""Concurrent donations on PostgreSQL: every cent counted once, supporters exact, funded once,
and the ledger agrees. (SQLite serialises writers and is skipped.)"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from peal.funding.ledger import check_ledger
from tests.conftest import TARGET, AuthedUser
from tests.funding.helpers import (
    count_notifications,
    create_request,
    donation_rows,
    get_request,
    ledger_mismatches,
    money,
    supporter_rows,
)

pytestmark = [
    pytest.mark.committing,  # sessions race each other
    pytest.mark.skipif(TARGET != "postgres", reason="concurrency needs PostgreSQL"),
]


def amount_of(n: int) -> Decimal:
    """1.01, 1.34, 1.67, ... : cents that a float sum would get wrong."""
    return Decimal("1.01") + Decimal("0.33") * (n % 7)


async def post_donation(
    client: httpx.AsyncClient, donor: AuthedUser, request_id: str, amount: Decimal
) -> httpx.Response:
    return await client.post(
        f"/api/requests/{request_id}/donate",
        json={"amount": float(amount), "isAnonymous": bool(hash(donor.id) % 2)},
        headers={**donor.headers, "Idempotency-Key": str(uuid.uuid4())},
    )


def before_the_lock(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, work: Callable[[AsyncSession], Awaitable[None]]
) -> None:
    """Run `work` once, in a session of its own, just before the next donation's totals'
    UPDATE takes the request's row lock: the window a returning donor's race lives in."""
    from peal.funding import donations

    original = donations._add_to_totals
    ran: list[bool] = []

    async def work_then_count(*args: Any, **kwargs: Any) -> Any:
        if not ran:
            ran.append(True)
            async with app.state.db.sessionmaker() as other:
                await work(other)
        return await original(*args, **kwargs)

    monkeypatch.setattr(donations, "_add_to_totals", work_then_count)


async def test_200_concurrent_donations_add_up_to_the_cent(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    make_user: Callable[..., Any],
    app: FastAPI,
) -> None:
    donors = [await make_user("sponsor") for _ in range(200)]
    amounts = [amount_of(n) for n in range(200)]
    # The goal is reached part-way: the late donations find the request funded.
    goal = (sum(amounts, Decimal(0)) * Decimal("0.6")).quantize(Decimal("0.01"))
    request = await create_request(client, woman, goalAmount=float(goal))

    responses = await asyncio.gather(
        *(
            post_donation(client, donor, request["id"], amount)
            for donor, amount in zip(donors, amounts, strict=True)
        )
    )

    accepted = [r for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code != 201]
    assert all(r.status_code == 409 for r in refused), [r.text for r in refused[:3]]
    assert all(r.json()["code"] == "request_not_active" for r in refused)
    assert accepted, "some donations must get in before the goal"
    raised = sum((money(r.json()["donation"]["amount"]) for r in accepted), Decimal(0))

    detail = await get_request(client, request["id"])
    assert money(detail["currentAmount"]) == raised
    assert raised >= goal
    assert detail["supportersCount"] == len(accepted)
    assert detail["status"] == "funded"
    rows = await donation_rows(app, request["id"])
    assert len(rows) == len(accepted)
    assert sum((row.amount for row in rows), Decimal(0)) == raised
    # Funded exactly once: one notification to the author, one to each donor in at the time.
    author_funded = [n for n in await _funded_notifications(app) if n.user_id == woman.id]
    assert len(author_funded) == 1
    assert await count_notifications(app, "request_funded") == 1 + len(accepted)
    assert await count_notifications(app, "donation") == len(accepted)

    async with app.state.db.sessionmaker() as session:
        checked, mismatches = await check_ledger(session)
    assert checked == 1
    assert mismatches == []


async def _funded_notifications(app: FastAPI) -> list[Any]:
    from sqlalchemy import select

    from peal.notifications.models import Notification

    async with app.state.db.sessionmaker() as session:
        rows = await session.scalars(
            select(Notification).where(Notification.type == "request_funded")
        )
        return list(rows.all())


async def test_concurrent_repeat_donors_count_as_distinct_supporters(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    make_user: Callable[..., Any],
    app: FastAPI,
) -> None:
    donors = [await make_user("sponsor") for _ in range(20)]
    request = await create_request(client, woman, goalAmount=1_000_000)
    jobs = [
        post_donation(client, donor, request["id"], amount_of(n))
        for n in range(10)
        for donor in donors
    ]
    responses = await asyncio.gather(*jobs)
    assert [r.status_code for r in responses] == [201] * 200
    detail = await get_request(client, request["id"])
    assert detail["supportersCount"] == 20
    assert money(detail["currentAmount"]) == sum((amount_of(n) for n in range(10)), Decimal(0)) * 20
    assert await ledger_mismatches(app) == []


async def test_concurrent_retries_with_one_idempotency_key_pay_once(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    app: FastAPI,
) -> None:
    request = await create_request(client, woman, goalAmount=1000)
    headers = {**sponsor.headers, "Idempotency-Key": "double-click"}
    responses = await asyncio.gather(
        *(
            client.post(
                f"/api/requests/{request['id']}/donate", json={"amount": 12.34}, headers=headers
            )
            for _ in range(20)
        )
    )
    assert [r.status_code for r in responses] == [201] * 20
    assert len({r.text for r in responses}) == 1
    assert len(await donation_rows(app, request["id"])) == 1
    assert (await get_request(client, request["id"]))["currentAmount"] == 12.34


async def test_concurrent_first_donations_by_one_donor_count_one_supporter(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    make_user: Callable[..., Any],
    app: FastAPI,
) -> None:
    first, second = await make_user("sponsor"), await make_user("sponsor")
    request = await create_request(client, woman, goalAmount=1_000_000)
    # Nobody has given yet: every one of these is a "first" donation of its donor.
    responses = await asyncio.gather(
        *(
            post_donation(client, donor, request["id"], amount_of(n))
            for n in range(15)
            for donor in (first, second)
        )
    )
    assert [r.status_code for r in responses] == [201] * 30
    detail = await get_request(client, request["id"])
    assert detail["supportersCount"] == 2
    assert sorted(await supporter_rows(app, request["id"])) == sorted([first.id, second.id])
    assert money(detail["currentAmount"]) == sum((amount_of(n) for n in range(15)), Decimal(0)) * 2
    assert await ledger_mismatches(app) == []


async def test_funded_flips_once_when_many_donations_cross_the_goal_together(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    make_user: Callable[..., Any],
    app: FastAPI,
) -> None:
    donors = [await make_user("sponsor") for _ in range(40)]
    # Any 10 of the 40 reach the goal: most arrive while it is still open, together.
    request = await create_request(client, woman, goalAmount=100)
    responses = await asyncio.gather(
        *(post_donation(client, donor, request["id"], Decimal(10)) for donor in donors)
    )
    accepted = [r for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code != 201]
    assert {r.json()["code"] for r in refused} <= {"request_not_active"}
    assert len(accepted) == 10  # the tenth reached the goal and closed it; no overshoot
    detail = await get_request(client, request["id"])
    assert detail["status"] == "funded"
    assert money(detail["currentAmount"]) == Decimal(100)
    assert detail["supportersCount"] == 10
    author_funded = [n for n in await _funded_notifications(app) if n.user_id == woman.id]
    assert len(author_funded) == 1
    assert await count_notifications(app, "request_funded") == 1 + 10
    # The only request that reached its goal flipped once: accepted answers say funded only
    # from the flip on, and exactly one of them is the one that saw 100.00 raised.
    totals = [money(r.json()["request"]["currentAmount"]) for r in accepted]
    assert sorted(totals) == [Decimal(10 * n) for n in range(1, 11)]
    assert [
        r.json()["request"]["status"]
        for r in accepted
        if money(r.json()["request"]["currentAmount"]) == 100
    ] == ["funded"]
    assert await ledger_mismatches(app) == []


async def test_a_refund_committed_while_a_returning_donor_waits_keeps_her_a_supporter(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    app: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Her second donation finds her supporter row (not new) before taking the lock; the
    refund of her first donation, which cannot see the second, removes the row and commits
    in between. The second donation must put her back: one supporter, ledger exact."""
    from peal.funding import donations
    from peal.funding.models import FundingDonation

    request = await create_request(client, woman, goalAmount=1000)
    first = (await post_donation(client, sponsor, request["id"], Decimal(5))).json()
    settings = app.state.settings
    async with app.state.db.sessionmaker() as session:
        pending = FundingDonation(
            id=uuid.uuid4(),
            funding_request_id=uuid.UUID(request["id"]),
            donor_id=sponsor.id,
            amount=Decimal(7),
            status="pending",
            provider="development",
        )
        session.add(pending)
        await session.commit()

    refunded: list[bool] = []

    async def refund_first(other: AsyncSession) -> None:
        refunded.append(
            await donations.settle_refunded(other, uuid.UUID(first["donationId"]), "re_test")
        )
        await other.commit()

    before_the_lock(app, monkeypatch, refund_first)
    async with app.state.db.sessionmaker() as session:
        assert await donations.settle_succeeded(session, settings, pending.id)
        await session.commit()

    assert refunded == [True]
    detail = await get_request(client, request["id"])
    assert money(detail["currentAmount"]) == Decimal(7)
    assert detail["supportersCount"] == 1
    assert await supporter_rows(app, request["id"]) == [sponsor.id]
    assert await ledger_mismatches(app) == []


async def test_a_refund_waits_for_a_donation_in_flight_so_it_cannot_unseat_her(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    app: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Why `POST /donate` never checks her supporter row under the lock: her second donation
    found the row before taking the lock, and the refund of her first cannot commit in between.
    Tried right then, the refund waits for the donation (here it gives up after a lock
    timeout); the donation counts, and she stays one supporter."""
    from peal.funding import donations

    request = await create_request(client, woman, goalAmount=1000)
    first = (await post_donation(client, sponsor, request["id"], Decimal(5))).json()
    tried: list[str] = []

    async def try_refund(other: AsyncSession) -> None:
        await other.execute(text("SET LOCAL lock_timeout = '200ms'"))
        with pytest.raises(DBAPIError) as waited:
            await donations.settle_refunded(other, uuid.UUID(first["donationId"]), "re_test")
        tried.append(str(waited.value.orig))
        await other.rollback()

    before_the_lock(app, monkeypatch, try_refund)
    second = await post_donation(client, sponsor, request["id"], Decimal(7))

    assert second.status_code == 201, second.text
    assert len(tried) == 1 and "lock timeout" in tried[0], tried
    assert second.json()["request"]["supportersCount"] == 1
    monkeypatch.undo()
    async with app.state.db.sessionmaker() as other:  # the refund, once the donation is in
        assert await donations.settle_refunded(other, uuid.UUID(first["donationId"]), "re_1")
        await other.commit()
    detail = await get_request(client, request["id"])
    assert money(detail["currentAmount"]) == Decimal(7)
    assert detail["supportersCount"] == 1
    assert await supporter_rows(app, request["id"]) == [sponsor.id]
    assert await ledger_mismatches(app) == []

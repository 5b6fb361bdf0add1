"""Idempotency keys expire after their lifetime (and are purged); `peal check-ledger` tells."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from peal import cli
from peal.core.idempotency import IdempotencyKey
from peal.db import utcnow
from peal.funding.ledger import run_ledger_check
from peal.payments.tasks import purge_idempotency_keys
from tests.conftest import AuthedUser
from tests.funding.helpers import create_request, donate, donation_rows, update_request_row


async def _age_keys(app: FastAPI, hours: int) -> None:
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=hours))
        )
        await session.commit()


async def _keys(app: FastAPI) -> int:
    async with app.state.db.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(IdempotencyKey)) or 0)


async def test_a_key_lives_24_hours_then_may_be_used_afresh(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, app: FastAPI
) -> None:
    request = await create_request(client, woman, goalAmount=1000)
    await donate(client, sponsor, request["id"], 10, key="monthly")
    await _age_keys(app, 23)
    replay = await donate(client, sponsor, request["id"], 10, key="monthly")
    assert len(await donation_rows(app, request["id"])) == 1
    assert replay["donation"]["amount"] == 10

    await _age_keys(app, 25)
    await donate(client, sponsor, request["id"], 10, key="monthly")
    assert len(await donation_rows(app, request["id"])) == 2


async def test_the_daily_job_purges_expired_keys(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, app: FastAPI
) -> None:
    request = await create_request(client, woman, goalAmount=1000)
    await donate(client, sponsor, request["id"], 10, key="old")
    await _age_keys(app, 25)
    await donate(client, sponsor, request["id"], 10, key="new")
    assert await _keys(app) == 2
    await purge_idempotency_keys()
    assert await _keys(app) == 1


async def test_cancel_accepts_an_idempotency_key(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    request = await create_request(client, woman, goalAmount=1000)
    await donate(client, sponsor, request["id"], 10)
    headers = {**woman.headers, "Idempotency-Key": "cancel-1"}
    first = await client.post(f"/api/requests/{request['id']}/cancel", headers=headers)
    second = await client.post(f"/api/requests/{request['id']}/cancel", headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"


@pytest.mark.committing  # the CLI reads through its own engine and connection
async def test_peal_check_ledger(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    app: FastAPI,
    capsys: pytest.CaptureFixture[str],
) -> None:
    request = await create_request(client, woman, goalAmount=1000, title="Sound")
    await donate(client, sponsor, request["id"], 33.33)
    checked, mismatches = await run_ledger_check(app.state.settings)
    assert (checked, mismatches) == (1, [])
    # The command itself, as an operator runs it (its own event loop and connection).
    assert await asyncio.to_thread(cli.main, ["check-ledger"]) == 0
    assert "checked 1 funding requests: 0 mismatched" in capsys.readouterr().out

    await update_request_row(app, request["id"], supporters_count=2)
    assert await asyncio.to_thread(cli.main, ["check-ledger"]) == 1
    out = capsys.readouterr().out
    assert f"MISMATCH {request['id']}" in out
    assert "supportersCount 2 != distinct donors 1" in out

"""A request that expires unfunded: its author is told (notification and email), and so are
its donors, once, whichever path expires it (the hourly sweep or a read past the deadline)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from peal.funding.service import today
from peal.funding.tasks import expire_requests
from tests.conftest import AuthedUser
from tests.funding.helpers import create_request, donate, update_request_row


async def _notices(client: httpx.AsyncClient, user: AuthedUser) -> list[dict[str, Any]]:
    response = await client.get("/api/notifications", headers=user.headers)
    assert response.status_code == 200, response.text
    return [item for item in response.json()["data"] if item["type"] == "request_expired"]


async def test_the_sweep_tells_the_author_and_the_donors_once(
    client: httpx.AsyncClient,
    app: FastAPI,
    woman: AuthedUser,
    sponsor: AuthedUser,
    mailbox: Any,
) -> None:
    request = await create_request(client, woman, goalAmount=1000)
    await donate(client, sponsor, request["id"], 20)
    await update_request_row(app, request["id"], deadline=today() - timedelta(days=1))

    await expire_requests()
    await expire_requests()  # nothing left to expire: nobody is told twice
    await mailbox.wait()

    [author_notice] = await _notices(client, woman)
    assert author_notice["data"] == {"requestId": request["id"]}
    assert "expired" in author_notice["title"]
    [donor_notice] = await _notices(client, sponsor)
    assert donor_notice["data"] == {"requestId": request["id"]}
    assert any("expired" in str(message["Subject"]) for message in mailbox.to(woman.email))


async def test_a_read_past_the_deadline_expires_it_and_tells_them(
    client: httpx.AsyncClient,
    app: FastAPI,
    woman: AuthedUser,
    sponsor: AuthedUser,
) -> None:
    request = await create_request(client, woman, goalAmount=1000)
    await donate(client, sponsor, request["id"], 20)
    await update_request_row(app, request["id"], deadline=today() - timedelta(days=1))

    detail = await client.get(f"/api/requests/{request['id']}")
    assert detail.json()["request"]["status"] == "expired"
    await client.get(f"/api/requests/{request['id']}")
    await expire_requests()

    assert len(await _notices(client, woman)) == 1
    assert len(await _notices(client, sponsor)) == 1

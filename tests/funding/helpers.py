"""Helpers of the funding, payments and stories tests: images uploaded over HTTP, requests and
donations made through the API, rows read or changed straight in the database."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from io import BytesIO
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy import update as sql_update

from peal.db import utcnow
from peal.funding.ledger import check_ledger
from peal.funding.models import FundingDonation, FundingRequest, FundingSupporter
from peal.notifications.models import Notification


def today() -> date:
    return utcnow().date()


def png_bytes() -> bytes:
    out = BytesIO()
    Image.new("RGB", (4, 4), "purple").save(out, "PNG")
    return out.getvalue()


async def upload_image(client: httpx.AsyncClient, user: Any) -> str:
    """Presign, PUT, complete — the web client's upload flow — and return the file URL."""
    target = await client.post(
        "/api/uploads/presigned-url",
        json={"fileName": "cover.png", "contentType": "image/png"},
        headers=user.headers,
    )
    assert target.status_code == 200, target.text
    parts = urlsplit(target.json()["uploadUrl"])
    put = await client.put(
        f"{parts.path}?{parts.query}", content=png_bytes(), headers={"Content-Type": "image/png"}
    )
    assert put.status_code == 200, put.text
    done = await client.post(
        "/api/uploads/complete", json={"key": target.json()["key"]}, headers=user.headers
    )
    assert done.status_code == 200, done.text
    url: str = done.json()["url"]
    return url


def request_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Open my bakery",
        "description": "An oven and the first month of flour.",
        "category": "business",
        "goalAmount": 1000,
        "deadline": (today() + timedelta(days=30)).isoformat(),
    }
    body.update(fields)
    return body


async def create_request(client: httpx.AsyncClient, author: Any, **fields: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/requests", json=request_body(**fields), headers=author.headers
    )
    assert response.status_code == 201, response.text
    request: dict[str, Any] = response.json()["request"]
    return request


async def donate(
    client: httpx.AsyncClient,
    donor: Any,
    request_id: str,
    amount: float | int = 25,
    *,
    key: str | None = None,
    expect: int = 201,
    **fields: Any,
) -> dict[str, Any]:
    headers = dict(donor.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    response = await client.post(
        f"/api/requests/{request_id}/donate", json={"amount": amount, **fields}, headers=headers
    )
    assert response.status_code == expect, response.text
    body: dict[str, Any] = response.json()
    return body


async def get_request(
    client: httpx.AsyncClient, request_id: str, viewer: Any = None
) -> dict[str, Any]:
    response = await client.get(
        f"/api/requests/{request_id}", headers=viewer.headers if viewer else {}
    )
    assert response.status_code == 200, response.text
    request: dict[str, Any] = response.json()["request"]
    return request


async def update_request_row(app: FastAPI, request_id: str, **values: Any) -> None:
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            sql_update(FundingRequest)
            .where(FundingRequest.id == uuid.UUID(request_id))
            .values(**values)
        )
        await session.commit()


async def donation_rows(app: FastAPI, request_id: str) -> list[FundingDonation]:
    async with app.state.db.sessionmaker() as session:
        rows = await session.scalars(
            select(FundingDonation)
            .where(FundingDonation.funding_request_id == uuid.UUID(request_id))
            .order_by(FundingDonation.created_at)
        )
        return list(rows.all())


async def supporter_rows(app: FastAPI, request_id: str) -> list[uuid.UUID]:
    """The donors recorded as supporters of the request (`funding_supporters`)."""
    async with app.state.db.sessionmaker() as session:
        rows = await session.scalars(
            select(FundingSupporter.donor_id).where(
                FundingSupporter.funding_request_id == uuid.UUID(request_id)
            )
        )
        return list(rows.all())


async def ledger_mismatches(app: FastAPI) -> list[Any]:
    """What `peal check-ledger` finds wrong: empty when every total matches its donations."""
    async with app.state.db.sessionmaker() as session:
        _checked, mismatches = await check_ledger(session)
    return mismatches


async def notifications_of(
    app: FastAPI, user_id: uuid.UUID, type: str | None = None
) -> list[Notification]:
    async with app.state.db.sessionmaker() as session:
        query = select(Notification).where(Notification.user_id == user_id)
        if type is not None:
            query = query.where(Notification.type == type)
        return list((await session.scalars(query.order_by(Notification.created_at))).all())


async def count_notifications(app: FastAPI, type: str) -> int:
    async with app.state.db.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(Notification).where(Notification.type == type)
        )
        return int(count or 0)


def money(value: Any) -> Decimal:
    """A JSON money number as an exact Decimal (through its shortest text form)."""
    return Decimal(str(value))

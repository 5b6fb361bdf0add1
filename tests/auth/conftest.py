"""Helpers of the auth tests: registering through the API, reading links from emails, SQL."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

STRONG_PASSWORD = "Sunflower-Bakery-2026"

Register = Callable[..., Awaitable[httpx.Response]]


class Sql:
    """Short transactions of their own, outside any request, for setup and checks."""

    def __init__(self, app: FastAPI) -> None:
        self._sessionmaker = app.state.db.sessionmaker

    async def scalar(self, statement: Any) -> Any:
        async with self._sessionmaker() as session:
            return (await session.execute(statement)).scalar()

    async def scalars(self, statement: Any) -> list[Any]:
        async with self._sessionmaker() as session:
            return list((await session.scalars(statement)).all())

    async def run(self, statement: Any) -> None:
        async with self._sessionmaker() as session:
            await session.execute(statement)
            await session.commit()

    async def add(self, *rows: Any) -> None:
        async with self._sessionmaker() as session:
            session.add_all(rows)
            await session.commit()


@pytest.fixture
def sql(app: FastAPI) -> Sql:
    return Sql(app)


def new_email() -> str:
    return f"amara-{uuid.uuid4().hex[:10]}@example.com"


@pytest.fixture
def register(client: httpx.AsyncClient) -> Register:
    """`await register(email=..., keep_cookies=False, headers=..., **body)` → the response.

    The cookie jar is emptied afterwards unless asked, so a test using tokens explicitly is
    not helped by cookies it did not mean to send.
    """

    async def call(
        *, keep_cookies: bool = False, headers: dict[str, str] | None = None, **fields: Any
    ) -> httpx.Response:
        body = {"email": new_email(), "password": STRONG_PASSWORD, "name": "Amara Okafor"}
        body.update(fields)
        response = await client.post("/api/auth/register", json=body, headers=headers)
        if not keep_cookies:
            client.cookies.clear()
        return response

    return call


def body_text(message: EmailMessage, kind: str = "plain") -> str:
    """The text (`plain`) or HTML (`html`) part of an email."""
    part = message.get_body(preferencelist=(kind,))
    assert part is not None, f"no {kind} part"
    content: str = part.get_content()
    return content


def link_token(message: EmailMessage, path: str) -> str:
    """The token of the `<frontend>/<path>?token=...` link in an email's text part."""
    text = body_text(message)
    match = re.search(rf"/{path}\?token=([A-Za-z0-9_\-]+)", text)
    assert match, f"no {path} link in: {text}"
    return match.group(1)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

"""Issue 8 item 4: no request holds a database connection while its password hash waits for
the limiter or runs (a login burst would empty the pool for everyone)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.auth.conftest import STRONG_PASSWORD, new_email
from tests.auth.test_session_epoch import NEW_PASSWORD, reset_token_for

# They watch the pool for a connection held while hashing; the test transaction holds one
# for the whole test.
pytestmark = pytest.mark.committing

Call = Callable[[], Awaitable[httpx.Response]]


class BlockedHasher:
    """Replaces the app's hash/verify with ones that wait until the test lets them go, and
    record how many pooled connections were checked out while they waited."""

    def __init__(self, app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pool = app.state.db.engine.pool
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.checked_out_while_waiting: list[int] = []
        self.armed = False  # set by run(): the test's own setup hashes freely
        passwords = app.state.passwords
        real_hash, real_verify = passwords.hash, passwords.verify

        async def hash_(password: str) -> str:
            await self._wait()
            result: str = await real_hash(password)
            return result

        async def verify(password_hash: str | None, password: str) -> bool:
            await self._wait()
            result: bool = await real_verify(password_hash, password)
            return result

        monkeypatch.setattr(passwords, "hash", hash_)
        monkeypatch.setattr(passwords, "verify", verify)

    async def _wait(self) -> None:
        if not self.armed:
            return
        self.checked_out_while_waiting.append(self.pool.checkedout())
        self.entered.set()
        await self.release.wait()

    async def run(self, call: Call) -> httpx.Response:
        self.armed, self.release = True, asyncio.Event()
        self.entered.clear()
        request = asyncio.create_task(call())
        await asyncio.wait_for(self.entered.wait(), timeout=30)
        self.release.set()
        response = await request
        self.armed = False
        return response


@pytest.fixture
def blocked(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> BlockedHasher:
    return BlockedHasher(app, monkeypatch)


async def test_login_holds_no_connection_while_verifying(
    client: httpx.AsyncClient, make_user: Callable[..., Any], blocked: BlockedHasher
) -> None:
    user = await make_user()

    response = await blocked.run(
        lambda: client.post(
            "/api/auth/login", json={"email": user.email, "password": user.password}
        )
    )

    assert response.status_code == 200
    assert blocked.checked_out_while_waiting == [0]


async def test_a_failed_login_holds_no_connection_either(
    client: httpx.AsyncClient, make_user: Callable[..., Any], blocked: BlockedHasher
) -> None:
    user = await make_user()
    for email in (user.email, new_email()):  # wrong password, unknown account
        response = await blocked.run(
            lambda email=email: client.post(
                "/api/auth/login", json={"email": email, "password": "Wrong-Password-123"}
            )
        )
        assert response.status_code == 401
    assert set(blocked.checked_out_while_waiting) == {0}


async def test_register_holds_no_connection_while_hashing(
    client: httpx.AsyncClient, blocked: BlockedHasher
) -> None:
    body = {"email": new_email(), "password": STRONG_PASSWORD, "name": "Amara"}

    response = await blocked.run(lambda: client.post("/api/auth/register", json=body))

    assert response.status_code == 201, response.text
    assert blocked.checked_out_while_waiting == [0]


async def test_reset_holds_no_connection_while_hashing(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    blocked: BlockedHasher,
) -> None:
    from tests.auth.conftest import Sql

    user = await make_user()
    token = await reset_token_for(Sql(app), user.id)

    response = await blocked.run(
        lambda: client.post(
            "/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}
        )
    )

    assert response.status_code == 200, response.text
    assert blocked.checked_out_while_waiting == [0]
    login = await client.post(
        "/api/auth/login", json={"email": user.email, "password": NEW_PASSWORD}
    )
    assert login.status_code == 200


async def test_a_reset_link_used_twice_at_once_works_once(
    app: FastAPI, client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> None:
    """The link is consumed after the hash, atomically: two uses cannot both succeed."""
    from tests.auth.conftest import Sql

    user = await make_user()
    token = await reset_token_for(Sql(app), user.id)
    answers = await asyncio.gather(
        *(
            client.post("/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD})
            for _ in range(2)
        )
    )
    assert sorted(a.status_code for a in answers) == [200, 400]


@pytest.mark.parametrize("route", ["login", "register"])
async def test_a_full_hash_queue_sheds_sign_ins_before_any_database_work(
    app: FastAPI,
    client: httpx.AsyncClient,
    count_queries: Any,
    monkeypatch: pytest.MonkeyPatch,
    route: str,
) -> None:
    passwords = app.state.passwords
    monkeypatch.setattr(passwords, "_pending", passwords._queue_limit)  # a burst in flight
    count_queries.reset()

    response = await client.post(
        f"/api/auth/{route}",
        json={"email": new_email(), "password": STRONG_PASSWORD, "name": "Amara"},
    )

    assert response.status_code == 503
    assert response.json()["code"] == "busy"
    assert response.headers["Retry-After"] == "2"
    assert count_queries.count == 0

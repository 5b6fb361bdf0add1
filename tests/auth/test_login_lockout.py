"""Issue 11 §7: only failed logins count, per account and client IP (growing waits), per
account (looser) and per IP; a success clears them; nobody can lock the owner out from another
IP; reset emails to one address are capped silently. Memory store and Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from limits import RateLimitItemPerMinute

from peal.core.ratelimit import LoginThrottle, Policy
from tests.auth.test_password_reset import ANSWER
from tests.conftest import Mailbox
from tests.test_ratelimit import backend, client_from, limited_app  # noqa: F401 - fixtures

# Every test builds its own rate-limited app (`limited_app`): real commits.
pytestmark = pytest.mark.committing

WRONG = "Wrong-Password-123"
ATTACKER, OWNER, ELSEWHERE = "198.51.100.66", "203.0.113.5", "192.0.2.44"
# Per-IP attempt limit out of the way: these tests are about the failure counts.
LOOSE = {"auth_rate_limit_per_minute": 1000, "rate_limit_per_minute": 1000}


async def _attempt(http: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    response = await http.post("/api/auth/login", json={"email": email, "password": password})
    http.cookies.clear()
    return response


async def test_failures_from_one_ip_do_not_lock_the_owner_out_from_another(
    limited_app: Callable[..., Any],  # noqa: F811
    make_user: Callable[..., Any],
) -> None:
    user = await make_user()
    async with (
        limited_app(login_failures_per_account_ip=3, **LOOSE) as app,
        client_from(app, ATTACKER) as attacker,
        client_from(app, OWNER) as owner,
    ):
        answers = [await _attempt(attacker, user.email, WRONG) for _ in range(4)]
        assert [a.status_code for a in answers] == [401, 401, 401, 429]
        # Locked out even with the right password: the attacker can't keep guessing...
        assert (await _attempt(attacker, user.email, user.password)).status_code == 429
        # ...while the owner, from her own address, signs in.
        assert (await _attempt(owner, user.email, user.password)).status_code == 200


async def test_a_wait_grows_with_the_failures(
    limited_app: Callable[..., Any],  # noqa: F811
    make_user: Callable[..., Any],
) -> None:
    user = await make_user()
    async with (
        limited_app(login_failures_per_account_ip=2, **LOOSE) as app,
        client_from(app, ATTACKER) as attacker,
    ):
        for _ in range(2):
            await _attempt(attacker, user.email, WRONG)
        first = await _attempt(attacker, user.email, WRONG)
        assert first.status_code == 429
        assert 1 <= int(first.headers["Retry-After"]) <= 60
        # A minute later (the minute tier forgotten) two more failures: now a 15-minute wait.
        limiter = app.state.rate_limiter
        throttle_key = login_throttle_key(app, user.email, ATTACKER)
        await limiter.clear(Policy("login-failures", RateLimitItemPerMinute(2)), throttle_key)
        for _ in range(2):
            assert (await _attempt(attacker, user.email, WRONG)).status_code == 401
        second = await _attempt(attacker, user.email, WRONG)
        assert second.status_code == 429
        assert 60 < int(second.headers["Retry-After"]) <= 15 * 60


def login_throttle_key(app: FastAPI, email: str, ip: str) -> str:
    """The (account, IP) key the throttle counts under, as a request from `ip` would build."""
    from starlette.requests import Request

    request = Request({"type": "http", "client": (ip, 1), "headers": [], "app": app})
    key: str = LoginThrottle(app.state.rate_limiter, request, email)._cleared_on_success[0][1]
    return key


async def test_a_success_clears_the_failures(
    limited_app: Callable[..., Any],  # noqa: F811
    make_user: Callable[..., Any],
) -> None:
    user = await make_user()
    async with (
        limited_app(login_failures_per_account_ip=3, **LOOSE) as app,
        client_from(app, OWNER) as owner,
    ):
        for _ in range(3):  # typos, typos, then the right one: never locked out
            assert (await _attempt(owner, user.email, WRONG)).status_code == 401
            assert (await _attempt(owner, user.email, WRONG)).status_code == 401
            assert (await _attempt(owner, user.email, user.password)).status_code == 200


async def test_successful_logins_never_count(
    limited_app: Callable[..., Any],  # noqa: F811
    make_user: Callable[..., Any],
) -> None:
    user = await make_user()
    async with (
        limited_app(
            login_failures_per_account_ip=1,
            login_failures_per_account_per_hour=1,
            login_failures_per_ip_per_hour=1,
            **LOOSE,
        ) as app,
        client_from(app, OWNER) as owner,
    ):
        for _ in range(6):
            assert (await _attempt(owner, user.email, user.password)).status_code == 200


async def test_many_ips_hit_the_looser_account_ceiling(
    limited_app: Callable[..., Any],  # noqa: F811
    make_user: Callable[..., Any],
) -> None:
    user = await make_user()
    async with limited_app(
        login_failures_per_account_ip=5, login_failures_per_account_per_hour=4, **LOOSE
    ) as app:
        for n in range(4):
            async with client_from(app, f"198.51.100.{n + 1}") as http:
                assert (await _attempt(http, user.email, WRONG)).status_code == 401
        async with client_from(app, ELSEWHERE) as http:
            refused = await _attempt(http, user.email, WRONG)
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"


async def test_one_ip_trying_many_accounts_is_stopped(
    limited_app: Callable[..., Any],  # noqa: F811
    make_user: Callable[..., Any],
) -> None:
    async with (
        limited_app(login_failures_per_ip_per_hour=3, **LOOSE) as app,
        client_from(app, ATTACKER) as attacker,
        client_from(app, OWNER) as owner,
    ):
        for n in range(3):
            assert (await _attempt(attacker, f"v{n}@example.com", WRONG)).status_code == 401
        assert (await _attempt(attacker, "v9@example.com", WRONG)).status_code == 429
        assert (await _attempt(owner, "v9@example.com", WRONG)).status_code == 401


async def test_reset_mails_to_one_address_are_capped_silently(
    limited_app: Callable[..., Any],  # noqa: F811
    make_user: Callable[..., Any],
    mailbox: Mailbox,
) -> None:
    user = await make_user()
    async with limited_app(password_reset_emails_per_hour=3, **LOOSE) as app:
        answers = []
        for n in range(6):  # from six addresses: the per-IP limit is not what stops this
            async with client_from(app, f"198.51.100.{n + 10}") as http:
                answers.append(
                    await http.post("/api/auth/forgot-password", json={"email": user.email})
                )
        await mailbox.wait()
        assert [a.status_code for a in answers] == [202] * 6
        assert all(a.json() == ANSWER for a in answers)
        assert len(mailbox.to(user.email)) == 3

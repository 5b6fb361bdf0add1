"""Rate limits: per client IP on every request, per IP and per account on sensitive auth routes."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from limits.aio.storage import MemoryStorage, RedisStorage
from pydantic import BaseModel
from redis.asyncio import Redis

from peal.auth.dependencies import auth_rate_limit
from peal.config import Settings
from peal.core import ratelimit
from peal.core.ratelimit import client_ip, ip_limit_key, parse_ip
from peal.main import create_app
from tests.conftest import REDIS_URL

# Most tests build their own rate-limited app (`limited_app`): real commits.
pytestmark = pytest.mark.committing

MakeSettings = Callable[..., Settings]
RATE_LIMIT_HEADER = re.compile(r'^"(?P<policy>[a-z-]+)";r=(?P<r>\d+);t=(?P<t>\d+)$')


class Credentials(BaseModel):
    email: str
    password: str


def _test_router() -> APIRouter:
    """Stand-ins for the real routes: one plain, one guarded like login."""
    router = APIRouter(prefix="/api/ratelimit-test")

    @router.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    @router.post("/login", dependencies=[Depends(auth_rate_limit("login"))])
    async def login(credentials: Credentials) -> dict[str, str]:
        return {"email": credentials.email}

    return router


PING = "/api/ratelimit-test/ping"
LOGIN = "/api/ratelimit-test/login"


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "redis" and REDIS_URL is None:
        pytest.skip("Redis storage is tested in the PostgreSQL + Redis run")
    return str(request.param)


async def _delete_keys(prefix: str) -> None:
    assert REDIS_URL is not None
    redis: Redis = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


@pytest.fixture
def limited_app(make_settings: MakeSettings, backend: str) -> Callable[..., Any]:
    """`async with limited_app(rate_limit_per_minute=5) as app:` an app with limits on."""

    @asynccontextmanager
    async def start(**changes: Any) -> AsyncIterator[FastAPI]:
        prefix = f"peal-test:{uuid.uuid4().hex}"
        if backend == "redis":
            changes = {"redis_url": REDIS_URL, "rate_limit_key_prefix": prefix, **changes}
        app = create_app(make_settings(rate_limit_enabled=True, **changes))
        app.include_router(_test_router())
        expected_storage = RedisStorage if backend == "redis" else MemoryStorage
        assert isinstance(app.state.rate_limiter.storage, expected_storage)
        try:
            async with app.router.lifespan_context(app):
                yield app
        finally:
            if backend == "redis":
                await _delete_keys(prefix)

    return start


@asynccontextmanager
async def client_from(app: FastAPI, ip: str, port: int = 50000) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose TCP peer address is `ip`."""
    transport = httpx.ASGITransport(app=app, client=(ip, port))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def _ratelimit(response: httpx.Response) -> dict[str, Any]:
    match = RATE_LIMIT_HEADER.match(response.headers["RateLimit"])
    assert match, response.headers["RateLimit"]
    return {"policy": match["policy"], "r": int(match["r"]), "t": int(match["t"])}


def assert_refused(response: httpx.Response, policy: str, quota: int) -> None:
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "rate_limited"
    assert isinstance(body["error"], str) and body["error"]
    assert set(body) == {"error", "code"}
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert response.headers["RateLimit-Policy"] == f'"{policy}";q={quota};w=60'
    state = _ratelimit(response)
    assert state == {"policy": policy, "r": 0, "t": retry_after}


def assert_refused_auth(response: httpx.Response, policy: str, quota: int) -> None:
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "rate_limited"
    assert set(body) == {"error", "code"}
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    # The auth policy's fields come first; the default policy's follow (a list, per the draft).
    policies = response.headers["RateLimit-Policy"]
    assert policies.startswith(f'"{policy}";q={quota};w=60, "default";')
    assert response.headers["RateLimit"].startswith(f'"{policy}";r=0;t={retry_after}, ')


# --- the default per-IP limit ----------------------------------------------------------------


async def test_the_101st_request_in_a_minute_is_refused(
    limited_app: Callable[..., Any], settings: Settings
) -> None:
    assert settings.rate_limit_per_minute == 100  # the default API.md promises
    async with limited_app() as app, client_from(app, "198.51.100.1") as http:
        for sent in range(1, 101):
            response = await http.get(PING)
            assert response.status_code == 200, sent
            assert response.headers["RateLimit-Policy"] == '"default";q=100;w=60'
            state = _ratelimit(response)
            assert state["policy"] == "default"
            assert state["r"] == 100 - sent
            assert 0 < state["t"] <= 60
        refused = await http.get(PING)
        assert_refused(refused, "default", 100)
        # The refusal still goes through the shell: request id and security headers.
        assert refused.headers["X-Request-ID"]
        assert refused.headers["X-Content-Type-Options"] == "nosniff"


async def test_refusals_do_not_count_and_apply_to_every_route(
    limited_app: Callable[..., Any],
) -> None:
    async with limited_app(rate_limit_per_minute=3) as app, client_from(app, "198.51.100.2") as h:
        for _ in range(3):
            assert (await h.get(PING)).status_code == 200
        for _ in range(3):
            assert_refused(await h.get(PING), "default", 3)
        # Unknown routes and other methods are counted too: the limit is per client, not per path.
        assert_refused(await h.get("/api/does-not-exist"), "default", 3)
        assert_refused(await h.post(LOGIN, json={}), "default", 3)


async def test_another_ip_is_not_affected(limited_app: Callable[..., Any]) -> None:
    async with limited_app(rate_limit_per_minute=5) as app:
        async with client_from(app, "198.51.100.3") as first:
            for _ in range(5):
                assert (await first.get(PING)).status_code == 200
            assert_refused(await first.get(PING), "default", 5)
        async with client_from(app, "198.51.100.4") as second:
            response = await second.get(PING)
            assert response.status_code == 200
            assert _ratelimit(response)["r"] == 4
        # The same address from another source port is the same client.
        async with client_from(app, "198.51.100.3", port=61000) as first_again:
            assert_refused(await first_again.get(PING), "default", 5)


async def test_ipv6_clients_are_counted_per_64(limited_app: Callable[..., Any]) -> None:
    async with limited_app(rate_limit_per_minute=2) as app:
        async with client_from(app, "2001:db8:1:2::1") as one:
            assert (await one.get(PING)).status_code == 200
        async with client_from(app, "2001:db8:1:2::ffff") as same_64:
            assert (await same_64.get(PING)).status_code == 200
            assert_refused(await same_64.get(PING), "default", 2)
        async with client_from(app, "2001:db8:1:3::1") as other_64:
            assert (await other_64.get(PING)).status_code == 200


async def test_operational_endpoints_are_never_limited(limited_app: Callable[..., Any]) -> None:
    async with limited_app(rate_limit_per_minute=1) as app, client_from(app, "198.51.100.5") as h:
        assert (await h.get(PING)).status_code == 200
        assert_refused(await h.get(PING), "default", 1)
        for path in ("/health", "/metrics", "/openapi.json", "/docs"):
            for _ in range(3):
                response = await h.get(path)
                assert response.status_code == 200, path
                assert "RateLimit" not in response.headers


async def test_a_forged_forwarded_for_does_not_dodge_the_limit(
    limited_app: Callable[..., Any],
) -> None:
    # A proxy is trusted, but this client is not it: its X-Forwarded-For means nothing.
    async with (
        limited_app(rate_limit_per_minute=3, trusted_proxies=["10.0.0.0/8"]) as app,
        client_from(app, "198.51.100.6") as http,
    ):
        for n in range(3):
            forged = {"X-Forwarded-For": f"203.0.113.{n}"}
            assert (await http.get(PING, headers=forged)).status_code == 200
        for forged_ip in ("203.0.113.99", "10.0.0.1", "127.0.0.1, 203.0.113.7"):
            response = await http.get(PING, headers={"X-Forwarded-For": forged_ip})
            assert_refused(response, "default", 3)


async def test_behind_a_trusted_proxy_the_forwarded_client_is_limited(
    limited_app: Callable[..., Any],
) -> None:
    async with (
        limited_app(rate_limit_per_minute=3, trusted_proxies=["10.0.0.0/8", "192.0.2.10"]) as app,
        client_from(app, "10.1.2.3") as proxy,
    ):
        for _ in range(3):
            response = await proxy.get(PING, headers={"X-Forwarded-For": "198.51.100.20"})
            assert response.status_code == 200
        refused = await proxy.get(PING, headers={"X-Forwarded-For": "198.51.100.20"})
        assert_refused(refused, "default", 3)
        # What the client wrote itself (left of what the proxies appended) is not believed...
        spoofed = "203.0.113.50, 198.51.100.20, 192.0.2.10"
        assert_refused(await proxy.get(PING, headers={"X-Forwarded-For": spoofed}), "default", 3)
        # ...and the proxy's other clients have their own allowance.
        other = await proxy.get(PING, headers={"X-Forwarded-For": "198.51.100.21"})
        assert other.status_code == 200
        assert _ratelimit(other)["r"] == 2


async def test_rate_limit_enabled_false_turns_limits_off(
    make_settings: MakeSettings,
) -> None:
    app = create_app(make_settings(rate_limit_enabled=False, rate_limit_per_minute=2))
    app.include_router(_test_router())
    async with app.router.lifespan_context(app), client_from(app, "198.51.100.7") as http:
        for _ in range(10):
            response = await http.get(PING)
            assert response.status_code == 200
            assert "RateLimit" not in response.headers
        for n in range(10):
            login = await http.post(LOGIN, json={"email": "same@example.com", "password": str(n)})
            assert login.status_code == 200


# --- storage failure -------------------------------------------------------------------------


class _RecordingLog:
    def __init__(self) -> None:
        self.warnings: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.warnings.append((event, fields))


async def test_an_unreachable_redis_fails_open_with_a_warning(
    make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = _RecordingLog()
    monkeypatch.setattr(ratelimit, "log", recorded)
    settings = make_settings(
        rate_limit_enabled=True,
        rate_limit_per_minute=1,
        auth_rate_limit_per_minute=1,
        auth_account_rate_limit_per_minute=1,
        redis_url="redis://127.0.0.1:1/0",  # nothing listens on port 1
    )
    app = create_app(settings)
    app.include_router(_test_router())
    async with app.router.lifespan_context(app), client_from(app, "198.51.100.8") as http:
        for _ in range(3):
            response = await http.get(PING)
            assert response.status_code == 200
            assert "RateLimit" not in response.headers
            login = await http.post(LOGIN, json={"email": "a@example.com", "password": "x"})
            assert login.status_code == 200
    assert recorded.warnings
    event, fields = recorded.warnings[0]
    assert event == "rate_limit_storage_unavailable"
    assert fields["error_type"] == "ConnectionError"


# --- sensitive auth routes -------------------------------------------------------------------


async def test_auth_limit_refuses_one_ip_trying_many_accounts(
    limited_app: Callable[..., Any],
) -> None:
    async with (
        limited_app(
            rate_limit_per_minute=1000,
            auth_rate_limit_per_minute=3,
            auth_account_rate_limit_per_minute=100,
        ) as app,
        client_from(app, "198.51.100.9") as http,
    ):
        for n in range(3):
            body = {"email": f"victim{n}@example.com", "password": "guess"}
            assert (await http.post(LOGIN, json=body)).status_code == 200
        refused = await http.post(LOGIN, json={"email": "victim9@example.com", "password": "x"})
        assert_refused_auth(refused, "login-ip", 3)
        # Only the auth route is tighter: the rest of the API still answers this client...
        assert (await http.get(PING)).status_code == 200
        # ...and another IP may still sign in.
        async with client_from(app, "198.51.100.10") as elsewhere:
            body = {"email": "victim9@example.com", "password": "guess"}
            assert (await elsewhere.post(LOGIN, json=body)).status_code == 200


async def test_auth_limit_refuses_one_account_tried_from_many_ips(
    limited_app: Callable[..., Any],
) -> None:
    async with limited_app(
        rate_limit_per_minute=1000,
        auth_rate_limit_per_minute=100,
        auth_account_rate_limit_per_minute=2,
    ) as app:
        # Case and surrounding spaces do not make another account.
        spellings = ["Target@Example.com", "  target@example.com "]
        for n, email in enumerate(spellings):
            async with client_from(app, f"198.51.100.{30 + n}") as http:
                response = await http.post(LOGIN, json={"email": email, "password": "guess"})
                assert response.status_code == 200
        async with client_from(app, "198.51.100.40") as http:
            body = {"email": "TARGET@example.com", "password": "guess"}
            assert_refused_auth(await http.post(LOGIN, json=body), "login-account", 2)
            # Another account from the same fresh IP is fine.
            other = {"email": "someone-else@example.com", "password": "guess"}
            assert (await http.post(LOGIN, json=other)).status_code == 200


async def test_auth_limit_tolerates_a_body_without_email(limited_app: Callable[..., Any]) -> None:
    async with (
        limited_app(auth_rate_limit_per_minute=2, auth_account_rate_limit_per_minute=1) as app,
        client_from(app, "198.51.100.50") as http,
    ):
        not_json = await http.post(
            LOGIN, content=b"email=x", headers={"Content-Type": "text/plain"}
        )
        assert not_json.status_code == 415
        assert not_json.json()["code"] == "unsupported_media_type"
        no_email = await http.post(LOGIN, json=["not", "an", "object"])
        assert no_email.status_code == 422
        # Both still counted against the IP.
        refused = await http.post(LOGIN, json={"email": "a@example.com", "password": "x"})
        assert_refused_auth(refused, "login-ip", 2)


# --- the client IP ---------------------------------------------------------------------------


def _scope(peer: str | None, *forwarded_for: str) -> dict[str, Any]:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded_for]
    return {"type": "http", "client": (peer, 1234) if peer else None, "headers": headers}


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        # No trusted proxy: the peer, whatever the header says.
        ("198.51.100.1", ["1.2.3.4"], [], "198.51.100.1"),
        # A peer that is not the trusted proxy cannot speak for anyone.
        ("198.51.100.1", ["1.2.3.4"], ["10.0.0.1"], "198.51.100.1"),
        # Behind the proxy: the hop it appended.
        ("10.0.0.1", ["1.2.3.4"], ["10.0.0.1"], "1.2.3.4"),
        # Right to left, skipping trusted proxies; the client's own entries are not read.
        ("10.0.0.1", ["6.6.6.6, 1.2.3.4, 10.0.0.2"], ["10.0.0.0/8"], "1.2.3.4"),
        # Several header lines form one list.
        ("10.0.0.1", ["6.6.6.6", "1.2.3.4"], ["10.0.0.0/8"], "1.2.3.4"),
        # Garbage written by a trusted hop stops the walk at the last trusted address.
        ("10.0.0.1", ["1.2.3.4, unknown, 10.0.0.2"], ["10.0.0.0/8"], "10.0.0.2"),
        ("10.0.0.1", ["garbage"], ["10.0.0.0/8"], "10.0.0.1"),
        # No header behind a trusted proxy: the proxy itself.
        ("10.0.0.1", [], ["10.0.0.0/8"], "10.0.0.1"),
        # Ports and brackets some proxies add; IPv4-mapped IPv6 is IPv4.
        ("10.0.0.1", ["1.2.3.4:5678"], ["10.0.0.0/8"], "1.2.3.4"),
        ("10.0.0.1", ["[2001:db8::1]:443"], ["10.0.0.0/8"], "2001:db8::1"),
        ("::ffff:10.0.0.1", ["::ffff:1.2.3.4"], ["10.0.0.0/8"], "1.2.3.4"),
        # An invalid TRUSTED_PROXIES entry trusts nothing.
        ("10.0.0.1", ["1.2.3.4"], ["not-an-ip", "10.0.0.0/33"], "10.0.0.1"),
        # IPv6 proxies.
        ("2001:db8::10", ["198.51.100.9"], ["2001:db8::/64"], "198.51.100.9"),
    ],
)
def test_client_ip(peer: str, forwarded: list[str], trusted: list[str], expected: str) -> None:
    assert client_ip(_scope(peer, *forwarded), trusted) == expected


def test_client_ip_without_a_socket_peer() -> None:
    assert client_ip(_scope(None, "1.2.3.4"), ["10.0.0.0/8"]) == "unknown"


def test_parse_ip_and_keys() -> None:
    assert parse_ip(" 1.2.3.4 ") is not None
    assert parse_ip("") is None
    assert parse_ip("[::1") is None
    assert ip_limit_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert ip_limit_key("1.2.3.4") == "1.2.3.4"
    assert ip_limit_key("testclient") == "testclient"


async def test_real_auth_routes_are_limited_per_ip_and_per_account(
    limited_app: Callable[..., Any],
) -> None:
    """The limiter is wired into the real login and forgot-password routes, not only stand-ins."""
    async with (
        limited_app(auth_rate_limit_per_minute=3, login_failures_per_account_per_hour=2) as app,
        client_from(app, "198.51.100.7") as one,
        client_from(app, "198.51.100.8") as two,
    ):
        body = {"email": "Target@Example.com", "password": "wrong-password-1"}
        first = await one.post("/api/auth/login", json=body)
        second = await two.post("/api/auth/login", json=body)
        assert first.status_code == second.status_code == 401
        # A third attempt on the same account, from yet another IP: per-account failure limit.
        async with client_from(app, "198.51.100.9") as three:
            blocked = await three.post("/api/auth/login", json=body)
        assert blocked.status_code == 429
        assert blocked.json()["code"] == "rate_limited"
        assert int(blocked.headers["Retry-After"]) > 0
        # Per IP: three forgot-password calls for different accounts pass, the fourth not.
        answers = [
            await one.post("/api/auth/forgot-password", json={"email": f"x{i}@example.com"})
            for i in range(3)
        ]
        assert [a.status_code for a in answers] == [202, 202, 202]
        refused = await one.post("/api/auth/forgot-password", json={"email": "y@example.com"})
        assert refused.status_code == 429

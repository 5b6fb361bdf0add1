"""Rate limits per client IP (every request) and per account (sensitive auth routes)."""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any

import structlog
from fastapi import Request
from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerHour, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from peal.config import Settings
from peal.core.errors import RateLimited, error_response

log = structlog.get_logger("peal.ratelimit")

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

# Operational endpoints stay reachable for probes and scrapers whatever a client does.
# The Stripe webhook is exempt: Stripe sends bursts from few addresses, and every event is
# authenticated by its signature before any work is done.
EXEMPT_PATHS = frozenset({"/health", "/metrics", "/docs", "/openapi.json", "/api/payments/webhook"})
EXEMPT_PREFIXES = ("/docs/",)

# A storage call slower than this is treated as a failure (fail open), so a sick Redis adds
# at most this much to a request...
STORAGE_TIMEOUT_SECONDS = 1.0
# ...and after a failure the limiter stands aside for a while instead of making every request
# wait for the same broken server (and logging the same warning a thousand times).
STORAGE_RETRY_AFTER_SECONDS = 5.0


# --- client IP -----------------------------------------------------------------------------


def parse_ip(value: str) -> IPAddress | None:
    """An address from a header or the socket, or None. Accepts `ip:port` and `[ipv6]:port`
    (some proxies add the port); IPv4-mapped IPv6 becomes plain IPv4, so one client has one key.
    """
    text = value.strip()
    if text.startswith("["):
        end = text.find("]")
        text = text[1:end] if end > 0 else ""
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    """The proxies (IPs or CIDRs) allowed to tell us the client's address in X-Forwarded-For."""

    def __init__(self, entries: Iterable[str]) -> None:
        networks: list[IPNetwork] = []
        for entry in entries:
            try:
                networks.append(ip_network(entry.strip(), strict=False))
            except ValueError:
                # A typo must not trust more than intended: the entry is dropped, loudly.
                log.warning("trusted_proxy_ignored", entry=entry)
        self.networks = tuple(networks)

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, IPv4Address | IPv6Address):
            return False
        return any(address in network for network in self.networks)

    def __bool__(self) -> bool:
        return bool(self.networks)


@lru_cache(maxsize=32)
def _trusted_from_strings(entries: tuple[str, ...]) -> TrustedProxies:
    return TrustedProxies(entries)


def _forwarded_for(scope: Scope) -> list[str]:
    """Every X-Forwarded-For hop, oldest first; repeated headers form one list (RFC 9110)."""
    hops: list[str] = []
    for name, value in scope.get("headers", []):
        if name == b"x-forwarded-for":
            hops.extend(value.decode("latin-1").split(","))
    return hops


def client_ip(
    scope_or_request: Scope | HTTPConnection, trusted_proxies: TrustedProxies | Iterable[str]
) -> str:
    """The address to hold responsible for a request.

    The socket peer, unless the peer is a trusted proxy: then X-Forwarded-For is read right to
    left (each proxy appends the address it saw) and the first hop that is not a trusted proxy
    is the client. Whatever is left of that hop was written by the client and is never read,
    so a client cannot choose its address; a client that connects directly is never asked.
    """
    scope = (
        scope_or_request.scope if isinstance(scope_or_request, HTTPConnection) else scope_or_request
    )
    trusted = (
        trusted_proxies
        if isinstance(trusted_proxies, TrustedProxies)
        else _trusted_from_strings(tuple(trusted_proxies))
    )
    peer_info = scope.get("client")
    if not peer_info:
        return "unknown"
    peer = parse_ip(str(peer_info[0]))
    if peer is None:
        return str(peer_info[0])
    if peer not in trusted:
        return str(peer)
    client = peer
    for hop in reversed(_forwarded_for(scope)):
        address = parse_ip(hop)
        if address is None:
            # A trusted proxy wrote something unreadable ("unknown", garbage): every hop left
            # of it may be forged, so the last trusted hop answers for the request.
            break
        client = address
        if address not in trusted:
            break
    return str(client)


def ip_limit_key(ip: str) -> str:
    """The key an address is counted under. IPv6 counts per /64: one host usually holds a whole
    /64 and could otherwise rotate through it to dodge the limit."""
    address = parse_ip(ip)
    if address is None:
        return ip
    if isinstance(address, IPv6Address):
        return str(ip_network((int(address) >> 64 << 64, 64)))
    return str(address)


# --- the limiter ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """One named quota, e.g. `"default"`: 100 per 60 s."""

    name: str
    item: RateLimitItem

    @property
    def quota(self) -> int:
        return int(self.item.amount)

    @property
    def window(self) -> int:
        return int(self.item.get_expiry())


@dataclass(frozen=True)
class Decision:
    """The outcome of counting one request against a policy."""

    policy: Policy
    allowed: bool
    remaining: int
    reset_after: int

    def headers(self) -> dict[str, str]:
        """IETF draft-ietf-httpapi-ratelimit-headers fields, plus Retry-After on a refusal."""
        name = self.policy.name
        headers = {
            "RateLimit-Policy": f'"{name}";q={self.policy.quota};w={self.policy.window}',
            "RateLimit": f'"{name}";r={self.remaining};t={self.reset_after}',
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_after)
        return headers


def _limits_uri(redis_url: str) -> str:
    """The `limits` spelling of a Redis URL (`async+redis://`, `async+redis+unix://`)."""
    if redis_url.startswith("unix://"):
        return "async+redis+unix://" + redis_url.removeprefix("unix://")
    return "async+" + redis_url


def create_storage(settings: Settings, redis: Redis | None) -> Storage:
    """Redis when the app has one (limits shared by every process), else process memory."""
    if redis is None:
        return MemoryStorage()
    # Share the app's connection pool (closed in the lifespan) rather than open a second one.
    pool_option: dict[str, Any] = {"connection_pool": redis.connection_pool}
    return RedisStorage(
        _limits_uri(settings.redis_url or "redis://"),
        implementation="redispy",
        key_prefix=settings.rate_limit_key_prefix,
        wrap_exceptions=True,
        **pool_option,
    )


class RateLimiter:
    """Counts requests in a moving 60 s window: exact (the 101st request within any 60 s is
    refused), unlike a fixed window that lets a burst through at each window edge."""

    def __init__(self, settings: Settings, redis: Redis | None = None) -> None:
        self.enabled = settings.rate_limit_enabled
        self.trusted_proxies = TrustedProxies(settings.trusted_proxies)
        self.storage = create_storage(settings, redis)
        self.strategy = MovingWindowRateLimiter(self.storage)
        self.default = self.policy("default", settings.rate_limit_per_minute)
        self.auth_per_ip = settings.auth_rate_limit_per_minute
        self.auth_per_account = settings.auth_account_rate_limit_per_minute
        self.settings = settings
        self._bypass_until = 0.0

    def policy(self, name: str, per_minute: int) -> Policy:
        return Policy(name, RateLimitItemPerMinute(per_minute, namespace=name))

    async def hit(self, policy: Policy, *identifiers: str) -> Decision | None:
        """Count one request; None when the storage is unavailable (the caller fails open)."""
        if time.monotonic() < self._bypass_until:
            return None
        try:
            async with asyncio.timeout(STORAGE_TIMEOUT_SECONDS):
                allowed = await self.strategy.hit(policy.item, *identifiers)
                stats = await self.strategy.get_window_stats(policy.item, *identifiers)
        except (StorageError, RedisError, OSError, TimeoutError) as exc:
            self._bypass_until = time.monotonic() + STORAGE_RETRY_AFTER_SECONDS
            error = exc.storage_error if isinstance(exc, StorageError) else exc
            log.warning(
                "rate_limit_storage_unavailable",
                error_type=type(error).__name__,
                error=str(error),
                retry_in_seconds=STORAGE_RETRY_AFTER_SECONDS,
            )
            return None
        reset_after = max(0, math.ceil(stats.reset_time - time.time()))
        if not allowed:
            reset_after = max(1, reset_after)  # "retry now" would only be refused again
        return Decision(policy, allowed, max(0, int(stats.remaining)), reset_after)

    async def peek(self, policy: Policy, *identifiers: str) -> Decision | None:
        """Would one more be allowed? Counts nothing; None when the storage is unavailable."""
        if time.monotonic() < self._bypass_until:
            return None
        try:
            async with asyncio.timeout(STORAGE_TIMEOUT_SECONDS):
                allowed = await self.strategy.test(policy.item, *identifiers)
                stats = await self.strategy.get_window_stats(policy.item, *identifiers)
        except (StorageError, RedisError, OSError, TimeoutError) as exc:
            self._storage_failed(exc)
            return None
        reset_after = max(0, math.ceil(stats.reset_time - time.time()))
        if not allowed:
            reset_after = max(1, reset_after)
        return Decision(policy, allowed, max(0, int(stats.remaining)), reset_after)

    async def clear(self, policy: Policy, *identifiers: str) -> None:
        """Forget what was counted (a successful login clears its failures)."""
        if time.monotonic() < self._bypass_until:
            return
        try:
            async with asyncio.timeout(STORAGE_TIMEOUT_SECONDS):
                await self.strategy.clear(policy.item, *identifiers)
        except (StorageError, RedisError, OSError, TimeoutError) as exc:
            self._storage_failed(exc)

    def _storage_failed(self, exc: Exception) -> None:
        self._bypass_until = time.monotonic() + STORAGE_RETRY_AFTER_SECONDS
        error = exc.storage_error if isinstance(exc, StorageError) else exc
        log.warning(
            "rate_limit_storage_unavailable",
            error_type=type(error).__name__,
            error=str(error),
            retry_in_seconds=STORAGE_RETRY_AFTER_SECONDS,
        )

    async def check_request(self, scope: Scope) -> Decision | None:
        ip = client_ip(scope, self.trusted_proxies)
        return await self.hit(self.default, ip_limit_key(ip))


def is_rate_limit_exempt(path: str) -> bool:
    """True for the operational paths the per-IP limit leaves alone."""
    return path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES)


class RateLimitMiddleware:
    """Applies the default per-IP policy to every HTTP request but the operational ones."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not self.limiter.enabled
            or is_rate_limit_exempt(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        decision = await self.limiter.check_request(scope)
        if decision is None:
            await self.app(scope, receive, send)
            return
        if not decision.allowed:
            response = error_response(
                429,
                "Too many requests, please slow down",
                "rate_limited",
                headers=decision.headers(),
            )
            await response(scope, receive, send)
            return
        headers = decision.headers()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Appended, not set: a stricter policy (auth) may already have written its
                # own fields, and both belong in the list the client reads.
                response_headers = MutableHeaders(scope=message)
                for name, value in headers.items():
                    response_headers.append(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- sensitive auth routes -----------------------------------------------------------------


async def _account_email(request: Request) -> str | None:
    """The normalised `email` of a JSON body, if any. FastAPI has already read (and cached) the
    body; a malformed one is left for validation to reject."""
    try:
        body = await request.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    email = body.get("email")
    if not isinstance(email, str):
        return None
    return email.strip().lower() or None


def _account_key(email: str) -> str:
    # Hashed so the addresses people type never sit in Redis keys.
    return hashlib.sha256(email.encode()).hexdigest()[:32]


async def check_auth_attempt(
    limiter: RateLimiter, request: Request, action: str, *, per_account: bool = True
) -> None:
    """Login, register, forgot-password...: a tighter limit per IP, and one per account (the
    body's `email`) that holds however many IPs an attacker uses.

    `per_account=False` where counting every attempt on an account would let anyone keep its
    owner out (login counts failures instead: `LoginThrottle`; forgot-password drops mails
    beyond `reset_mail_quota`). Routes use it through `peal.auth.dependencies.auth_rate_limit`.
    """
    if not limiter.enabled:
        return
    ip = client_ip(request, limiter.trusted_proxies)
    per_ip = limiter.policy(f"{action}-ip", limiter.auth_per_ip)
    decision = await limiter.hit(per_ip, ip_limit_key(ip))
    if decision is not None and not decision.allowed:
        raise RateLimited("Too many attempts, please wait", headers=decision.headers())
    email = await _account_email(request) if per_account else None
    if email is None:
        return
    account_policy = limiter.policy(f"{action}-account", limiter.auth_per_account)
    decision = await limiter.hit(account_policy, _account_key(email))
    if decision is not None and not decision.allowed:
        raise RateLimited(
            "Too many attempts for this account, please wait", headers=decision.headers()
        )


async def enforce_user_limit(
    limiter: RateLimiter, action: str, per_minute: int, user_id: str
) -> None:
    """A per-user quota for an action (donations...), on top of the per-IP default. Counted by
    account, so a user cannot spread abuse over many addresses."""
    if not limiter.enabled:
        return
    decision = await limiter.hit(limiter.policy(f"{action}-user", per_minute), f"user:{user_id}")
    if decision is not None and not decision.allowed:
        raise RateLimited("Too many attempts, please wait", headers=decision.headers())


# --- failed logins and per-address quotas --------------------------------------------------


def _normalized(email: str) -> str:
    return email.strip().lower()


class LoginThrottle:
    """Failed logins only; a success clears the account's. Three counts:

    - per account and client IP, in tiers (N a minute, 2N in 15 minutes, 4N a day): the wait
      grows with the failures, and only that IP waits;
    - per account from every IP, looser (per hour): holds an attacker with many IPs, while one
      attacking IP hits its own tier long before and can't lock the owner out;
    - per client IP over every account (per hour): credential stuffing from one address.
    """

    def __init__(self, limiter: RateLimiter, request: HTTPConnection, email: str) -> None:
        settings = limiter.settings
        self.limiter = limiter
        per_pair = settings.login_failures_per_account_ip
        account = _account_key(_normalized(email))
        ip = ip_limit_key(client_ip(request, limiter.trusted_proxies))
        pair = f"{account}:{ip}"
        self._cleared_on_success = [
            (Policy("login-failures", RateLimitItemPerMinute(per_pair)), pair),
            (Policy("login-failures", RateLimitItemPerMinute(2 * per_pair, 15)), pair),
            (Policy("login-failures", RateLimitItemPerDay(4 * per_pair)), pair),
            (
                Policy(
                    "login-failures-account",
                    RateLimitItemPerHour(settings.login_failures_per_account_per_hour),
                ),
                account,
            ),
        ]
        self._per_ip = (
            Policy(
                "login-failures-ip", RateLimitItemPerHour(settings.login_failures_per_ip_per_hour)
            ),
            ip,
        )

    @property
    def _counters(self) -> list[tuple[Policy, str]]:
        return [*self._cleared_on_success, self._per_ip]

    async def check(self) -> None:
        """Refuse (429, Retry-After) while any count of failures is full; counts nothing."""
        if not self.limiter.enabled:
            return
        refusals = []
        for policy, key in self._counters:
            decision = await self.limiter.peek(policy, key)
            if decision is not None and not decision.allowed:
                refusals.append(decision)
        if refusals:
            # The longest wait is the one that tells the truth about when to come back.
            longest = max(refusals, key=lambda decision: decision.reset_after)
            raise RateLimited("Too many failed sign-ins, please wait", headers=longest.headers())

    async def failed(self) -> None:
        if not self.limiter.enabled:
            return
        for policy, key in self._counters:
            await self.limiter.hit(policy, key)

    async def succeeded(self) -> None:
        if not self.limiter.enabled:
            return
        for policy, key in self._cleared_on_success:
            await self.limiter.clear(policy, key)


async def _hit_mail_quota(
    limiter: RateLimiter, name: str, per_hour: int, identifier: str
) -> Decision | None:
    """Count one email of kind `name` for `identifier`; None when limits are off or the
    storage is down (an email the user asked for beats a refusal)."""
    if not limiter.enabled:
        return None
    return await limiter.hit(Policy(name, RateLimitItemPerHour(per_hour)), identifier)


async def reset_mail_quota(limiter: RateLimiter, email: str) -> bool:
    """Count one reset email to `email`; False beyond the hourly quota (send none, answer the
    same). True when limits are off or the storage is down: a reset link beats a refusal."""
    decision = await _hit_mail_quota(
        limiter,
        "reset-mail",
        limiter.settings.password_reset_emails_per_hour,
        _account_key(_normalized(email)),
    )
    return decision is None or decision.allowed


async def enforce_email_change_quota(limiter: RateLimiter, user_id: str, new_email: str) -> None:
    """Count one email-change confirmation, per account and per new address (hourly, like
    reset emails): 429 beyond either. Unlike forgot-password the owner is signed in and
    nothing is secret, so she is told rather than left waiting for a mail that never comes."""
    for identifier in (f"user:{user_id}", _account_key(_normalized(new_email))):
        decision = await _hit_mail_quota(
            limiter,
            "email-change-mail",
            limiter.settings.email_change_emails_per_hour,
            identifier,
        )
        if decision is not None and not decision.allowed:
            raise RateLimited(
                "Too many email change requests, please wait", headers=decision.headers()
            )


async def enforce_ip_limit(
    limiter: RateLimiter, request: Request, action: str, per_minute: int
) -> None:
    """A per-IP quota for one costly route (search...), on top of the general per-IP limit."""
    if not limiter.enabled:
        return
    ip = client_ip(request, limiter.trusted_proxies)
    decision = await limiter.hit(limiter.policy(f"{action}-ip", per_minute), ip_limit_key(ip))
    if decision is not None and not decision.allowed:
        raise RateLimited("Too many searches, please wait", headers=decision.headers())

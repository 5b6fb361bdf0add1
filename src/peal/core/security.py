"""Password hashing off the event loop, signed access tokens, and opaque random tokens."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import jwt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from peal.config import Settings
from peal.core.errors import ServiceUnavailable, Unauthorized
from peal.db import utcnow

T = TypeVar("T")
JWT_ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "access"  # noqa: S105 - a token type name, not a secret


# Hashing threads run this much nicer than the process (Linux: per thread; capped at 19). A
# login storm then takes the CPU the event loop leaves idle instead of sharing it evenly with
# the loop: every other request keeps its latency, and logins still use all the spare CPU.
# Relative, so a server started under `nice` still ranks its loop above its hashes.
# The threads are the hasher's own (never the shared anyio/asyncio pools): a niced thread
# handed back to a shared pool would run other requests' work (/health's storage probe, file
# reads, sync dependencies) at the hashes' low priority, behind every busy process.
HASH_THREAD_NICENESS = 10
MAX_NICENESS = 19


def _lower_this_threads_priority() -> None:
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not allowed: no harm
        current = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        os.setpriority(
            os.PRIO_PROCESS,
            threading.get_native_id(),
            min(MAX_NICENESS, current + HASH_THREAD_NICENESS),
        )


class PasswordHashing:
    """argon2id hashing in worker threads, a few at a time, so the event loop never blocks.

    A pool of its own, `PASSWORD_HASH_CONCURRENCY` threads, bounds memory (each hash takes
    ~19 MiB) and CPU under a login storm; requests beyond it wait their turn in the pool's
    queue instead of piling threads up. Its threads run at a lower priority than the event
    loop (HASH_THREAD_NICENESS), and only hashes run on them.
    """

    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=1,
            type=Type.ID,
        )
        self._executor = ThreadPoolExecutor(
            max_workers=settings.password_hash_concurrency,
            thread_name_prefix="peal-password-hash",
            initializer=_lower_this_threads_priority,
        )
        self._queue_limit = settings.password_hash_concurrency + settings.password_hash_queue_limit
        self._pending = 0
        self._dummy_hash: str | None = None

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Admission for one sign-in, from its database look-up to the end of its hash.

        Refuses at once (503 `busy`) when too many are already in flight, before any database
        work: a burst sheds load cheaply instead of queueing for a connection and a hash slot
        for minutes (and timing out on the pool, as it did on a loaded machine).
        """
        if self._pending >= self._queue_limit:
            raise ServiceUnavailable(
                "Too many sign-ins at once, please retry shortly",
                code="busy",
                headers={"Retry-After": "2"},
            )
        self._pending += 1
        try:
            yield
        finally:
            self._pending -= 1

    async def hash(self, password: str) -> str:
        return await self._run(self._hash, password)

    def _hash(self, password: str) -> str:
        return self._hasher.hash(password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when `password` matches; runs a full verification even with no hash."""
        # With no account, verify against a dummy hash so both paths cost the same.
        if password_hash is None and self._dummy_hash is None:
            self._dummy_hash = await self.hash(secrets.token_urlsafe(16))
        target = password_hash or self._dummy_hash or ""
        ok = await self._run(self._verify, target, password)
        return ok and password_hash is not None

    async def _run(self, function: Callable[..., T], *args: str) -> T:
        # Cancelled while queued (the client left): the hash never runs.
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def close(self) -> None:
        """Stop the hashing threads once the hashes already asked for are done."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    role: str
    token_id: str
    session_id: str | None
    issued_at: datetime
    # The user's session epoch at issue (0 for tokens older than epochs): see `issue`.
    session_epoch: int = 0


class AccessTokens:
    """HS256 JWTs with the algorithm pinned and `exp`, `iss`, `aud`, `typ` required."""

    def __init__(self, settings: Settings) -> None:
        self._secret = settings.jwt_secret
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self.lifetime = timedelta(seconds=settings.access_token_expiry)

    def issue(
        self,
        user_id: uuid.UUID,
        role: str,
        session_id: str | None = None,
        session_epoch: int = 0,
    ) -> str:
        """A signed access token. `session_id` names the sign-in (refresh family) and
        `session_epoch` the user's epoch it belongs to: the server refuses the token once
        either is ended, whatever its `exp` (an exact integer, so no same-second window)."""
        now = utcnow()
        claims: dict[str, Any] = {
            "sub": str(user_id),
            "role": role,
            "typ": ACCESS_TOKEN_TYPE,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime,
            "jti": secrets.token_urlsafe(12),
        }
        if session_id:
            claims["sid"] = session_id
        claims["sep"] = session_epoch
        return jwt.encode(claims, self._secret, algorithm=JWT_ALGORITHM)

    def decode(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[JWT_ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "typ", "jti"]},
            )
            if claims.get("typ") != ACCESS_TOKEN_TYPE:
                raise Unauthorized("Invalid token type", code="invalid_token")
            return AccessClaims(
                user_id=uuid.UUID(str(claims["sub"])),
                role=str(claims.get("role", "")),
                token_id=str(claims["jti"]),
                session_id=claims.get("sid"),
                issued_at=datetime.fromtimestamp(int(claims["iat"]), UTC),
                session_epoch=_epoch_claim(claims.get("sep", 0)),
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("Access token expired", code="token_expired") from exc
        except (jwt.InvalidTokenError, ValueError) as exc:
            raise Unauthorized("Invalid access token", code="invalid_token") from exc


def _epoch_claim(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("the session epoch claim must be an integer")
    return value


def new_opaque_token() -> str:
    """A random token for refresh, email verification or password reset (256 bits)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Tokens are stored as their SHA-256: a database leak does not leak usable tokens."""
    return hashlib.sha256(token.encode()).hexdigest()


def sign(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def constant_time_equals(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode(), right.encode())

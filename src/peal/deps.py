"""The app's services as typed FastAPI dependencies: the one module that touches `app.state`.

`create_app` builds each service once and hands them to `install`; a route or an HTTP
dependency asks for what it needs by type (`settings: SettingsDep`, `storage: StorageDep`,
`session: SessionDep`, ...). Code outside a request (jobs, the CLI) never reads the app: it gets
its services passed in, or through `peal.jobs.runtime()`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from peal.auth.google import GoogleIdTokens
from peal.config import Settings
from peal.core.ratelimit import RateLimiter
from peal.core.security import AccessTokens, PasswordHashing
from peal.db import Database, request_session
from peal.realtime.hub import RealtimeHub
from peal.storage.base import Storage

StorageCheck = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Services:
    """Everything the app builds once at start-up and shares between requests."""

    settings: Settings
    db: Database
    tokens: AccessTokens
    passwords: PasswordHashing
    redis: Redis | None
    rate_limiter: RateLimiter
    storage: Storage
    # /health asks the configured backend: the upload directory is writable, or S3 HeadBucket.
    storage_check: StorageCheck
    realtime: RealtimeHub
    google_id_tokens: GoogleIdTokens


def install(app: FastAPI, services: Services) -> None:
    """Keep the services on the app (tests may replace one: `app.state.storage_check = ...`)."""
    for name, value in vars(services).items():
        setattr(app.state, name, value)


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    database: Database = request.app.state.db
    return database


def get_tokens(request: Request) -> AccessTokens:
    tokens: AccessTokens = request.app.state.tokens
    return tokens


def get_passwords(request: Request) -> PasswordHashing:
    passwords: PasswordHashing = request.app.state.passwords
    return passwords


def get_redis(request: Request) -> Redis | None:
    redis: Redis | None = request.app.state.redis
    return redis


def get_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


def get_storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage


def get_storage_check(request: Request) -> StorageCheck:
    check: StorageCheck = request.app.state.storage_check
    return check


def get_realtime(request: Request) -> RealtimeHub:
    hub: RealtimeHub = request.app.state.realtime
    return hub


def get_google_id_tokens(request: Request) -> GoogleIdTokens:
    verifier: GoogleIdTokens = request.app.state.google_id_tokens
    return verifier


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
TokensDep = Annotated[AccessTokens, Depends(get_tokens)]
PasswordsDep = Annotated[PasswordHashing, Depends(get_passwords)]
RedisDep = Annotated[Redis | None, Depends(get_redis)]
RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]
StorageDep = Annotated[Storage, Depends(get_storage)]
StorageCheckDep = Annotated[StorageCheck, Depends(get_storage_check)]
RealtimeDep = Annotated[RealtimeHub, Depends(get_realtime)]
GoogleIdTokensDep = Annotated[GoogleIdTokens, Depends(get_google_id_tokens)]


async def get_session(database: DatabaseDep) -> AsyncIterator[AsyncSession]:
    """One session per request, committed when the handler returns (`db.request_session`).

    Used with `scope="function"` so the commit happens before the response is sent: a failed
    commit becomes an error answer, never a success the database did not keep.
    """
    async with request_session(database) as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

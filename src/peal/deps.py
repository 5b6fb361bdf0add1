"""The app's services as typed FastAPI dependencies: the one module that touches `app.state`.

`create_app` builds each service once and hands them to `install`; a route or an HTTP
dependency asks for what it needs by type (`settings: SettingsDep`, `storage: StorageDep`,
`session: SessionDep`, ...). Code outside a request (jobs, the CLI) never reads the app: it gets
its services passed in, or through `peal.jobs.runtime()`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, FastAPI, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from peal.auth.google import GoogleIdTokens
from peal.config import Settings
from peal.core.ratelimit import RateLimiter
from peal.core.security import AccessTokens, PasswordHashing
from peal.db import Database, is_read_only_request, request_session
from peal.realtime.hub import RealtimeHub
from peal.storage.base import Storage

StorageCheck = Callable[[], Awaitable[None]]
Service = TypeVar("Service")


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


class FromApp(Generic[Service]):
    """A dependency answering one of the app's services: a field of `Services`, by name."""

    def __init__(self, field: str) -> None:
        if field not in Services.__dataclass_fields__:
            raise ValueError(f"the app has no service {field!r}")
        self.field = field

    def __call__(self, request: Request) -> Service:
        service: Service = getattr(request.app.state, self.field)
        return service


SettingsDep = Annotated[Settings, Depends(FromApp[Settings]("settings"))]
DatabaseDep = Annotated[Database, Depends(FromApp[Database]("db"))]
TokensDep = Annotated[AccessTokens, Depends(FromApp[AccessTokens]("tokens"))]
PasswordsDep = Annotated[PasswordHashing, Depends(FromApp[PasswordHashing]("passwords"))]
RedisDep = Annotated[Redis | None, Depends(FromApp[Redis | None]("redis"))]
RateLimiterDep = Annotated[RateLimiter, Depends(FromApp[RateLimiter]("rate_limiter"))]
StorageDep = Annotated[Storage, Depends(FromApp[Storage]("storage"))]
StorageCheckDep = Annotated[StorageCheck, Depends(FromApp[StorageCheck]("storage_check"))]
RealtimeDep = Annotated[RealtimeHub, Depends(FromApp[RealtimeHub]("realtime"))]
GoogleIdTokensDep = Annotated[GoogleIdTokens, Depends(FromApp[GoogleIdTokens]("google_id_tokens"))]


async def get_session(request: Request, database: DatabaseDep) -> AsyncIterator[AsyncSession]:
    """One session per request, committed when the handler returns (`db.request_session`).

    Used with `scope="function"` so the commit happens before the response is sent: a failed
    commit becomes an error answer, never a success the database did not keep. The route
    decides whether it is a read session (`@read_only`), not the dependency: the signed-in
    user's lookup shares the handler's session (one connection per request).
    """
    reading = is_read_only_request(request.method, request.scope.get("route"))
    async with request_session(database, reading=reading) as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

"""The app's services as typed FastAPI dependencies: the one module that touches `app.state`.

`create_app` builds each service once and hands them to `install`; a route or an HTTP
dependency asks for what it needs by type (`settings: SettingsDep`, `storage: StorageDep`,
`session: SessionDep`, ...). Code outside a request (jobs, the CLI) never reads the app: it gets
its services passed in, or through `peal.jobs.runtime()`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, ClassVar, Generic, TypeVar

from fastapi import Depends, FastAPI, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from peal.config import Settings
from peal.core.ratelimit import RateLimiter
from peal.core.security import AccessTokens, PasswordHashing
from peal.db import Database, is_read_only_request, request_session
from peal.storage.base import Storage

StorageCheck = Callable[[], Awaitable[None]]
Service = TypeVar("Service")


def install(app: FastAPI, services: object) -> None:
    """Keep the services (`peal.main.Services`, a dataclass) on the app; tests may replace one
    (`app.state.storage_check = ...`). Every service a `FromApp` dependency asks for must be
    among them: a misspelt name fails here, at start-up, not on the first request."""
    provided = vars(services)
    missing = sorted(FromApp.wanted - provided.keys())
    if missing:
        raise ValueError(f"the app has no service {', '.join(missing)}")
    for name, value in provided.items():
        setattr(app.state, name, value)


class FromApp(Generic[Service]):
    """A dependency answering one of the app's services: a field of `peal.main.Services`, by
    name (checked by `install`)."""

    wanted: ClassVar[set[str]] = set()

    def __init__(self, field: str) -> None:
        FromApp.wanted.add(field)
        self.field = field

    def __repr__(self) -> str:
        return f"FromApp({self.field!r})"

    def of(self, request: Request) -> Service:
        """The service, read without a dependency. For the dependencies every request runs
        (its session, its caller): each sub-dependency FastAPI solves costs ~15 µs a request,
        and those three were 5% of a route that reads one row (`bench/stack_floor.py`)."""
        service: Service = getattr(request.app.state, self.field)
        return service

    async def __call__(self, request: Request) -> Service:
        # Async on purpose: FastAPI runs a plain `def` dependency in a worker thread, a
        # thread hand-off per service per request for an attribute read.
        return self.of(request)


SETTINGS = FromApp[Settings]("settings")
DATABASE = FromApp[Database]("db")
TOKENS = FromApp[AccessTokens]("tokens")
SettingsDep = Annotated[Settings, Depends(SETTINGS)]
DatabaseDep = Annotated[Database, Depends(DATABASE)]
TokensDep = Annotated[AccessTokens, Depends(TOKENS)]
PasswordsDep = Annotated[PasswordHashing, Depends(FromApp[PasswordHashing]("passwords"))]
RedisDep = Annotated[Redis | None, Depends(FromApp[Redis | None]("redis"))]
RateLimiterDep = Annotated[RateLimiter, Depends(FromApp[RateLimiter]("rate_limiter"))]
StorageDep = Annotated[Storage, Depends(FromApp[Storage]("storage"))]
StorageCheckDep = Annotated[StorageCheck, Depends(FromApp[StorageCheck]("storage_check"))]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, committed when the handler returns (`db.request_session`).

    Used with `scope="function"` so the commit happens before the response is sent: a failed
    commit becomes an error answer, never a success the database did not keep. The route
    decides whether it is a read session (`@read_only`), not the dependency: the signed-in
    user's lookup shares the handler's session (one connection per request).
    """
    reading = is_read_only_request(request.method, request.scope.get("route"))
    async with request_session(DATABASE.of(request), reading=reading) as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

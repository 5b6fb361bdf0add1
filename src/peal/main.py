"""The application factory: settings, database, middleware, error handlers and routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI
from redis.asyncio import Redis

from peal import __version__
from peal.admin.router import moderation_router as admin_moderation_router
from peal.admin.router import router as admin_router
from peal.auth.dependencies import CSRF_HEADER, current_user, optional_user
from peal.auth.google import GoogleIdTokens
from peal.auth.router import router as auth_router
from peal.config import Settings, get_settings
from peal.core.errors import install_error_handlers, refuse_shadowed_methods
from peal.core.heap import freeze_startup_heap
from peal.core.json_body import JsonBodyGuardMiddleware
from peal.core.logging import configure_logging
from peal.core.middleware import (
    BodySizeLimitMiddleware,
    JSONCORSMiddleware,
    NulQueryGuardMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
)
from peal.core.openapi import install_openapi
from peal.core.ratelimit import RateLimiter, RateLimitMiddleware
from peal.core.realtime import set_sink
from peal.core.redis_client import create_redis
from peal.core.security import AccessTokens, PasswordHashing
from peal.db import Database
from peal.deps import StorageCheck, install
from peal.events.router import router as events_router
from peal.funding.router import router as funding_router
from peal.goals.router import router as goals_router
from peal.jobs import close_runtime, set_runtime, start_client, stop_client
from peal.mentors.router import router as mentors_router
from peal.messaging.router import aliases as messages_alias_router
from peal.messaging.router import router as conversations_router
from peal.moderation.router import router as moderation_router
from peal.notifications.router import router as notifications_router
from peal.ops.router import router as ops_router
from peal.outbox import OutboxRelay
from peal.payments.router import router as payments_router
from peal.realtime.hub import RealtimeHub
from peal.realtime.router import router as notification_stream_router
from peal.safety.router import router as safety_router
from peal.scheduling import InProcessScheduler
from peal.search.router import router as search_router
from peal.settings.router import router as settings_router
from peal.storage.base import Storage
from peal.storage.local import UPLOAD_ROUTE
from peal.storage.service import storage_for
from peal.stories.router import router as stories_router
from peal.uploads.router import media_router
from peal.uploads.router import router as uploads_router
from peal.users.router import router as users_router
from peal.videos.router import router as videos_router
from peal.videos.router import users_router as user_videos_router

ROUTERS = (
    ops_router,
    auth_router,
    users_router,
    settings_router,
    # Before the notifications router: `/api/notifications/stream` is not a notification id.
    notification_stream_router,
    notifications_router,
    goals_router,
    events_router,
    uploads_router,
    media_router,
    videos_router,
    user_videos_router,
    funding_router,
    payments_router,
    stories_router,
    mentors_router,
    search_router,
    safety_router,
    moderation_router,
    admin_moderation_router,
    admin_router,
    conversations_router,
    messages_alias_router,
)

DESCRIPTION = """
PEAL (Pride, Empowerment And Love): women share short videos, raise money for their goals,
find mentors, message each other and celebrate success stories.

All JSON is camelCase. Lists answer `{"data": [...], "pagination": {...}}`; errors answer
`{"error", "code", "details"?}`. Authenticate with `Authorization: Bearer <accessToken>`, or with
the cookies set at login plus the `X-CSRF-Token` header on requests that change state.
"""


def _init_error_tracking(settings: Settings) -> None:
    if not settings.sentry_dsn:
        return
    import sentry_sdk

    # send_default_pii=False: no emails, IPs or bodies of our users leave for the error tracker.
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.environment,
        release=f"peal@{__version__}",
        send_default_pii=False,
        traces_sample_rate=0.0,
    )


@dataclass(frozen=True)
class Services:
    """Everything the app builds once at start-up and shares between requests; routes read
    them through the typed dependencies of `peal.deps` (`FromApp`)."""

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


def include_flat(app: FastAPI, router: APIRouter) -> None:
    """The router's routes straight into the app's route list.

    `include_router` adds one FastAPI entry per router, and matching a request walks each
    entry's routes twice (the router's match, then its route contexts), router after router:
    ~0.1 ms of a request to `/api/videos` (the 11th router). Our routers carry their own
    prefix, tags, responses and dependencies (`APIRouter.add_api_route` folds the router's
    into each route), and are included with no options, so the routes are the same ones.
    One difference: `app.dependency_overrides` doesn't reach these routes (`include_router`
    pointed each copy at the app); nothing here uses overrides.
    """
    app.router.routes.extend(router.routes)


def create_served_app(settings: Settings | None = None) -> FastAPI:
    """The app `peal serve` runs (each worker makes its own): `create_app`, with the objects
    alive once start-up is done frozen out of the garbage collector's full passes
    (`core.heap.freeze_startup_heap`). Tests keep `create_app`: they build many apps in one
    process, and frozen objects are never freed."""
    return create_app(settings, freeze_startup=True)


def create_app(settings: Settings | None = None, *, freeze_startup: bool = False) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    _init_error_tracking(settings)

    db = Database(settings)
    tokens = AccessTokens(settings)
    redis = create_redis(settings)
    storage = storage_for(settings)
    # Socket.IO on the same process and port as the REST API (API.md "Real-time").
    realtime = RealtimeHub(settings, db, tokens)
    services = Services(
        settings=settings,
        db=db,
        tokens=tokens,
        passwords=PasswordHashing(settings),
        redis=redis,
        rate_limiter=RateLimiter(settings, redis),
        storage=storage,
        storage_check=storage.check,
        realtime=realtime,
        google_id_tokens=GoogleIdTokens(settings),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        set_runtime(settings, db)
        await start_client()
        await realtime.start()
        set_sink(realtime)
        scheduler = InProcessScheduler()
        if settings.runs_in_process_scheduler:
            scheduler.start()
        relay = OutboxRelay(db, settings.outbox_relay_interval)
        if settings.outbox_relay_interval > 0:
            relay.start()
        if freeze_startup:
            freeze_startup_heap()
        try:
            yield
        finally:
            await relay.stop()
            await scheduler.stop()
            set_sink(None)
            await realtime.stop()
            await stop_client()
            await close_runtime()
            await db.dispose()
            services.passwords.close()
            if redis is not None:
                await redis.aclose()

    app = FastAPI(
        title="PEAL API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    install(app, services)
    app.mount("/socket.io", realtime.asgi)

    install_error_handlers(app)
    for router in ROUTERS:
        include_flat(app, router)
    refuse_shadowed_methods(app)
    install_openapi(app, required_auth=current_user, optional_auth=optional_user)

    # Innermost: a JSON body is checked (depth, exact numbers) once, after the size limit.
    app.add_middleware(JsonBodyGuardMiddleware)
    # Added last = outermost: ids and logs wrap everything, CORS answers preflights early.
    # The local upload route streams up to MAX_VIDEO_UPLOAD_BYTES and enforces its own limit.
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        large_body_prefixes=(UPLOAD_ROUTE,),
    )
    # Inside the rate limit and CORS: a query carrying `%00` is a 422 like any bad input.
    app.add_middleware(NulQueryGuardMiddleware)
    # Inside CORS and the security headers, so a 429 carries them (a browser can read it);
    # outside the body limit, so a refused client costs no body reading.
    app.add_middleware(RateLimitMiddleware, limiter=services.rate_limiter)
    app.add_middleware(
        JSONCORSMiddleware,
        allow_origins=[settings.frontend_url],
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", CSRF_HEADER, "Idempotency-Key"],
        expose_headers=[
            "X-Request-ID",
            CSRF_HEADER,
            "Retry-After",
            "RateLimit",
            "RateLimit-Policy",
        ],
        max_age=600,
    )
    # Outside CORS: even an unhandled error becomes a JSON 500 with its request id, and the
    # security headers go on every answer, that one included.
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(SecurityHeadersMiddleware, hsts=not settings.is_development_like)
    return app

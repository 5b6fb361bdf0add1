"""The application factory: settings, database, middleware, error handlers and routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from peal import __version__
from peal.auth.dependencies import CSRF_HEADER
from peal.auth.router import router as auth_router
from peal.config import Settings, get_settings
from peal.core.errors import install_error_handlers
from peal.core.logging import configure_logging
from peal.core.middleware import (
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
)
from peal.core.security import AccessTokens, PasswordHashing
from peal.db import Database
from peal.jobs import close_runtime, set_runtime, start_client, stop_client
from peal.notifications.router import router as notifications_router
from peal.ops.router import router as ops_router
from peal.settings.router import router as settings_router
from peal.users.router import router as users_router

ROUTERS = (
    ops_router,
    auth_router,
    users_router,
    settings_router,
    notifications_router,
)

DESCRIPTION = """
PEAL (Pride, Empowerment And Love): women share short videos, raise money for their goals,
find mentors, message each other and celebrate success stories.

All JSON is camelCase. Lists answer `{"data": [...], "pagination": {...}}`; errors answer
`{"error", "code", "details"?}`. Authenticate with `Authorization: Bearer <accessToken>`, or with
the cookies set at login plus the `X-CSRF-Token` header on requests that change state.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        set_runtime(settings, app.state.db)
        await start_client()
        try:
            yield
        finally:
            await stop_client()
            await close_runtime()
            await app.state.db.dispose()

    app = FastAPI(
        title="PEAL API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = Database(settings)
    app.state.tokens = AccessTokens(settings)
    app.state.passwords = PasswordHashing(settings)

    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)

    # Added last = outermost: ids and logs wrap everything, CORS answers preflights early.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware, hsts=not settings.is_development_like)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[settings.frontend_url],
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", CSRF_HEADER, "Idempotency-Key"],
        expose_headers=["X-Request-ID", "Retry-After", "RateLimit", "RateLimit-Policy"],
        max_age=600,
    )
    app.add_middleware(RequestContextMiddleware)
    return app

"""Who is calling: the access token (Bearer header or cookie), CSRF for cookie sessions, roles."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from peal.auth.service import user_for_access_token
from peal.core.errors import Forbidden, Unauthorized
from peal.core.ratelimit import check_auth_attempt
from peal.core.security import constant_time_equals, sign
from peal.deps import SETTINGS, TOKENS, RateLimiterDep, SessionDep
from peal.users.models import User
from peal.users.policy import is_admin, is_self_or_admin

__all__ = ["is_admin", "is_self_or_admin"]  # policies live in the identity layer

ACCESS_COOKIE = "peal_access"
REFRESH_COOKIE = "peal_refresh"
CSRF_COOKIE = "peal_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_bearer = HTTPBearer(auto_error=False, description="Access token from login or register")


def csrf_token_for(secret: str, session_id: str) -> str:
    """The CSRF token bound to one sign-in (its refresh family): HMAC double-submit."""
    return sign(secret, f"csrf:{session_id}")


def _check_csrf(request: Request, secret: str, session_id: str | None) -> None:
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not session_id:
        raise Forbidden("Missing CSRF token", code="csrf_failed")
    if not constant_time_equals(sent, csrf_token_for(secret, session_id)):
        raise Forbidden("Invalid CSRF token", code="csrf_failed")


async def optional_user(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User | None:
    """The signed-in user, or None when no token is sent. A bad token is 401, never ignored."""
    by_cookie = False
    if credentials is not None:
        token = credentials.credentials
    else:
        token = request.cookies.get(ACCESS_COOKIE, "")
        by_cookie = bool(token)
    if not token:
        return None
    # The services are read, not depended on: this runs on every request (`FromApp.of`).
    user, claims = await user_for_access_token(session, TOKENS.of(request), token)
    if by_cookie:
        _check_csrf(request, SETTINGS.of(request).jwt_secret, claims.session_id)
    request.state.user_id = user.id
    return user


async def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    if user is None:
        raise Unauthorized()
    return user


CurrentUser = Annotated[User, Depends(current_user)]
OptionalUser = Annotated[User | None, Depends(optional_user)]


def require_role(*roles: str) -> Callable[[User], Awaitable[User]]:
    """A dependency that admits only the given roles (403 for the others)."""

    async def dependency(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden(f"This action is for: {', '.join(roles)}", code="role_forbidden")
        return user

    return dependency


AdminUser = Annotated[User, Depends(require_role("admin"))]


def auth_rate_limit(action: str, *, per_account: bool = True) -> Callable[..., Awaitable[None]]:
    """A dependency for login, register, forgot-password... (`check_auth_attempt`). Use as
    `dependencies=[Depends(auth_rate_limit("login"))]`."""

    async def dependency(request: Request, limiter: RateLimiterDep) -> None:
        await check_auth_attempt(limiter, request, action, per_account=per_account)

    return dependency

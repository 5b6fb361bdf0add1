"""Cookie sessions for browsers: cookie attributes, refresh by cookie, and CSRF protection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from peal.config import Settings
from peal.main import create_app
from tests.auth.conftest import Register, bearer


def _cookie(response: httpx.Response, name: str) -> str:
    """The raw Set-Cookie line of one cookie."""
    for line in response.headers.get_list("set-cookie"):
        if line.startswith(f"{name}="):
            return line
    raise AssertionError(f"{name} not set")


async def test_register_sets_the_three_cookies(register: Register) -> None:
    response = await register()
    body = response.json()

    access = _cookie(response, "peal_access")
    refresh = _cookie(response, "peal_refresh")
    csrf = _cookie(response, "peal_csrf")
    assert access.startswith(f"peal_access={body['accessToken']};")
    assert "HttpOnly" in access and "Path=/;" in access and "Max-Age=900" in access
    assert refresh.startswith(f"peal_refresh={body['refreshToken']};")
    assert "HttpOnly" in refresh and "Path=/api/auth" in refresh
    assert f"Max-Age={7 * 86400}" in refresh
    assert "HttpOnly" not in csrf and "Path=/;" in csrf
    for line in (access, refresh, csrf):
        assert "SameSite=lax" in line
        assert "Secure" not in line  # development and tests run on plain http
    token = response.headers["x-csrf-token"]
    assert csrf.startswith(f"peal_csrf={token};")


async def test_login_and_refresh_set_cookies_too(
    client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> None:
    user = await make_user()
    login = await client.post(
        "/api/auth/login", json={"email": user.email, "password": user.password}
    )
    csrf = login.headers["x-csrf-token"]

    refreshed = await client.post("/api/auth/refresh")  # the refresh cookie alone

    assert refreshed.status_code == 200
    assert _cookie(refreshed, "peal_refresh").startswith(
        f"peal_refresh={refreshed.json()['refreshToken']};"
    )
    # The CSRF token belongs to the sign-in, so it survives rotation.
    assert refreshed.headers["x-csrf-token"] == csrf
    again = await client.post("/api/auth/refresh")
    assert again.status_code == 200


@pytest.mark.committing
async def test_cookies_are_secure_outside_development(
    make_settings: Callable[..., Settings], make_user: Callable[..., Any]
) -> None:
    user = await make_user()
    staging = create_app(
        make_settings(environment="staging", jwt_secret="s" * 40, jwt_refresh_secret="r" * 40)
    )
    transport = httpx.ASGITransport(app=staging)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
            response = await http.post(
                "/api/auth/login", json={"email": user.email, "password": user.password}
            )
    finally:
        await staging.state.db.dispose()

    assert response.status_code == 200
    for name in ("peal_access", "peal_refresh", "peal_csrf"):
        assert "Secure" in _cookie(response, name), name


async def test_cookie_session_reads_without_csrf(
    client: httpx.AsyncClient, register: Register
) -> None:
    registered = await register(keep_cookies=True)

    response = await client.get("/api/auth/me")

    assert response.status_code == 200
    assert response.json()["user"]["id"] == registered.json()["user"]["id"]


async def test_cookie_session_needs_the_csrf_header_to_change_state(
    client: httpx.AsyncClient, register: Register
) -> None:
    registered = await register(keep_cookies=True)
    csrf = registered.headers["x-csrf-token"]
    assert client.cookies.get("peal_csrf") == csrf

    missing = await client.post("/api/auth/resend-verification")
    wrong = await client.post(
        "/api/auth/resend-verification", headers={"X-CSRF-Token": "0" * len(csrf)}
    )
    right = await client.post("/api/auth/resend-verification", headers={"X-CSRF-Token": csrf})

    assert missing.status_code == 403
    assert missing.json()["code"] == "csrf_failed"
    assert wrong.status_code == 403
    assert wrong.json()["code"] == "csrf_failed"
    assert right.status_code == 202


async def test_csrf_token_of_another_sign_in_is_refused(
    client: httpx.AsyncClient, register: Register
) -> None:
    other = await register()  # cookies dropped: only its CSRF token is kept
    await register(keep_cookies=True)

    response = await client.post(
        "/api/auth/resend-verification", headers={"X-CSRF-Token": other.headers["x-csrf-token"]}
    )

    assert response.status_code == 403


async def test_bearer_requests_need_no_csrf_header(
    client: httpx.AsyncClient, register: Register
) -> None:
    registered = await register()
    token = registered.json()["accessToken"]

    response = await client.post("/api/auth/resend-verification", headers=bearer(token))

    assert response.status_code == 202


async def test_bearer_header_wins_over_cookies(
    client: httpx.AsyncClient, register: Register, make_user: Callable[..., Any]
) -> None:
    await register(keep_cookies=True)
    other = await make_user()

    response = await client.get("/api/auth/me", headers=other.headers)

    assert response.json()["user"]["id"] == str(other.id)

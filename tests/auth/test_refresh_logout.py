"""Refresh-token rotation with reuse detection, and logout that never fails."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from peal.auth.models import RefreshToken
from peal.core.security import hash_token
from peal.db import utcnow
from tests.auth.conftest import Register, Sql, bearer
from tests.helpers import ok


async def _login(client: httpx.AsyncClient, user: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/auth/login", json={"email": user.email, "password": user.password}
    )
    assert response.status_code == 200
    client.cookies.clear()
    body: dict[str, Any] = response.json()
    return body


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    response = await client.post("/api/auth/refresh", json={"refreshToken": token})
    client.cookies.clear()
    return response


async def age_rotations(sql: Sql, user_id: Any, seconds: int = 60) -> None:
    """Move this user's rotations into the past, beyond the reuse grace window."""
    await sql.run(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.replaced_at.is_not(None))
        .values(replaced_at=utcnow() - timedelta(seconds=seconds))
    )


async def test_refresh_rotates_the_token(
    client: httpx.AsyncClient, make_user: Callable[..., Any], sql: Sql
) -> None:
    user = await make_user()
    first = await _login(client, user)

    response = await _refresh(client, first["refreshToken"])

    assert response.status_code == 200
    second = response.json()
    assert set(second) == {"user", "accessToken", "refreshToken", "expiresIn"}
    assert second["refreshToken"] != first["refreshToken"]
    assert second["user"]["email"] == user.email
    me = await client.get("/api/auth/me", headers=bearer(second["accessToken"]))
    assert me.status_code == 200
    old, new = [
        await sql.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == hash_token(body["refreshToken"]))
        )
        for body in (first, second)
    ]
    assert old.replaced_at is not None
    assert new.family_id == old.family_id
    assert new.replaced_at is None and new.revoked_at is None


async def test_replaying_a_rotated_token_revokes_the_whole_family(
    client: httpx.AsyncClient, make_user: Callable[..., Any], sql: Sql
) -> None:
    user = await make_user()
    first = await _login(client, user)
    second = (await _refresh(client, first["refreshToken"])).json()
    third = (await _refresh(client, second["refreshToken"])).json()
    await age_rotations(sql, user.id)

    replay = await _refresh(client, first["refreshToken"])

    assert replay.status_code == 401
    assert replay.json()["code"] == "refresh_reused"
    newest = await _refresh(client, third["refreshToken"])
    assert newest.status_code == 401
    family = await sql.scalars(select(RefreshToken).where(RefreshToken.user_id == user.id))
    assert family and all(token.revoked_at is not None for token in family)


async def test_reuse_revokes_only_that_sign_in(
    client: httpx.AsyncClient, make_user: Callable[..., Any], sql: Sql
) -> None:
    user = await make_user()
    phone = await _login(client, user)
    laptop = await _login(client, user)
    await _refresh(client, phone["refreshToken"])
    await age_rotations(sql, user.id)

    assert (await _refresh(client, phone["refreshToken"])).status_code == 401

    assert (await _refresh(client, laptop["refreshToken"])).status_code == 200


@pytest.mark.committing  # its requests race each other
async def test_parallel_refreshes_with_one_token_both_keep_the_sign_in(
    client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> None:
    """Two tabs refreshing at once: within the grace window both get a working pair of the
    same sign-in (once the reuse alarm signed the user out here)."""
    user = await make_user()
    token = (await _login(client, user))["refreshToken"]

    responses = await asyncio.gather(
        client.post("/api/auth/refresh", json={"refreshToken": token}),
        client.post("/api/auth/refresh", json={"refreshToken": token}),
    )
    client.cookies.clear()

    assert [r.status_code for r in responses] == [200, 200]
    for response in responses:
        pair = response.json()
        assert (await client.get("/api/auth/me", headers=bearer(pair["accessToken"]))).is_success
        assert (await _refresh(client, pair["refreshToken"])).status_code == 200


@pytest.mark.parametrize("token", ["", "unknown-token", "x" * 600])
async def test_unknown_refresh_tokens_are_401(client: httpx.AsyncClient, token: str) -> None:
    response = await client.post("/api/auth/refresh", json={"refreshToken": token})

    assert response.status_code in (401, 422)
    assert response.json()["code"] in ("invalid_refresh_token", "validation_error")


async def test_refresh_without_any_token_is_401(client: httpx.AsyncClient) -> None:
    for response in (
        await client.post("/api/auth/refresh"),
        await client.post("/api/auth/refresh", json={}),
    ):
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_refresh_token"


async def test_expired_refresh_token_is_401(
    client: httpx.AsyncClient, make_user: Callable[..., Any], sql: Sql
) -> None:
    user = await make_user()
    token = (await _login(client, user))["refreshToken"]
    await sql.run(
        update(RefreshToken)
        .where(RefreshToken.token_hash == hash_token(token))
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )

    response = await _refresh(client, token)

    assert response.status_code == 401
    assert response.json()["code"] == "refresh_expired"


async def test_refresh_token_lives_seven_days(
    client: httpx.AsyncClient, make_user: Callable[..., Any], sql: Sql
) -> None:
    user = await make_user()
    token = (await _login(client, user))["refreshToken"]

    stored = await sql.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == hash_token(token))
    )

    assert abs((stored.expires_at - stored.created_at) - timedelta(days=7)) < timedelta(seconds=5)
    assert stored.token_hash != token  # stored hashed, never as given


# --- logout ---------------------------------------------------------------------------------


async def test_logout_revokes_the_sign_in_and_clears_cookies(
    client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> None:
    user = await make_user()
    session = await _login(client, user)

    response = await client.post("/api/auth/logout", json={"refreshToken": session["refreshToken"]})

    assert response.status_code == 204
    assert response.content == b""
    cleared = response.headers.get_list("set-cookie")
    for name in ("peal_access", "peal_refresh", "peal_csrf"):
        assert any(c.startswith(f"{name}=") and "Max-Age=0" in c for c in cleared), name
    assert (await _refresh(client, session["refreshToken"])).status_code == 401


async def test_logout_ends_only_that_sign_in(
    client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> None:
    user = await make_user()
    phone = await _login(client, user)
    laptop = await _login(client, user)

    await ok(client.post("/api/auth/logout", json={"refreshToken": phone["refreshToken"]}))

    assert (await _refresh(client, phone["refreshToken"])).status_code == 401
    assert (await _refresh(client, laptop["refreshToken"])).status_code == 200


async def test_logout_with_only_an_access_token_ends_its_sign_in(
    client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> None:
    user = await make_user()
    session = await _login(client, user)

    response = await client.post("/api/auth/logout", headers=bearer(session["accessToken"]))

    assert response.status_code == 204
    assert (await _refresh(client, session["refreshToken"])).status_code == 401


async def test_logout_always_answers_204(
    client: httpx.AsyncClient, make_user: Callable[..., Any], sql: Sql
) -> None:
    user = await make_user()
    revoked = (await _login(client, user))["refreshToken"]
    await ok(client.post("/api/auth/logout", json={"refreshToken": revoked}))
    expired = (await _login(client, user))["refreshToken"]
    await sql.run(
        update(RefreshToken)
        .where(RefreshToken.token_hash == hash_token(expired))
        .values(expires_at=utcnow() - timedelta(days=1))
    )
    valid_access = (await _login(client, user))["accessToken"]

    attempts: list[dict[str, Any]] = [
        {},  # no body, no cookie, no header
        {"json": {}},
        {"json": {"refreshToken": "unknown-token"}},
        {"json": {"refreshToken": revoked}},  # already revoked
        {"json": {"refreshToken": expired}},
        {"json": {"refreshToken": None}},
        {"json": {"refreshToken": "x" * 10_000}},
        {"content": b"refreshToken=abc", "headers": {"Content-Type": "text/plain"}},
        {"headers": {"Authorization": "Bearer garbage"}},
        {"headers": {"Authorization": "Basic dXNlcjpwYXNz"}},
        {"headers": {"Authorization": "Bearer"}},
        {"headers": bearer(valid_access)},
        {"json": {"refreshToken": "unknown"}, "headers": {"Authorization": "Bearer x.y.z"}},
    ]
    for attempt in attempts:
        response = await client.post("/api/auth/logout", **attempt)
        assert response.status_code == 204, attempt
        client.cookies.clear()

    garbage_cookie = await client.post(
        "/api/auth/logout", headers={"Cookie": "peal_refresh=garbage; peal_access=garbage"}
    )
    assert garbage_cookie.status_code == 204


@pytest.mark.parametrize(
    "body",
    [["not", "an", "object"], [None, None], None, "token", 12345, True, {"refreshToken": 12345}],
)
async def test_logout_refuses_a_body_that_is_not_a_logout_object(
    client: httpx.AsyncClient, register: Register, body: Any
) -> None:
    """Unknown tokens are fine (204); a body of the wrong shape is a client bug (422), and
    nothing is revoked by it."""
    registered = (await register()).json()

    response = await client.post(
        "/api/auth/logout",
        content=json.dumps(body),
        headers={**bearer(registered["accessToken"]), "Content-Type": "application/json"},
    )

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert (await _refresh(client, registered["refreshToken"])).status_code == 200


async def test_logout_refuses_malformed_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/logout", content=b"{not json", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"


async def test_cookie_logout_ends_the_cookie_session(
    client: httpx.AsyncClient, register: Register
) -> None:
    registered = await register(keep_cookies=True)
    refresh_token = registered.json()["refreshToken"]
    assert client.cookies.get("peal_refresh")

    response = await client.post("/api/auth/logout")

    assert response.status_code == 204
    assert not client.cookies.get("peal_refresh")
    assert not client.cookies.get("peal_access")
    assert (await client.get("/api/auth/me")).status_code == 401
    assert (await _refresh(client, refresh_token)).status_code == 401


async def test_logout_refuses_a_body_that_is_not_a_json_object(client: httpx.AsyncClient) -> None:
    for body in ([None, None], ["not", "an", "object"], "token", 12, None):
        response = await client.post("/api/auth/logout", json=body)
        expected = 204 if body is None else 422  # httpx sends no body for `json=None`
        assert response.status_code == expected, body
    response = await client.post(
        "/api/auth/logout", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"
    # Not sent as JSON (a beacon): nothing to read a token from, and logout never fails.
    response = await client.post(
        "/api/auth/logout", content=b"refreshToken=abc", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 204


async def test_logout_with_deeply_nested_json_is_a_400_not_a_500(
    client: httpx.AsyncClient,
) -> None:
    deep = b"[" * 1000 + b"]" * 1000
    response = await client.post(
        "/api/auth/logout", content=deep, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"
    # Sent as text, it is never parsed: no work, and logout never fails.
    response = await client.post(
        "/api/auth/logout", content=deep, headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 204

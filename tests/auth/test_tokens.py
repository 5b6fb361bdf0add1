"""Access tokens on GET /api/auth/me: forged, expired, misdirected and orphaned tokens fail."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import update

from peal.config import Settings
from peal.db import utcnow
from peal.users.models import User
from tests.auth.conftest import Sql, bearer


def _claims(settings: Settings, user_id: uuid.UUID, **changes: Any) -> dict[str, Any]:
    now = utcnow()
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "role": "woman",
        "typ": "access",
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=15),
        "jti": uuid.uuid4().hex,
    }
    claims.update(changes)
    return {key: value for key, value in claims.items() if value is not None}


def _unsigned(claims: dict[str, Any]) -> str:
    """An `alg: none` token, built by hand: no library should even produce one."""

    def part(data: dict[str, Any]) -> str:
        raw = json.dumps(data, default=lambda v: int(v.timestamp())).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


async def test_me_returns_the_user_with_email(
    client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> None:
    user = await make_user(name="Grace Mensah")

    response = await client.get("/api/auth/me", headers=user.headers)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"user"}
    assert body["user"]["id"] == str(user.id)
    assert body["user"]["email"] == user.email
    assert body["user"]["emailVerified"] is True
    assert "passwordHash" not in body["user"]


async def test_me_without_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/auth/me")

    assert response.status_code == 401
    assert set(response.json()) >= {"error", "code"}


async def test_a_well_made_token_passes(
    client: httpx.AsyncClient, settings: Settings, make_user: Callable[..., Any]
) -> None:
    """Guards the helpers below: the failures that follow are due to the one change each."""
    user = await make_user()
    token = jwt.encode(_claims(settings, user.id), settings.jwt_secret, algorithm="HS256")

    assert (await client.get("/api/auth/me", headers=bearer(token))).status_code == 200


@pytest.mark.filterwarnings("ignore:The HMAC key")
@pytest.mark.parametrize(
    "case",
    [
        "alg_none",
        "alg_none_no_signature_part",
        "other_secret",
        "hs512_same_secret",
        "expired",
        "typ_refresh",
        "typ_missing",
        "wrong_audience",
        "wrong_issuer",
        "no_exp",
        "not_yet_valid",
        "tampered_payload",
        "garbage",
    ],
)
async def test_bad_access_tokens_are_401(
    case: str, client: httpx.AsyncClient, settings: Settings, make_user: Callable[..., Any]
) -> None:
    user = await make_user(role="woman")
    secret = settings.jwt_secret
    claims = _claims(settings, user.id)
    now = utcnow()
    tokens = {
        "alg_none": lambda: _unsigned(claims),
        "alg_none_no_signature_part": lambda: _unsigned(claims).rstrip("."),
        "other_secret": lambda: jwt.encode(claims, "another-secret-" * 4, algorithm="HS256"),
        "hs512_same_secret": lambda: jwt.encode(claims, secret, algorithm="HS512"),
        "expired": lambda: jwt.encode(
            _claims(
                settings, user.id, iat=now - timedelta(hours=1), exp=now - timedelta(minutes=1)
            ),
            secret,
            algorithm="HS256",
        ),
        "typ_refresh": lambda: jwt.encode(
            _claims(settings, user.id, typ="refresh"), secret, algorithm="HS256"
        ),
        "typ_missing": lambda: jwt.encode(
            _claims(settings, user.id, typ=None), secret, algorithm="HS256"
        ),
        "wrong_audience": lambda: jwt.encode(
            _claims(settings, user.id, aud="someone-else"), secret, algorithm="HS256"
        ),
        "wrong_issuer": lambda: jwt.encode(
            _claims(settings, user.id, iss="evil-issuer"), secret, algorithm="HS256"
        ),
        "no_exp": lambda: jwt.encode(
            _claims(settings, user.id, exp=None), secret, algorithm="HS256"
        ),
        "not_yet_valid": lambda: jwt.encode(
            _claims(settings, user.id, nbf=now + timedelta(hours=1)), secret, algorithm="HS256"
        ),
        "tampered_payload": lambda: _tamper(
            jwt.encode(claims, secret, algorithm="HS256"), {**claims, "role": "admin"}
        ),
        "garbage": lambda: "not.a.jwt",
    }

    response = await client.get("/api/auth/me", headers=bearer(tokens[case]()))

    assert response.status_code == 401, case
    assert response.json()["code"] in {"invalid_token", "token_expired"}


def _tamper(token: str, claims: dict[str, Any]) -> str:
    """Swap the payload of a signed token, keeping its (now wrong) signature."""
    header, _, signature = token.split(".")
    payload = json.dumps(claims, default=lambda v: int(v.timestamp())).encode()
    forged = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


async def test_refresh_token_is_not_an_access_token(
    client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> None:
    user = await make_user()
    login = await client.post(
        "/api/auth/login", json={"email": user.email, "password": user.password}
    )
    client.cookies.clear()

    response = await client.get("/api/auth/me", headers=bearer(login.json()["refreshToken"]))

    assert response.status_code == 401


async def test_token_of_a_user_that_does_not_exist_is_401(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    token = jwt.encode(_claims(settings, uuid.uuid4()), settings.jwt_secret, algorithm="HS256")

    response = await client.get("/api/auth/me", headers=bearer(token))

    assert response.status_code == 401


@pytest.mark.parametrize("change", [{"is_banned": True}, {"deleted_at": "now"}])
async def test_banned_or_deleted_user_is_refused_at_once(
    change: dict[str, Any], client: httpx.AsyncClient, make_user: Callable[..., Any], sql: Sql
) -> None:
    user = await make_user()
    assert (await client.get("/api/auth/me", headers=user.headers)).status_code == 200
    values = {key: (utcnow() if value == "now" else value) for key, value in change.items()}

    await sql.run(update(User).where(User.id == user.id).values(**values))
    response = await client.get("/api/auth/me", headers=user.headers)

    assert response.status_code == 401
    assert response.json()["code"] == "account_inactive"


async def test_banned_user_cannot_refresh_either(
    client: httpx.AsyncClient, make_user: Callable[..., Any], sql: Sql
) -> None:
    user = await make_user()
    login = await client.post(
        "/api/auth/login", json={"email": user.email, "password": user.password}
    )
    client.cookies.clear()

    await sql.run(update(User).where(User.id == user.id).values(is_banned=True))
    response = await client.post(
        "/api/auth/refresh", json={"refreshToken": login.json()["refreshToken"]}
    )

    assert response.status_code == 401

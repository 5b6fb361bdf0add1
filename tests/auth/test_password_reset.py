"""Forgot/reset password: one answer for all, a one-hour single-use link, sessions ended."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from peal.auth.models import OneTimeToken
from peal.config import Settings
from peal.core.security import hash_token
from peal.db import utcnow
from peal.settings.models import UserSettings
from peal.users.models import User
from tests.auth.conftest import Sql, body_text, link_token, new_email
from tests.conftest import Mailbox
from tests.helpers import ok

ANSWER = {"message": "If an account exists for this email, a reset link has been sent."}
NEW_PASSWORD = "Moonlit-Orchard-77"


async def _reset_link_token(client: httpx.AsyncClient, mailbox: Mailbox, email: str) -> str:
    response = await client.post("/api/auth/forgot-password", json={"email": email})
    assert response.status_code == 202
    await mailbox.wait()
    messages = mailbox.to(email)
    assert messages, "no reset email"
    return link_token(messages[-1], "reset-password")


async def test_forgot_password_answers_alike_for_known_and_unknown_emails(
    client: httpx.AsyncClient, make_user: Callable[..., Any], mailbox: Mailbox
) -> None:
    user = await make_user()
    unknown = new_email()

    known_answer = await client.post("/api/auth/forgot-password", json={"email": user.email})
    unknown_answer = await client.post("/api/auth/forgot-password", json={"email": unknown})
    await mailbox.wait()

    assert known_answer.status_code == unknown_answer.status_code == 202
    assert known_answer.json() == unknown_answer.json() == ANSWER
    assert len(mailbox.to(user.email)) == 1
    assert mailbox.to(unknown) == []


async def test_reset_email_links_to_the_frontend(
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    mailbox: Mailbox,
    settings: Settings,
) -> None:
    user = await make_user(name="Grace <b>Mensah</b>")

    await ok(client.post("/api/auth/forgot-password", json={"email": user.email.upper()}))
    await mailbox.wait()

    (message,) = mailbox.to(user.email)
    assert message["Subject"] == "Reset your PEAL password"
    text = body_text(message)
    assert f"{settings.frontend_url}/reset-password?token=" in text
    html = body_text(message, "html")
    assert "<b>Mensah</b>" not in html  # the name is escaped in the HTML part
    assert "60 minutes" in text


async def test_reset_token_is_stored_hashed_and_lasts_one_hour(
    client: httpx.AsyncClient, make_user: Callable[..., Any], mailbox: Mailbox, sql: Sql
) -> None:
    user = await make_user()

    token = await _reset_link_token(client, mailbox, user.email)

    stored = await sql.scalar(select(OneTimeToken).where(OneTimeToken.user_id == user.id))
    assert stored.purpose == "reset_password"
    assert stored.token_hash == hash_token(token)
    assert abs((stored.expires_at - stored.created_at) - timedelta(hours=1)) < timedelta(seconds=2)


async def test_reset_sets_the_password_and_ends_every_sign_in(
    client: httpx.AsyncClient, make_user: Callable[..., Any], mailbox: Mailbox, sql: Sql
) -> None:
    user = await make_user()
    login = await client.post(
        "/api/auth/login", json={"email": user.email, "password": user.password}
    )
    client.cookies.clear()
    old_refresh = login.json()["refreshToken"]
    token = await _reset_link_token(client, mailbox, user.email)

    response = await client.post(
        "/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}
    )

    assert response.status_code == 200
    assert set(response.json()) == {"message"}
    refreshed = await client.post("/api/auth/refresh", json={"refreshToken": old_refresh})
    assert refreshed.status_code == 401
    old = await client.post(
        "/api/auth/login", json={"email": user.email, "password": user.password}
    )
    assert old.status_code == 401
    new = await client.post("/api/auth/login", json={"email": user.email, "password": NEW_PASSWORD})
    assert new.status_code == 200
    changed_at = await sql.scalar(select(User.password_changed_at).where(User.id == user.id))
    assert changed_at is not None


async def test_reset_token_works_once(
    client: httpx.AsyncClient, make_user: Callable[..., Any], mailbox: Mailbox
) -> None:
    user = await make_user()
    token = await _reset_link_token(client, mailbox, user.email)
    first = await client.post(
        "/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}
    )

    again = await client.post(
        "/api/auth/reset-password", json={"token": token, "password": "Another-Strong-Pass-9"}
    )

    assert first.status_code == 200
    assert again.status_code == 400
    assert again.json()["code"] == "invalid_token"
    login = await client.post(
        "/api/auth/login", json={"email": user.email, "password": NEW_PASSWORD}
    )
    assert login.status_code == 200


async def test_expired_reset_token_is_refused(
    client: httpx.AsyncClient, make_user: Callable[..., Any], mailbox: Mailbox, sql: Sql
) -> None:
    user = await make_user()
    token = await _reset_link_token(client, mailbox, user.email)
    await sql.run(
        update(OneTimeToken)
        .where(OneTimeToken.token_hash == hash_token(token))
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )

    response = await client.post(
        "/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_token"


async def test_unknown_or_wrong_purpose_tokens_are_refused(
    client: httpx.AsyncClient, make_user: Callable[..., Any], sql: Sql
) -> None:
    user = await make_user()
    verify_token = "a-verification-token-not-a-reset-one"
    await sql.add(
        OneTimeToken(
            user_id=user.id,
            purpose="verify_email",
            token_hash=hash_token(verify_token),
            expires_at=utcnow() + timedelta(hours=1),
        )
    )

    for token in ("never-issued", verify_token):
        response = await client.post(
            "/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}
        )
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_token"


async def test_weak_new_password_is_422_and_keeps_the_link_usable(
    client: httpx.AsyncClient, make_user: Callable[..., Any], mailbox: Mailbox
) -> None:
    user = await make_user()
    token = await _reset_link_token(client, mailbox, user.email)

    for weak in ("short", "password123", "Qwertyuiop"):
        response = await client.post(
            "/api/auth/reset-password", json={"token": token, "password": weak}
        )
        assert response.status_code == 422, weak
        assert response.json()["details"][0]["field"] == "password"

    ok = await client.post(
        "/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}
    )
    assert ok.status_code == 200


async def test_a_newer_reset_link_replaces_the_older_one(
    client: httpx.AsyncClient, make_user: Callable[..., Any], mailbox: Mailbox
) -> None:
    user = await make_user()
    older = await _reset_link_token(client, mailbox, user.email)
    newer = await _reset_link_token(client, mailbox, user.email)

    stale = await client.post(
        "/api/auth/reset-password", json={"token": older, "password": NEW_PASSWORD}
    )
    fresh = await client.post(
        "/api/auth/reset-password", json={"token": newer, "password": NEW_PASSWORD}
    )

    assert stale.status_code == 400
    assert fresh.status_code == 200


async def test_banned_account_gets_no_reset_email(
    client: httpx.AsyncClient, make_user: Callable[..., Any], mailbox: Mailbox
) -> None:
    user = await make_user(is_banned=True)

    response = await client.post("/api/auth/forgot-password", json={"email": user.email})
    await mailbox.wait()

    assert response.status_code == 202
    assert response.json() == ANSWER
    assert mailbox.to(user.email) == []


async def test_reset_email_is_sent_in_the_users_language(
    client: httpx.AsyncClient, make_user: Callable[..., Any], mailbox: Mailbox, sql: Sql
) -> None:
    user = await make_user()
    await sql.run(update(UserSettings).where(UserSettings.user_id == user.id).values(language="fr"))

    token = await _reset_link_token(client, mailbox, user.email)

    (message,) = mailbox.to(user.email)
    assert message["Subject"] == "Réinitialisez votre mot de passe PEAL"
    assert message["Content-Language"] == "fr"
    text = body_text(message)
    assert "Ce lien est valable 60 minutes" in text
    assert token in text


async def test_access_tokens_issued_before_a_reset_stop_working(
    client: httpx.AsyncClient, make_user: Callable[..., Any], mailbox: Mailbox, settings: Settings
) -> None:
    """A thief's access token dies with the reset, not 15 minutes later."""
    import jwt

    user = await make_user()
    issued = utcnow() - timedelta(minutes=2)
    stolen = jwt.encode(
        {
            "sub": str(user.id),
            "role": user.role,
            "typ": "access",
            "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience,
            "iat": issued,
            "nbf": issued,
            "exp": issued + timedelta(minutes=15),
            "jti": "stolen",
        },
        settings.jwt_secret,
        algorithm="HS256",
    )
    before = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {stolen}"})
    assert before.status_code == 200

    token = await _reset_link_token(client, mailbox, user.email)
    reset = await client.post(
        "/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}
    )
    assert reset.status_code == 200

    after = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {stolen}"})
    assert after.status_code == 401
    fresh = await client.post(
        "/api/auth/login", json={"email": user.email, "password": NEW_PASSWORD}
    )
    me = await client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {fresh.json()['accessToken']}"}
    )
    assert me.status_code == 200

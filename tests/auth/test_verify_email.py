"""Email verification: the email sent at registration, a single-use 48-hour link, languages."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from peal.auth.models import OneTimeToken
from peal.config import Settings
from peal.core.security import hash_token
from peal.db import utcnow
from peal.settings.models import UserSettings
from peal.users.models import User
from tests.auth.conftest import Register, Sql, bearer, body_text, link_token, new_email
from tests.conftest import Mailbox


async def _registered(
    register: Register, mailbox: Mailbox, **fields: Any
) -> tuple[dict[str, Any], str]:
    """A new account (its session body) and the token of its verification email."""
    email = fields.pop("email", new_email())
    response = await register(email=email, **fields)
    assert response.status_code == 201
    await mailbox.wait()
    (message,) = mailbox.to(email)
    body: dict[str, Any] = response.json()
    return body, link_token(message, "verify-email")


async def test_registration_sends_a_verification_email(
    register: Register, mailbox: Mailbox, settings: Settings
) -> None:
    email = new_email()
    await register(email=email, name="Amara <i>Okafor</i>")
    await mailbox.wait()

    (message,) = mailbox.to(email)
    assert message["Subject"] == "Confirm your email address for PEAL"
    assert message["Content-Language"] == "en"
    text = body_text(message)
    assert f"{settings.frontend_url}/verify-email?token=" in text
    assert "Hi Amara Okafor," in text
    assert "48 hours" in text
    html = body_text(message, "html")
    assert "/verify-email?token=" in html
    assert "<i>" not in html


async def test_verification_token_is_stored_hashed_for_48_hours(
    register: Register, mailbox: Mailbox, sql: Sql
) -> None:
    session, token = await _registered(register, mailbox)

    stored = await sql.scalar(select(OneTimeToken).where(OneTimeToken.purpose == "verify_email"))

    assert stored.token_hash == hash_token(token)
    assert str(stored.user_id) == session["user"]["id"]
    assert abs((stored.expires_at - stored.created_at) - timedelta(hours=48)) < timedelta(seconds=2)


async def test_verify_email_works_once(
    client: httpx.AsyncClient, register: Register, mailbox: Mailbox
) -> None:
    session, token = await _registered(register, mailbox)

    response = await client.post("/api/auth/verify-email", json={"token": token})

    assert response.status_code == 200
    assert response.json()["user"]["emailVerified"] is True
    me = await client.get("/api/auth/me", headers=bearer(session["accessToken"]))
    assert me.json()["user"]["emailVerified"] is True
    again = await client.post("/api/auth/verify-email", json={"token": token})
    assert again.status_code == 400
    assert again.json()["code"] == "invalid_token"


async def test_expired_or_unknown_verification_tokens_are_refused(
    client: httpx.AsyncClient, register: Register, mailbox: Mailbox, sql: Sql
) -> None:
    session, token = await _registered(register, mailbox)
    await sql.run(
        update(OneTimeToken)
        .where(OneTimeToken.token_hash == hash_token(token))
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )

    for candidate in (token, "never-issued"):
        response = await client.post("/api/auth/verify-email", json={"token": candidate})
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_token"
    verified = await sql.scalar(
        select(User.email_verified).where(User.email == session["user"]["email"])
    )
    assert verified is False


async def test_verify_email_needs_a_token(client: httpx.AsyncClient) -> None:
    for body in ({}, {"token": ""}):
        response = await client.post("/api/auth/verify-email", json=body)
        assert response.status_code == 422


@pytest.mark.parametrize(
    ("language", "subject", "phrase"),
    [
        ("fr", "Confirmez votre adresse e-mail sur PEAL", "Ce lien est valable 48 heures"),
        ("es", "Confirma tu dirección de correo electrónico en PEAL", "48 horas"),
        ("pt", "Confirme o seu endereço de e-mail no PEAL", "48 horas"),
        ("ar", "تأكيد عنوان بريدك الإلكتروني في PEAL", "48 ساعة"),
    ],
)
async def test_verification_email_follows_accept_language(
    language: str, subject: str, phrase: str, register: Register, mailbox: Mailbox
) -> None:
    email = new_email()
    await register(email=email, headers={"Accept-Language": f"{language};q=0.9, de;q=1"})
    await mailbox.wait()

    (message,) = mailbox.to(email)
    assert message["Subject"] == subject
    assert message["Content-Language"] == language
    assert phrase in body_text(message)
    if language == "ar":
        assert 'dir="rtl"' in body_text(message, "html")


async def test_resend_uses_the_language_of_the_settings_and_retires_the_old_link(
    client: httpx.AsyncClient, register: Register, mailbox: Mailbox, sql: Sql
) -> None:
    session, old_token = await _registered(register, mailbox)
    user_id = session["user"]["id"]
    await sql.run(
        update(UserSettings).where(UserSettings.user_id == uuid.UUID(user_id)).values(language="fr")
    )

    response = await client.post(
        "/api/auth/resend-verification", headers=bearer(session["accessToken"])
    )
    await mailbox.wait()

    assert response.status_code == 202
    newest = mailbox.to(session["user"]["email"])[-1]
    assert newest["Subject"] == "Confirmez votre adresse e-mail sur PEAL"
    new_token = link_token(newest, "verify-email")
    stale = await client.post("/api/auth/verify-email", json={"token": old_token})
    assert stale.status_code == 400
    fresh = await client.post("/api/auth/verify-email", json={"token": new_token})
    assert fresh.status_code == 200


async def test_resend_sends_nothing_once_verified(
    client: httpx.AsyncClient, make_user: Callable[..., Any], mailbox: Mailbox
) -> None:
    user = await make_user(email_verified=True)

    response = await client.post("/api/auth/resend-verification", headers=user.headers)
    await mailbox.wait()

    assert response.status_code == 202
    assert mailbox.to(user.email) == []


async def test_resend_needs_a_signed_in_user(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/resend-verification")

    assert response.status_code == 401

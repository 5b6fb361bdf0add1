"""The rules of authentication: accounts, passwords, refresh-token families, one-time tokens."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from importlib import resources
from typing import Any, cast
from urllib.parse import urlencode

from sqlalchemy import CursorResult, Result, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from peal.auth.models import OneTimeToken, RefreshToken
from peal.config import Settings
from peal.core.errors import BadRequest, Conflict, Unauthorized, ValidationFailed
from peal.core.realtime import disconnect_after_commit
from peal.core.security import AccessTokens, PasswordHashing, hash_token, new_opaque_token
from peal.db import utcnow
from peal.email.service import queue_email
from peal.settings.models import LANGUAGES, UserSettings
from peal.settings.service import create_default_settings
from peal.users.models import User
from peal.users.service import create_user, get_user_by_email, normalize_email

VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"  # noqa: S105 - a token purpose, not a secret
VERIFY_EMAIL_LIFETIME = timedelta(hours=48)
RESET_PASSWORD_LIFETIME = timedelta(hours=1)

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128
INVALID_CREDENTIALS = "Invalid email or password"


@dataclass(frozen=True)
class AuthTools:
    """What the rules need from the running app, handed over by the router."""

    settings: Settings
    passwords: PasswordHashing
    tokens: AccessTokens


@dataclass(frozen=True)
class SignIn:
    """A new or rotated sign-in: the caller shows the tokens and sets them as cookies."""

    user: User
    access_token: str
    refresh_token: str
    family_id: uuid.UUID
    access_expires_in: int
    refresh_expires_in: int


@dataclass(frozen=True)
class Client:
    """Who is signing in from where, kept on the refresh token for the user's session list."""

    user_agent: str | None = None
    ip_address: str | None = None


class RefreshReused(Unauthorized):
    """A refresh token that was already rotated or revoked came back: its family is revoked."""

    code = "refresh_reused"
    message = "This refresh token was already used; please sign in again"


# --- passwords ---------------------------------------------------------------------------


@lru_cache
def common_passwords() -> frozenset[str]:
    """The most common passwords (lower-cased), shipped with the package."""
    text = resources.files("peal.auth").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


def ensure_acceptable_password(password: str, *, email: str | None = None) -> None:
    """8 to 128 characters, not a well-known password and not the email address itself."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise ValidationFailed(
            "password", f"Password must be at least {PASSWORD_MIN_LENGTH} characters"
        )
    if len(password) > PASSWORD_MAX_LENGTH:
        raise ValidationFailed(
            "password", f"Password must be at most {PASSWORD_MAX_LENGTH} characters"
        )
    lowered = password.lower()
    if lowered in common_passwords():
        raise ValidationFailed(
            "password", "This password is too common; choose one that is harder to guess"
        )
    if email is not None:
        address = normalize_email(email)
        if lowered in (address, address.split("@", 1)[0]):
            raise ValidationFailed("password", "Password must not be your email address")


# --- sign-in sessions (refresh-token families) -------------------------------------------


async def _start_sign_in(
    session: AsyncSession, tools: AuthTools, user: User, client: Client
) -> SignIn:
    """A new refresh-token family: one per sign-in, so logout ends just this one."""
    family_id = uuid.uuid4()
    return await _issue(session, tools, user, family_id, client)


async def _issue(
    session: AsyncSession,
    tools: AuthTools,
    user: User,
    family_id: uuid.UUID,
    client: Client,
) -> SignIn:
    refresh_token = new_opaque_token()
    refresh_lifetime = tools.settings.refresh_token_expiry
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id,
            token_hash=hash_token(refresh_token),
            expires_at=utcnow() + timedelta(seconds=refresh_lifetime),
            user_agent=(client.user_agent or None) and client.user_agent[:255],
            ip_address=(client.ip_address or None) and client.ip_address[:64],
        )
    )
    await session.flush()
    access_token = tools.tokens.issue(user.id, user.role, session_id=str(family_id))
    return SignIn(
        user=user,
        access_token=access_token,
        refresh_token=refresh_token,
        family_id=family_id,
        access_expires_in=int(tools.tokens.lifetime.total_seconds()),
        refresh_expires_in=refresh_lifetime,
    )


async def revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    """End one sign-in: every token of its family stops working."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def revoke_all_sessions(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Revoke every refresh token of a user (password reset, account deletion, ban)."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


# --- register, login, refresh, logout ------------------------------------------------------


async def register(
    session: AsyncSession,
    tools: AuthTools,
    *,
    email: str,
    password: str,
    name: str,
    role: str,
    bio: str | None = None,
    location: str | None = None,
    skills: Sequence[str] = (),
    language: str = "en",
    client: Client | None = None,
) -> SignIn:
    """Create an account (role `woman` or `sponsor`), send the verification email, sign in."""
    if role not in ("woman", "sponsor"):
        raise ValidationFailed("role", "Role must be 'woman' or 'sponsor'")
    address = normalize_email(email)
    ensure_acceptable_password(password, email=address)
    if await get_user_by_email(session, address) is not None:
        raise _email_taken()
    password_hash = await tools.passwords.hash(password)
    try:
        user = await create_user(
            session,
            email=address,
            name=name,
            role=role,
            password_hash=password_hash,
            bio=bio,
            location=location,
            skills=skills,
        )
    except IntegrityError as exc:
        # Two registrations of one address at once: the unique index decides.
        raise _email_taken() from exc
    language = language if language in LANGUAGES else "en"
    await create_default_settings(session, user.id, language)
    await send_verification_email(session, tools, user, language)
    user.last_login_at = utcnow()
    return await _start_sign_in(session, tools, user, client or Client())


def _email_taken() -> Conflict:
    return Conflict("An account with this email already exists", code="email_taken")


async def login(
    session: AsyncSession,
    tools: AuthTools,
    *,
    email: str,
    password: str,
    client: Client | None = None,
) -> SignIn:
    """Check the password; unknown emails and wrong passwords fail alike, at the same cost."""
    user = await get_user_by_email(session, email)
    # verify(None, ...) still runs a full argon2 verification against a dummy hash.
    valid = await tools.passwords.verify(user.password_hash if user else None, password)
    if user is None or not valid:
        raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")
    if not user.is_active:
        raise Unauthorized("This account is not active", code="account_inactive")
    if user.password_hash is not None and tools.passwords.needs_rehash(user.password_hash):
        user.password_hash = await tools.passwords.hash(password)
    user.last_login_at = utcnow()
    return await _start_sign_in(session, tools, user, client or Client())


async def refresh(
    session: AsyncSession, tools: AuthTools, token: str | None, client: Client | None = None
) -> SignIn:
    """Rotate a refresh token: the presented one dies, a new one joins its family.

    A dead token presented again (or a race of two refreshes with one token) revokes the whole
    family. The caller must commit even though this raises `RefreshReused`.
    """
    if not token:
        raise Unauthorized("Refresh token required", code="invalid_refresh_token")
    stored = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == hash_token(token))
    )
    if stored is None:
        raise Unauthorized("Invalid refresh token", code="invalid_refresh_token")
    if stored.replaced_at is not None or stored.revoked_at is not None:
        await revoke_family(session, stored.family_id)
        raise RefreshReused()
    now = utcnow()
    if stored.expires_at <= now:
        raise Unauthorized("Refresh token expired", code="refresh_expired")
    # Atomic claim: of two requests presenting this token at once, exactly one updates it.
    claimed = await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.id == stored.id,
            RefreshToken.replaced_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(replaced_at=now)
        .execution_options(synchronize_session=False)
    )
    if _rowcount(claimed) != 1:
        await revoke_family(session, stored.family_id)
        raise RefreshReused()
    user = await session.get(User, stored.user_id)
    if user is None or not user.is_active:
        await revoke_family(session, stored.family_id)
        raise Unauthorized("This account is not active", code="account_inactive")
    return await _issue(session, tools, user, stored.family_id, client or Client())


def _rowcount(result: Result[Any]) -> int:
    return cast(CursorResult[Any], result).rowcount


async def logout(
    session: AsyncSession, refresh_token: str | None, session_id: str | None = None
) -> None:
    """End one sign-in: the refresh token's family, else the access token's session.

    Unknown, expired or dead tokens: nothing to do (logout never fails).
    """
    family_id: uuid.UUID | None = None
    if refresh_token and len(refresh_token) <= 512:
        family_id = await session.scalar(
            select(RefreshToken.family_id).where(
                RefreshToken.token_hash == hash_token(refresh_token)
            )
        )
    if family_id is None and session_id:
        try:
            family_id = uuid.UUID(session_id)
        except ValueError:
            return
    if family_id is not None:
        await revoke_family(session, family_id)


# --- one-time tokens: email verification and password reset ------------------------------


async def _new_one_time_token(
    session: AsyncSession, user_id: uuid.UUID, purpose: str, lifetime: timedelta
) -> str:
    token = new_opaque_token()
    session.add(
        OneTimeToken(
            user_id=user_id,
            purpose=purpose,
            token_hash=hash_token(token),
            expires_at=utcnow() + lifetime,
        )
    )
    await session.flush()
    return token


async def _consume_one_time_token(
    session: AsyncSession, token: str, purpose: str
) -> uuid.UUID | None:
    """Mark a valid token used and give its user; None when unknown, used or expired.

    One UPDATE with the conditions in its WHERE: of two concurrent uses, only one matches.
    """
    now = utcnow()
    result = await session.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.token_hash == hash_token(token),
            OneTimeToken.purpose == purpose,
            OneTimeToken.used_at.is_(None),
            OneTimeToken.expires_at > now,
        )
        .values(used_at=now)
        .returning(OneTimeToken.user_id)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none()


async def _retire_unused_tokens(session: AsyncSession, user_id: uuid.UUID, purpose: str) -> None:
    """Only the newest link of a kind works: older unused ones are marked used."""
    await session.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.user_id == user_id,
            OneTimeToken.purpose == purpose,
            OneTimeToken.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def frontend_link(settings: Settings, path: str, token: str) -> str:
    return f"{settings.frontend_url.rstrip('/')}/{path}?{urlencode({'token': token})}"


async def user_language(session: AsyncSession, user_id: uuid.UUID) -> str:
    # Read-only look-up of the user's chosen language for emails.
    language = await session.scalar(
        select(UserSettings.language).where(UserSettings.user_id == user_id)
    )
    return language or "en"


async def send_verification_email(
    session: AsyncSession, tools: AuthTools, user: User, language: str | None = None
) -> None:
    """A fresh 48-hour verification link (older ones stop working), emailed after commit."""
    await _retire_unused_tokens(session, user.id, VERIFY_EMAIL)
    token = await _new_one_time_token(session, user.id, VERIFY_EMAIL, VERIFY_EMAIL_LIFETIME)
    queue_email(
        session,
        to=user.email,
        template="verify_email",
        language=language or await user_language(session, user.id),
        context={
            "name": user.name,
            "link": frontend_link(tools.settings, "verify-email", token),
            "expires_hours": int(VERIFY_EMAIL_LIFETIME.total_seconds() // 3600),
        },
    )


async def resend_verification(session: AsyncSession, tools: AuthTools, user: User) -> None:
    if user.email_verified:
        return
    await send_verification_email(session, tools, user)


async def verify_email(session: AsyncSession, token: str) -> User:
    user_id = await _consume_one_time_token(session, token, VERIFY_EMAIL)
    user = await session.get(User, user_id) if user_id is not None else None
    if user is None or not user.is_active:
        raise _invalid_token()
    user.email_verified = True
    await session.flush()
    return user


async def request_password_reset(session: AsyncSession, tools: AuthTools, email: str) -> None:
    """Email a one-hour reset link when the account exists; the caller answers alike anyway."""
    user = await get_user_by_email(session, email)
    if user is None or not user.is_active:
        return
    await _retire_unused_tokens(session, user.id, RESET_PASSWORD)
    token = await _new_one_time_token(session, user.id, RESET_PASSWORD, RESET_PASSWORD_LIFETIME)
    queue_email(
        session,
        to=user.email,
        template="reset_password",
        language=await user_language(session, user.id),
        context={
            "name": user.name,
            "link": frontend_link(tools.settings, "reset-password", token),
            "expires_minutes": int(RESET_PASSWORD_LIFETIME.total_seconds() // 60),
        },
    )


async def reset_password(
    session: AsyncSession, tools: AuthTools, token: str, password: str
) -> User:
    """Set a new password with a reset token (single use) and end every sign-in of the user."""
    ensure_acceptable_password(password)
    user_id = await _consume_one_time_token(session, token, RESET_PASSWORD)
    user = await session.get(User, user_id) if user_id is not None else None
    if user is None or not user.is_active:
        raise _invalid_token()
    ensure_acceptable_password(password, email=user.email)
    user.password_hash = await tools.passwords.hash(password)
    user.password_changed_at = utcnow()
    # Whoever reset the password proved they own the inbox.
    user.email_verified = True
    await revoke_all_sessions(session, user.id)
    await session.flush()
    disconnect_after_commit(session, user.id)
    return user


def _invalid_token() -> BadRequest:
    return BadRequest("This link is invalid or has expired", code="invalid_token")

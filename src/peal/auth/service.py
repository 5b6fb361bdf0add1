"""The rules of authentication: accounts, passwords, refresh-token families, one-time tokens."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import bindparam, delete, exists, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from peal.auth.models import OneTimeToken, RefreshToken
from peal.config import Settings
from peal.core.errors import BadRequest, Conflict, Unauthorized, ValidationFailed
from peal.core.export import row_dict
from peal.core.realtime import disconnect_after_commit
from peal.core.security import (
    AccessClaims,
    AccessTokens,
    PasswordHashing,
    hash_token,
    new_opaque_token,
)
from peal.core.sql import NO_SYNC, rowcount
from peal.db import release_connection, utcnow
from peal.email.service import queue_email
from peal.settings.models import LANGUAGES, UserSettings
from peal.settings.service import create_default_settings
from peal.users.models import User
from peal.users.schemas import UserOut
from peal.users.service import (
    create_user,
    get_user_by_email,
    normalize_email,
    present_user,
    set_verified_email,
)

VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"  # noqa: S105 - a token purpose, not a secret
CHANGE_EMAIL = "change_email"
VERIFY_EMAIL_LIFETIME = timedelta(hours=48)
RESET_PASSWORD_LIFETIME = timedelta(hours=1)
CHANGE_EMAIL_LIFETIME = timedelta(hours=24)

EMAIL_TAKEN_MESSAGE = "An account with this email already exists"
INVALID_LINK_MESSAGE = "This link is invalid or has expired"
USED_LINK_MESSAGE = "This link was already used or replaced by a newer one"
EXPIRED_LINK_MESSAGE = "This link has expired; ask for a new one"
GOOGLE_ONLY_MESSAGE = (
    "This account signs in with Google, so its email is your Google address. "
    "Set a password first (forgot password), then change the email."
)

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


class SessionEnded(Unauthorized):
    """The token belongs to a sign-in that was ended (logout, reset, ban...): sign in again."""

    code = "session_ended"
    message = "This sign-in has ended; please sign in again"


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
    return await _issue(session, tools, user, family_id, client, user.session_epoch)


async def _issue(
    session: AsyncSession,
    tools: AuthTools,
    user: User,
    family_id: uuid.UUID,
    client: Client,
    session_epoch: int,
) -> SignIn:
    """A refresh token of the family and an access token, both under `session_epoch`.

    The epoch is the one the caller checked (under the user's row lock for a rotation), never
    re-read: an epoch bumped meanwhile makes these tokens dead on arrival, not alive.
    """
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
            session_epoch=session_epoch,
        )
    )
    await session.flush()
    access_token = tools.tokens.issue(
        user.id, user.role, session_id=str(family_id), session_epoch=session_epoch
    )
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


async def end_all_sessions(session: AsyncSession, user_id: uuid.UUID) -> None:
    """End every sign-in of a user at once, in the caller's transaction (password reset, Google
    claim, logout everywhere, ban, deletion; the real-time layer disconnects on it too).

    Bumps the user's session epoch (every access and refresh token carries the epoch it was
    issued under, and is refused once it differs) and revokes every refresh token. The epoch
    UPDATE takes the user's row lock that a refresh takes too (`refresh`), so a refresh racing
    this either finishes first (and its new tokens carry the old epoch: dead on commit) or
    waits and sees the new epoch: revocation wins every race.
    """
    new_epoch = await session.scalar(
        update(User)
        .where(User.id == user_id)
        .values(session_epoch=User.session_epoch + 1)
        .returning(User.session_epoch)
        .execution_options(**NO_SYNC)
    )
    loaded = session.identity_map.get(identity_key(User, user_id))
    if isinstance(loaded, User) and new_epoch is not None:
        # Tokens issued later in this transaction (a Google claim's own sign-in) use the new one.
        set_committed_value(loaded, "session_epoch", new_epoch)
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(**NO_SYNC)
    )
    # Her sockets and notification streams close once the transaction holds, in every process.
    disconnect_after_commit(session, user_id)


# The user a token speaks for, with whether its sign-in (refresh family) is alive: built once,
# values bound (a statement and its cache key built per request were a third of this lookup's
# CPU, and every signed-in request makes it).
_USER_AND_SIGN_IN = select(
    User,
    exists().where(
        RefreshToken.family_id == bindparam("family_id"), RefreshToken.revoked_at.is_(None)
    ),
).where(User.id == bindparam("user_id"))
_USER = select(User, true()).where(User.id == bindparam("user_id"))  # tokens without a sign-in


async def user_of_access_token(session: AsyncSession, claims: AccessClaims) -> User:
    """The active user a decoded access token speaks for, in one query; 401 otherwise.

    Refused once its sign-in (refresh family) is revoked (logout, reuse detection) or the
    user's session epoch moved on (reset, claim, ban...), however long before `exp`.
    """
    query, values = _USER, {"user_id": claims.user_id}
    if claims.session_id is not None:
        try:
            values["family_id"] = uuid.UUID(claims.session_id)
        except ValueError as exc:
            raise Unauthorized("Invalid access token", code="invalid_token") from exc
        query = _USER_AND_SIGN_IN
    row = (await session.execute(query, values)).one_or_none()
    if row is None or not row[0].is_active:
        raise Unauthorized("Account is not active", code="account_inactive")
    user, live = row
    if not live or claims.session_epoch != user.session_epoch:
        raise SessionEnded()
    return user


async def user_for_access_token(
    session: AsyncSession, tokens: AccessTokens, token: str
) -> tuple[User, AccessClaims]:
    """The one token → user check, shared by HTTP (`optional_user`) and the socket handshake.

    Unauthorized for a bad, expired or non-access token, a banned or deleted user, a token
    whose sign-in was revoked or whose session epoch moved on (a reset, logout everywhere,
    ban, reuse detection), at once, not at `exp`.
    """
    claims = tokens.decode(token)
    # One query: the user, active, with the token's sign-in alive and its epoch current.
    user = await user_of_access_token(session, claims)
    return user, claims


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
    with tools.passwords.admit():  # a burst is shed here, before any database work
        if await get_user_by_email(session, address) is not None:
            raise _email_taken()
        # No pooled connection held while the hash waits for the limiter and runs.
        await release_connection(session)
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
    return Conflict(EMAIL_TAKEN_MESSAGE, code="email_taken")


async def login(
    session: AsyncSession,
    tools: AuthTools,
    *,
    email: str,
    password: str,
    client: Client | None = None,
) -> SignIn:
    """Check the password; unknown emails and wrong passwords fail alike, at the same cost."""
    with tools.passwords.admit():  # a burst is shed here, before any database work
        user = await get_user_by_email(session, email)
        # No pooled connection held while the hash waits for the limiter and runs: a login
        # burst would otherwise empty the pool for every other request.
        await release_connection(session)
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

    A dead token presented again revokes the whole family, except the token rotated in the
    last `REFRESH_REUSE_GRACE_SECONDS`: two tabs or a retry presenting it at once get a valid
    pair of the same family instead of being signed out. The caller must commit even though
    this raises `RefreshReused`.
    """
    if not token or len(token) > 512:
        raise Unauthorized("Refresh token required", code="invalid_refresh_token")
    stored = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == hash_token(token))
    )
    if stored is None:
        raise Unauthorized("Invalid refresh token", code="invalid_refresh_token")
    if stored.revoked_at is not None:
        await revoke_family(session, stored.family_id)
        raise RefreshReused()
    now = utcnow()
    if stored.expires_at <= now:
        raise Unauthorized("Refresh token expired", code="refresh_expired")
    # The user's row lock serializes this with `end_all_sessions` (and with a second refresh
    # of the same user): whoever comes second sees the other's committed work.
    user = await _lock_user(session, stored.user_id)
    if user is None or not user.is_active:
        await revoke_family(session, stored.family_id)
        raise Unauthorized("This account is not active", code="account_inactive")
    epoch = stored.session_epoch
    if epoch != user.session_epoch:
        await revoke_family(session, stored.family_id)
        raise SessionEnded()
    # Atomic claim: of two requests presenting this token at once, exactly one updates it.
    claimed = await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.id == stored.id,
            RefreshToken.replaced_at.is_(None),
            RefreshToken.revoked_at.is_(None),
            RefreshToken.session_epoch == epoch,
        )
        .values(replaced_at=now)
        .execution_options(**NO_SYNC)
    )
    if rowcount(claimed) == 1 or await _within_reuse_grace(session, tools, stored.id, now):
        return await _issue(session, tools, user, stored.family_id, client or Client(), epoch)
    await revoke_family(session, stored.family_id)
    raise RefreshReused()


async def _lock_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    # FOR NO KEY UPDATE: the lock an UPDATE of the row takes, which still lets other
    # transactions insert rows that reference the user. SQLite ignores it (writes are serial).
    return await session.scalar(
        select(User)
        .where(User.id == user_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )


async def _within_reuse_grace(
    session: AsyncSession, tools: AuthTools, token_id: uuid.UUID, now: datetime
) -> bool:
    """Was this token rotated (not revoked) just now? Read afresh: a concurrent rotation has
    committed by the time our claim found nothing to update."""
    grace = tools.settings.refresh_reuse_grace_seconds
    if grace <= 0:
        return False
    row = (
        await session.execute(
            select(RefreshToken.replaced_at, RefreshToken.revoked_at).where(
                RefreshToken.id == token_id
            )
        )
    ).one_or_none()
    if row is None or row.revoked_at is not None or row.replaced_at is None:
        return False
    replaced_at: datetime = row.replaced_at
    return now - replaced_at <= timedelta(seconds=grace)


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
    session: AsyncSession,
    user_id: uuid.UUID,
    purpose: str,
    lifetime: timedelta,
    *,
    new_email: str | None = None,
) -> str:
    token = new_opaque_token()
    session.add(
        OneTimeToken(
            user_id=user_id,
            purpose=purpose,
            token_hash=hash_token(token),
            expires_at=utcnow() + lifetime,
            new_email=new_email,
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
        .execution_options(**NO_SYNC)
    )
    return result.scalar_one_or_none()


async def _retire_unused_tokens(
    session: AsyncSession, user_id: uuid.UUID, purpose: str | None
) -> None:
    """Only the newest link of a kind works: older unused ones are marked used (every kind
    when `purpose` is None)."""
    await session.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.user_id == user_id,
            OneTimeToken.purpose == purpose if purpose is not None else true(),
            OneTimeToken.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(**NO_SYNC)
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


async def request_password_reset(session: AsyncSession, settings: Settings, email: str) -> None:
    """Email a one-hour reset link when the account exists. Runs in a job
    (`auth.send_password_reset`), so the request answers alike, in the same time, either way."""
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
            "link": frontend_link(settings, "reset-password", token),
            "expires_minutes": int(RESET_PASSWORD_LIFETIME.total_seconds() // 60),
        },
    )


async def reset_password(
    session: AsyncSession, tools: AuthTools, token: str, password: str
) -> User:
    """Set a new password with a reset token (single use) and end every sign-in of the user."""
    ensure_acceptable_password(password)
    user = await _user_of_one_time_token(session, token, RESET_PASSWORD)
    if user is None or not user.is_active:
        raise _invalid_token()
    ensure_acceptable_password(password, email=user.email)
    # Reads only so far: hand the connection back while the hash waits and runs.
    await release_connection(session)
    password_hash = await tools.passwords.hash(password)
    # Consumed after the hash, atomically: of two uses of one link, only one gets here.
    if await _consume_one_time_token(session, token, RESET_PASSWORD) != user.id:
        raise _invalid_token()
    user.password_hash = password_hash
    user.password_changed_at = utcnow()
    # Whoever reset the password proved they own the inbox.
    user.email_verified = True
    await end_all_sessions(session, user.id)
    await session.flush()
    return user


async def _user_of_one_time_token(session: AsyncSession, token: str, purpose: str) -> User | None:
    """The user of a valid (unused, unexpired) token, without using it up."""
    user_id = await session.scalar(
        select(OneTimeToken.user_id).where(
            OneTimeToken.token_hash == hash_token(token),
            OneTimeToken.purpose == purpose,
            OneTimeToken.used_at.is_(None),
            OneTimeToken.expires_at > utcnow(),
        )
    )
    return await session.get(User, user_id) if user_id is not None else None


def _invalid_token() -> BadRequest:
    return BadRequest(INVALID_LINK_MESSAGE, code="invalid_token")


# --- email change ---------------------------------------------------------------------------


def is_email_change(user: User, email: str) -> bool:
    """Does `email` name another address than the account's? Compared in the stored form
    (`normalize_email`, as at registration), so `Amara@Example.com ` is no change."""
    return normalize_email(email) != normalize_email(user.email)


async def request_email_change(
    session: AsyncSession, settings: Settings, user: User, email: str
) -> str:
    """Start moving the account to `email`: a 24-hour single-use link goes to the NEW address
    and nothing changes until it is opened (`confirm_email_change`). A newer request retires
    the older link. Gives the pending address.

    An account without a password (Google sign-in only) is refused: Google sign-in finds the
    account by its email, so moving it would lock her out of the only way she signs in. She
    can set a password first (forgot-password), then change the address.
    """
    address = normalize_email(email)
    if user.password_hash is None:
        raise Conflict(GOOGLE_ONLY_MESSAGE, code="password_required")
    # The same answer as registration for a taken address, and no more.
    if await get_user_by_email(session, address) is not None:
        raise _email_taken()
    await _retire_unused_tokens(session, user.id, CHANGE_EMAIL)
    token = await _new_one_time_token(
        session, user.id, CHANGE_EMAIL, CHANGE_EMAIL_LIFETIME, new_email=address
    )
    queue_email(
        session,
        to=address,
        template="confirm_email_change",
        language=await user_language(session, user.id),
        context={
            "name": user.name,
            "link": frontend_link(settings, "confirm-email-change", token),
            "expires_hours": int(CHANGE_EMAIL_LIFETIME.total_seconds() // 3600),
        },
    )
    return address


async def pending_email_change(session: AsyncSession, user_id: uuid.UUID) -> str | None:
    """The address of the user's live (unused, unexpired) email-change link, if any."""
    return await session.scalar(
        select(OneTimeToken.new_email)
        .where(
            OneTimeToken.user_id == user_id,
            OneTimeToken.purpose == CHANGE_EMAIL,
            OneTimeToken.used_at.is_(None),
            OneTimeToken.expires_at > utcnow(),
        )
        .order_by(OneTimeToken.created_at.desc())
        .limit(1)
    )


async def present_account(session: AsyncSession, user: User, viewer: User | None) -> UserOut:
    """`present_user`, plus `pendingEmail` for those who see the email (the owner, admins)."""
    shown = await present_user(session, user, viewer)
    if shown.email is not None:
        shown.pending_email = await pending_email_change(session, user.id)
    return shown


async def confirm_email_change(session: AsyncSession, settings: Settings, token: str) -> User:
    """Apply the change the link confirms: the new address, verified. Every outstanding link
    of the account (reset links sent to the old address among them) dies, every sign-in ends
    (as after a password reset: the address that signs in and recovers the account changed),
    and the old address is told, with a way to get help if it was not her.

    400 `invalid_token` for an unknown, forged or other-purpose token, `token_used` for one
    used or replaced by a newer request, `token_expired`; 409 `email_taken` when another
    account took the address meanwhile (the unique index decides a race).
    """
    stored = await session.scalar(
        select(OneTimeToken).where(OneTimeToken.token_hash == hash_token(token))
    )
    if stored is None or stored.purpose != CHANGE_EMAIL or stored.new_email is None:
        raise _invalid_token()
    if stored.used_at is not None:
        raise _used_token()
    if stored.expires_at <= utcnow():
        raise BadRequest(EXPIRED_LINK_MESSAGE, code="token_expired")
    new_email = stored.new_email
    # Of two uses of one link at once, only one gets past this.
    if await _consume_one_time_token(session, token, CHANGE_EMAIL) != stored.user_id:
        raise _used_token()
    user = await _lock_user(session, stored.user_id)
    if user is None or not user.is_active:
        raise _invalid_token()
    old_email = user.email
    holder = await get_user_by_email(session, new_email)
    if holder is not None and holder.id != user.id:
        raise _email_taken()
    try:
        await set_verified_email(session, user, new_email)
    except IntegrityError as exc:
        # Taken between the look-up and the write: the unique index refuses the second.
        raise _email_taken() from exc
    await _retire_unused_tokens(session, user.id, None)
    await end_all_sessions(session, user.id)
    queue_email(
        session,
        to=old_email,
        template="email_changed",
        language=await user_language(session, user.id),
        context={
            "name": user.name,
            "new_email": masked_email(new_email),
            "support_email": settings.support_email,
        },
    )
    return user


def masked_email(address: str) -> str:
    """`am***@example.com`: enough for her to recognise an address, not to hand it out."""
    local, _, domain = address.partition("@")
    return f"{local[:2]}***@{domain}"


def _used_token() -> BadRequest:
    return BadRequest(USED_LINK_MESSAGE, code="token_used")


# --- account deletion and export -----------------------------------------------------------


async def purge_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Every session ends, then the tokens go with their IP addresses and user agents."""
    await end_all_sessions(session, user_id)
    await session.execute(
        delete(OneTimeToken).where(OneTimeToken.user_id == user_id),
        execution_options=NO_SYNC,
    )
    await session.execute(
        delete(RefreshToken).where(RefreshToken.user_id == user_id),
        execution_options=NO_SYNC,
    )


async def export_user(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    """Her sign-ins (when, from which address and browser); never the token hashes."""
    rows = await session.scalars(
        select(RefreshToken)
        .where(RefreshToken.user_id == user_id)
        .order_by(RefreshToken.created_at)
    )
    return {
        "signIns": [
            row_dict(row, exclude={"token_hash", "user_id", "family_id"}) for row in rows.all()
        ]
    }

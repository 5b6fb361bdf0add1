"""Google sign-in: an ID token verified against Google's published keys, then an account.

The token must be signed (RS256 only) by one of the keys of `GOOGLE_JWKS_URL`, issued to our
`GOOGLE_CLIENT_ID` (`aud`) by Google (`iss`), unexpired, for an email Google has verified. The
keys are cached for `GOOGLE_JWKS_CACHE_TTL` and fetched again early when a token names a key we
do not know (Google rotates its keys), at most once a minute so forged key ids cannot make us
call Google on every request.

A new email becomes an account with a verified email and no password (password login fails
like a wrong password; forgot-password lets her set one). An existing email signs in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import structlog
from jwt.algorithms import has_crypto
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from peal.auth.service import AuthTools, Client, SignIn, _start_sign_in, end_all_sessions
from peal.config import Settings
from peal.core.errors import ServiceUnavailable, Unauthorized
from peal.core.text import TEXT_MAX, URL_MAX, raw_limit, strip_html
from peal.db import utcnow
from peal.settings.service import create_default_settings
from peal.users.models import User
from peal.users.schemas import NAME_MAX
from peal.users.service import create_user, get_user_by_email, normalize_email

GOOGLE_ALGORITHM = "RS256"
JWKS_TIMEOUT_SECONDS = 5.0
# Google publishes a new key well before signing with it: an unknown key id right after a
# fetch is a forgery, not a rotation. At most one early refetch per this many seconds.
REFETCH_COOLDOWN_SECONDS = 60.0
# Clock skew tolerated between Google and us on `exp`, `iat` and `nbf`.
CLOCK_LEEWAY_SECONDS = 30
FALLBACK_NAME = "PEAL member"

log = structlog.get_logger("peal.auth.google")


def invalid_google_token() -> Unauthorized:
    return Unauthorized("Invalid Google ID token", code="invalid_google_token")


def google_unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(
        "Google sign-in is temporarily unavailable", code="google_unavailable"
    )


@dataclass(frozen=True)
class GoogleIdentity:
    """What a verified ID token says about its holder."""

    subject: str
    email: str
    name: str | None
    picture: str | None


class GoogleKeys:
    """Google's RSA signing keys by key id, fetched from the JWKS URL (httpx, async)."""

    def __init__(
        self,
        url: str,
        ttl_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        refetch_cooldown: float = REFETCH_COOLDOWN_SECONDS,
    ) -> None:
        self._url = url
        self._ttl = ttl_seconds
        self._clock = clock
        self._cooldown = refetch_cooldown
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        # One fetch at a time: a burst of sign-ins after the cache expires fetches once.
        self._lock = asyncio.Lock()

    async def key_for(self, kid: str) -> Any:
        """The public key named `kid`; 401 when Google does not publish it."""
        if not self._needs_fetch(kid):
            return self._keys[kid]
        async with self._lock:
            if self._needs_fetch(kid) and not self._tried_recently():
                await self._fetch()
        if kid in self._keys:
            return self._keys[kid]
        if self._fetched_at is None:  # never got any keys: Google (or the network) is down
            raise google_unavailable()
        raise invalid_google_token()

    def _needs_fetch(self, kid: str) -> bool:
        now = self._clock()
        expired = self._fetched_at is None or now - self._fetched_at >= self._ttl
        return expired or kid not in self._keys

    def _tried_recently(self) -> bool:
        return (
            self._attempted_at is not None and self._clock() - self._attempted_at < self._cooldown
        )

    async def _fetch(self) -> None:
        """Replace the keys with Google's current ones; on failure keep the old ones."""
        self._attempted_at = self._clock()
        try:
            async with httpx.AsyncClient(timeout=JWKS_TIMEOUT_SECONDS) as http:
                response = await http.get(self._url, headers={"Accept": "application/json"})
            response.raise_for_status()
            keys = _rsa_keys(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("google_jwks_fetch_failed", url=self._url, error=str(exc))
            return
        self._keys = keys
        self._fetched_at = self._clock()


def _rsa_keys(document: Any) -> dict[str, Any]:
    """The RS256 keys of a JWKS document by key id; anything else in it is ignored."""
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("not a JWKS document")
    keys: dict[str, Any] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            continue
        try:
            keys[kid] = jwt.PyJWK(entry, algorithm=GOOGLE_ALGORITHM).key
        except jwt.PyJWTError as exc:
            log.warning("google_jwks_key_skipped", kid=kid, error=str(exc))
    if not keys:
        raise ValueError("no usable RSA key in the JWKS document")
    return keys


class GoogleIdTokens:
    """Verifies Google ID tokens for one running app (`peal.auth.router.GoogleIdTokensDep`)."""

    def __init__(self, settings: Settings, keys: GoogleKeys | None = None) -> None:
        self._client_id = settings.google_client_id
        self._issuers = tuple(settings.google_issuers)
        self.keys = keys or GoogleKeys(settings.google_jwks_url, settings.google_jwks_cache_ttl)

    async def verify(self, token: str) -> GoogleIdentity:
        if not self._client_id or not has_crypto:
            if self._client_id:  # configured, but PyJWT cannot check RS256 signatures here
                log.error("google_sign_in_needs_cryptography")
            raise ServiceUnavailable(
                "Google sign-in is not configured on this server", code="google_not_configured"
            )
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise invalid_google_token() from exc
        kid = header.get("kid")
        if header.get("alg") != GOOGLE_ALGORITHM or not isinstance(kid, str) or not kid:
            raise invalid_google_token()
        key = await self.keys.key_for(kid)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[GOOGLE_ALGORITHM],
                audience=self._client_id,
                issuer=self._issuers,
                leeway=CLOCK_LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized(
                "The Google ID token has expired", code="google_token_expired"
            ) from exc
        except jwt.PyJWTError as exc:
            raise invalid_google_token() from exc
        return _identity(claims)


def _identity(claims: dict[str, Any]) -> GoogleIdentity:
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email or len(email) > 255:
        raise invalid_google_token()
    # Google sends a boolean; some older tokens carried the string "true".
    if claims.get("email_verified") not in (True, "true"):
        raise Unauthorized(
            "Google has not verified this email address", code="google_email_not_verified"
        )
    name, picture = claims.get("name"), claims.get("picture")
    return GoogleIdentity(
        subject=str(claims["sub"]),
        email=normalize_email(email),
        name=name if isinstance(name, str) else None,
        picture=picture if isinstance(picture, str) else None,
    )


# --- the account ---------------------------------------------------------------------------


def _display_name(identity: GoogleIdentity) -> str:
    name = strip_html((identity.name or "")[: raw_limit(NAME_MAX)], TEXT_MAX)[:NAME_MAX].strip()
    return name or identity.email.split("@", 1)[0][:NAME_MAX] or FALLBACK_NAME


def _avatar(identity: GoogleIdentity) -> str | None:
    picture = identity.picture
    if picture and picture.startswith("https://") and len(picture) <= URL_MAX:
        return picture
    return None


async def _create_account(
    session: AsyncSession, identity: GoogleIdentity, role: str, language: str
) -> User | None:
    """A new verified account without a password; None when the email was taken meanwhile."""
    try:
        async with session.begin_nested():
            user = await create_user(
                session,
                email=identity.email,
                name=_display_name(identity),
                role=role,
                password_hash=None,
                email_verified=True,
            )
            user.avatar_url = _avatar(identity)
            await create_default_settings(session, user.id, language)
    except IntegrityError:
        # The same person signing in twice at once: the unique email decides, the other wins.
        return None
    return user


async def _claim_unverified_account(session: AsyncSession, user: User) -> None:
    """Google proved the email is hers; whoever registered it unverified did not.

    Their password and sessions end here, or someone who registered her address first could
    keep a way into the account she is now using (account pre-hijacking).
    """
    user.password_hash = None
    user.password_changed_at = utcnow()
    user.email_verified = True
    # The epoch bump locks her row: a refresh loop of theirs racing this loses (see there).
    await end_all_sessions(session, user.id)


async def sign_in_with_google(
    session: AsyncSession,
    tools: AuthTools,
    identity: GoogleIdentity,
    *,
    role: str,
    language: str,
    client: Client,
) -> tuple[SignIn, bool]:
    """Sign in the account of the verified email, created with `role` if new.

    Answers the sign-in and whether the account was created. The role only applies to a new
    account (`woman` or `sponsor`, checked by the request body).
    """
    created = False
    user = await get_user_by_email(session, identity.email)
    if user is None:
        user = await _create_account(session, identity, role, language)
        created = user is not None
        user = user or await get_user_by_email(session, identity.email)
    if user is None or not user.is_active:
        raise Unauthorized("This account is not active", code="account_inactive")
    if not user.email_verified:
        await _claim_unverified_account(session, user)
    user.last_login_at = utcnow()
    return await _start_sign_in(session, tools, user, client), created

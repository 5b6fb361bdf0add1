"""Google sign-in against a JWKS served on loopback, with RSA keys made here: the account
rules (new, existing, role, banned, no password) and every way a token can be refused."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import select

from peal.auth.google import REFETCH_COOLDOWN_SECONDS, GoogleIdTokens, GoogleKeys
from peal.config import Settings
from peal.core import security
from peal.db import utcnow
from peal.settings.models import UserSettings
from peal.users.models import User
from tests.auth.conftest import STRONG_PASSWORD, Sql, bearer, link_token, new_email
from tests.conftest import Mailbox
from tests.helpers import ok

CLIENT_ID = "1234567890-peal.apps.googleusercontent.com"
ISSUER = "https://accounts.google.com"


class SigningKey:
    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        public: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "alg": "RS256", "use": "sig"}


class FakeGoogle:
    """Serves `{"keys": [...]}` at /oauth2/v3/certs and counts the fetches."""

    def __init__(self) -> None:
        self.published: list[SigningKey] = []
        self.fetches = 0
        self.failing = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.fetches += 1
                if fake.failing:
                    self.send_error(500)
                    return
                body = json.dumps({"keys": [key.jwk() for key in fake.published]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/oauth2/v3/certs"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def reset(self, *keys: SigningKey) -> None:
        self.published = list(keys)
        self.fetches = 0
        self.failing = False


@pytest.fixture(scope="session")
def keys() -> dict[str, SigningKey]:
    return {kid: SigningKey(kid) for kid in ("current", "next", "forger")}


@pytest.fixture(scope="session")
def fake_google_server() -> Iterator[FakeGoogle]:
    fake = FakeGoogle()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def google(fake_google_server: FakeGoogle, keys: dict[str, SigningKey]) -> FakeGoogle:
    fake_google_server.reset(keys["current"])
    return fake_google_server


@pytest.fixture
def settings(settings: Settings, google: FakeGoogle) -> Settings:
    """The suite's settings with Google sign-in configured against the fake."""
    return settings.model_copy(
        update={
            "google_client_id": CLIENT_ID,
            "google_jwks_url": google.url,
            "google_issuers": ["accounts.google.com", ISSUER],
        }
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(app: FastAPI) -> Clock:
    """Installs the app's verifier with a clock the test moves (no sleeping)."""
    fake_clock = Clock()
    settings: Settings = app.state.settings
    app.state.google_id_tokens = GoogleIdTokens(
        settings,
        GoogleKeys(settings.google_jwks_url, settings.google_jwks_cache_ttl, clock=fake_clock),
    )
    return fake_clock


def id_token(
    key: SigningKey,
    *,
    email: str | None = None,
    kid: str | None = None,
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    now = utcnow()
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": str(uuid.uuid4().int)[:21],
        "email": email or new_email(),
        "email_verified": True,
        "name": "Amara Okafor",
        "picture": "https://lh3.googleusercontent.com/a/amara",
        "iat": now,
        "exp": now + timedelta(hours=1),
    }
    payload.update(claims)
    payload = {name: value for name, value in payload.items() if value is not None}
    return jwt.encode(
        payload, key.private, algorithm="RS256", headers={"kid": kid or key.kid, **(headers or {})}
    )


async def sign_in(client: httpx.AsyncClient, token: str, **body: Any) -> httpx.Response:
    response = await client.post("/api/auth/google", json={"idToken": token, **body})
    client.cookies.clear()
    return response


def refused(response: httpx.Response, code: str = "invalid_google_token") -> None:
    assert response.status_code == 401, response.text
    assert response.json()["code"] == code


# --- accounts -------------------------------------------------------------------------------


async def test_a_new_email_creates_a_verified_account_and_signs_in(
    client: httpx.AsyncClient, sql: Sql, google: FakeGoogle, keys: dict[str, SigningKey]
) -> None:
    email = new_email()
    response = await client.post(
        "/api/auth/google",
        json={"idToken": id_token(keys["current"], email=email.upper())},
        headers={"Accept-Language": "pt-BR,pt;q=0.9"},
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"user", "accessToken", "refreshToken", "expiresIn"}
    assert body["user"]["email"] == email
    assert body["user"]["role"] == "woman"
    assert body["user"]["name"] == "Amara Okafor"
    assert body["user"]["emailVerified"] is True
    assert body["user"]["avatarUrl"] == "https://lh3.googleusercontent.com/a/amara"
    assert {"peal_access", "peal_refresh", "peal_csrf"} <= set(response.cookies)
    me = await client.get("/api/auth/me", headers=bearer(body["accessToken"]))
    assert me.json()["user"]["id"] == body["user"]["id"]
    user = await sql.scalar(select(User).where(User.email == email))
    assert user.password_hash is None
    language = await sql.scalar(
        select(UserSettings.language).where(UserSettings.user_id == user.id)
    )
    assert language == "pt"
    assert google.fetches == 1


async def test_a_new_account_may_be_a_sponsor_but_never_an_admin(
    client: httpx.AsyncClient, sql: Sql, keys: dict[str, SigningKey]
) -> None:
    sponsor = await sign_in(client, id_token(keys["current"]), role="sponsor")
    assert sponsor.status_code == 201 and sponsor.json()["user"]["role"] == "sponsor"

    for role in ("admin", "moderator", ""):
        email = new_email()
        response = await sign_in(client, id_token(keys["current"], email=email), role=role)
        assert response.status_code == 422, response.text
        assert response.json()["details"][0]["field"] == "role"
        assert await sql.scalar(select(User.id).where(User.email == email)) is None


async def test_the_name_falls_back_to_the_email_and_html_is_stripped(
    client: httpx.AsyncClient, keys: dict[str, SigningKey]
) -> None:
    no_name = await sign_in(
        client, id_token(keys["current"], email="zola.m@example.com", name=None)
    )
    assert no_name.json()["user"]["name"] == "zola.m"
    tagged = await sign_in(
        client, id_token(keys["current"], name="<b>Ngozi</b> <script>x</script>")
    )
    assert tagged.json()["user"]["name"] == "Ngozi"
    only_tags = await sign_in(
        client, id_token(keys["current"], email="ama@example.com", name="<i></i>")
    )
    assert only_tags.json()["user"]["name"] == "ama"
    not_https = await sign_in(client, id_token(keys["current"], picture="http://example.com/a"))
    assert not_https.json()["user"]["avatarUrl"] is None


async def test_an_existing_email_signs_in_and_the_role_is_ignored(
    client: httpx.AsyncClient, make_user: Callable[..., Any], keys: dict[str, SigningKey]
) -> None:
    woman = await make_user("woman", name="Amara Existing")
    response = await sign_in(
        client, id_token(keys["current"], email=woman.email, name="Other Name"), role="sponsor"
    )

    assert response.status_code == 200, response.text
    user = response.json()["user"]
    assert user["id"] == str(woman.id)
    assert user["role"] == "woman"
    assert user["name"] == "Amara Existing"
    # Her password still works: Google sign-in is one more way in, not a replacement.
    login = await client.post(
        "/api/auth/login", json={"email": woman.email, "password": woman.password}
    )
    assert login.status_code == 200


async def test_signing_in_twice_makes_one_account(
    client: httpx.AsyncClient, sql: Sql, keys: dict[str, SigningKey]
) -> None:
    email = new_email()
    first = await sign_in(client, id_token(keys["current"], email=email))
    second = await sign_in(client, id_token(keys["current"], email=email))
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["user"]["id"] == second.json()["user"]["id"]
    assert len(await sql.scalars(select(User).where(User.email == email))) == 1


async def test_banned_and_deleted_accounts_are_refused(
    client: httpx.AsyncClient, make_user: Callable[..., Any], keys: dict[str, SigningKey]
) -> None:
    banned = await make_user(is_banned=True)
    deleted = await make_user(deleted_at=utcnow())
    for user in (banned, deleted):
        response = await sign_in(client, id_token(keys["current"], email=user.email))
        refused(response, "account_inactive")


async def test_an_account_without_a_password_fails_password_login_like_a_wrong_password(
    client: httpx.AsyncClient, mailbox: Mailbox, keys: dict[str, SigningKey]
) -> None:
    email = new_email()
    assert (await sign_in(client, id_token(keys["current"], email=email))).status_code == 201

    unknown = await client.post(
        "/api/auth/login", json={"email": new_email(), "password": STRONG_PASSWORD}
    )
    for password in (STRONG_PASSWORD, "x"):
        login = await client.post("/api/auth/login", json={"email": email, "password": password})
        refused(login, "invalid_credentials")
        assert login.json() == unknown.json()

    # Forgot-password lets her choose one.
    await ok(client.post("/api/auth/forgot-password", json={"email": email}))
    await mailbox.wait()
    token = link_token(mailbox.to(email)[-1], "reset-password")
    reset = await client.post(
        "/api/auth/reset-password", json={"token": token, "password": STRONG_PASSWORD}
    )
    assert reset.status_code == 200, reset.text
    login = await client.post("/api/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    assert login.status_code == 200


async def test_an_unverified_account_of_the_email_loses_its_password_and_sessions(
    client: httpx.AsyncClient, keys: dict[str, SigningKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone registered her address before she came with Google: they are locked out."""
    email = new_email()
    with monkeypatch.context() as patch:  # their access token is from a minute ago
        patch.setattr(security, "utcnow", lambda: utcnow() - timedelta(minutes=1))
        registered = await client.post(
            "/api/auth/register",
            json={"email": email, "password": STRONG_PASSWORD, "name": "Squatter"},
        )
    client.cookies.clear()
    squatter = registered.json()

    response = await sign_in(client, id_token(keys["current"], email=email))

    assert response.status_code == 200, response.text
    assert response.json()["user"]["emailVerified"] is True
    login = await client.post("/api/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    refused(login, "invalid_credentials")
    refresh = await client.post(
        "/api/auth/refresh", json={"refreshToken": squatter["refreshToken"]}
    )
    assert refresh.status_code == 401
    me = await client.get("/api/auth/me", headers=bearer(squatter["accessToken"]))
    assert me.status_code == 401
    new_session = await client.get("/api/auth/me", headers=bearer(response.json()["accessToken"]))
    assert new_session.status_code == 200


# --- tokens refused -------------------------------------------------------------------------


async def test_a_token_signed_by_another_key_is_refused(
    client: httpx.AsyncClient, sql: Sql, keys: dict[str, SigningKey]
) -> None:
    email = new_email()
    forged = id_token(keys["forger"], email=email, kid="current")  # a published key id
    refused(await sign_in(client, forged))
    assert await sql.scalar(select(User.id).where(User.email == email)) is None


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"aud": "someone-else.apps.googleusercontent.com"}, "invalid_google_token"),
        ({"aud": None}, "invalid_google_token"),
        ({"iss": "https://accounts.evil.example"}, "invalid_google_token"),
        ({"iss": None}, "invalid_google_token"),
        ({"exp": utcnow() - timedelta(minutes=5)}, "google_token_expired"),
        ({"exp": None}, "invalid_google_token"),
        ({"iat": utcnow() + timedelta(hours=1)}, "invalid_google_token"),
        ({"email_verified": False}, "google_email_not_verified"),
        ({"email_verified": None}, "google_email_not_verified"),
        ({"email_verified": "false"}, "google_email_not_verified"),
        ({"email": "not-an-address"}, "invalid_google_token"),
    ],
)
async def test_a_token_failing_a_check_is_refused(
    client: httpx.AsyncClient,
    sql: Sql,
    keys: dict[str, SigningKey],
    claims: dict[str, Any],
    code: str,
) -> None:
    email = new_email()
    token = id_token(keys["current"], **{"email": email, **claims})
    refused(await sign_in(client, token), code)
    assert await sql.scalar(select(User.id).where(User.email == email)) is None


async def test_both_google_issuer_spellings_are_accepted(
    client: httpx.AsyncClient, keys: dict[str, SigningKey]
) -> None:
    for issuer in ("accounts.google.com", "https://accounts.google.com"):
        assert (await sign_in(client, id_token(keys["current"], iss=issuer))).status_code == 201


async def test_other_algorithms_and_malformed_tokens_are_refused(
    client: httpx.AsyncClient, keys: dict[str, SigningKey]
) -> None:
    public_pem = keys["current"].jwk()["n"]
    claims = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": "1",
        "email": new_email(),
        "email_verified": True,
        "iat": utcnow(),
        "exp": utcnow() + timedelta(hours=1),
    }
    hs256 = jwt.encode(claims, public_pem, algorithm="HS256", headers={"kid": "current"})
    unsigned = jwt.encode(claims, "", algorithm="none", headers={"kid": "current"})
    no_kid = id_token(keys["current"], headers={"kid": ""})
    for token in (hs256, unsigned, "not-a-jwt", "a.b.c", no_kid):
        refused(await sign_in(client, token))
    too_long = await sign_in(client, "x" * 9000)
    assert too_long.status_code == 422


# --- keys -----------------------------------------------------------------------------------


async def test_keys_are_cached_for_the_ttl(
    client: httpx.AsyncClient,
    app: FastAPI,
    google: FakeGoogle,
    keys: dict[str, SigningKey],
    clock: Clock,
) -> None:
    for _ in range(3):
        assert (await sign_in(client, id_token(keys["current"]))).status_code == 201
    assert google.fetches == 1

    clock.now += app.state.settings.google_jwks_cache_ttl + 1
    assert (await sign_in(client, id_token(keys["current"]))).status_code == 201
    assert google.fetches == 2


async def test_an_unknown_key_id_triggers_one_refetch(
    client: httpx.AsyncClient, google: FakeGoogle, keys: dict[str, SigningKey], clock: Clock
) -> None:
    assert (await sign_in(client, id_token(keys["current"]))).status_code == 201
    assert google.fetches == 1

    google.published = [keys["current"], keys["next"]]  # Google rotates its keys
    clock.now += REFETCH_COOLDOWN_SECONDS + 1
    assert (await sign_in(client, id_token(keys["next"]))).status_code == 201
    assert google.fetches == 2
    assert (await sign_in(client, id_token(keys["next"]))).status_code == 201
    assert google.fetches == 2  # known now

    # Forged key ids right after a fetch do not send us to Google each time.
    for _ in range(3):
        refused(await sign_in(client, id_token(keys["forger"], kid=f"ghost-{uuid.uuid4()}")))
    assert google.fetches == 2
    clock.now += REFETCH_COOLDOWN_SECONDS + 1
    refused(await sign_in(client, id_token(keys["forger"], kid="ghost")))
    assert google.fetches == 3


async def test_google_down_is_503_and_cached_keys_outlive_a_failed_refresh(
    client: httpx.AsyncClient,
    app: FastAPI,
    google: FakeGoogle,
    keys: dict[str, SigningKey],
    clock: Clock,
) -> None:
    google.failing = True
    response = await sign_in(client, id_token(keys["current"]))
    assert response.status_code == 503
    assert response.json()["code"] == "google_unavailable"

    google.failing = False
    clock.now += REFETCH_COOLDOWN_SECONDS + 1
    assert (await sign_in(client, id_token(keys["current"]))).status_code == 201

    google.failing = True
    clock.now += app.state.settings.google_jwks_cache_ttl + 1
    assert (await sign_in(client, id_token(keys["current"]))).status_code == 201


async def test_without_a_client_id_google_sign_in_is_refused(
    client: httpx.AsyncClient, app: FastAPI, google: FakeGoogle, keys: dict[str, SigningKey]
) -> None:
    unconfigured = app.state.settings.model_copy(update={"google_client_id": ""})
    app.state.google_id_tokens = GoogleIdTokens(unconfigured)

    response = await sign_in(client, id_token(keys["current"]))

    assert response.status_code == 503
    assert response.json()["code"] == "google_not_configured"
    assert google.fetches == 0

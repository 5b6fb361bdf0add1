"""The default configuration fails closed: no published secret signs tokens a reachable server
accepts, admins are never listed to others, and demo data and fake payments stay in
development (issue 8: 6)."""

from __future__ import annotations

import argparse
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import peal.config
from peal import cli
from peal.config import DEV_JWT_SECRET, DEV_REFRESH_SECRET, Settings
from peal.core.security import AccessTokens
from peal.main import create_app
from peal.payments.providers import PaymentsUnavailable, provider_for
from peal.seed import run_seed
from tests.conftest import AuthedUser

STRONG = "s" * 40


@pytest.fixture
def secrets_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "var" / "dev-secrets.json"
    monkeypatch.setattr(peal.config, "DEV_SECRETS_FILE", path)
    return path


def test_development_generates_its_own_secrets_once(secrets_file: Path) -> None:
    first = Settings(environment="development")
    again = Settings(environment="development")

    assert first.jwt_secret not in (DEV_JWT_SECRET, DEV_REFRESH_SECRET)
    assert first.jwt_refresh_secret not in (DEV_JWT_SECRET, DEV_REFRESH_SECRET)
    assert len(first.jwt_secret) >= 32 and first.jwt_secret != first.jwt_refresh_secret
    assert (again.jwt_secret, again.jwt_refresh_secret) == (
        first.jwt_secret,
        first.jwt_refresh_secret,
    )
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    # A configured secret is used as given.
    assert Settings(environment="development", jwt_secret=STRONG).jwt_secret == STRONG


@pytest.mark.committing
async def test_a_token_signed_with_the_published_secret_is_refused(
    secrets_file: Path, settings: Settings, make_user: Callable[..., Any]
) -> None:
    admin = await make_user("admin")
    development = Settings(
        environment="development",
        database_url=settings.database_url,
        in_process_scheduler=False,
    )
    forged = AccessTokens(settings).issue(admin.id, "admin")  # signed with DEV_JWT_SECRET
    assert settings.jwt_secret == DEV_JWT_SECRET
    app = create_app(development)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            response = await http.get("/api/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("host", "served"),
    [("0.0.0.0", False), ("192.0.2.10", False), ("::", False), ("127.0.0.1", True)],  # noqa: S104
)
@pytest.mark.committing
def test_serve_refuses_a_reachable_host_with_a_published_secret(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, host: str, served: bool
) -> None:
    runs: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: runs.append(kwargs))
    monkeypatch.setattr(cli, "get_settings", lambda: settings)  # the published secret

    code = cli.serve(argparse.Namespace(host=host, port=None, workers=1))

    assert (code, len(runs)) == ((0, 1) if served else (2, 0))
    strong = settings.model_copy(update={"jwt_secret": STRONG, "jwt_refresh_secret": STRONG})
    monkeypatch.setattr(cli, "get_settings", lambda: strong)
    assert cli.serve(argparse.Namespace(host=host, port=None, workers=1)) == 0


async def test_admins_are_never_listed_to_others(
    client: httpx.AsyncClient, woman: AuthedUser, admin: AuthedUser, make_user: Callable[..., Any]
) -> None:
    zed = await make_user("admin", name="Zedekiah Overseer")
    followed = await client.post(f"/api/users/{woman.id}/follow", headers=zed.headers)
    assert followed.status_code in (200, 201), followed.text

    for viewer in ({}, woman.headers):
        by_role = await client.get("/api/users", params={"role": "admin"}, headers=viewer)
        assert by_role.status_code == 200
        assert by_role.json()["data"] == []
        everyone = await client.get("/api/users", params={"limit": 100}, headers=viewer)
        assert all(user["role"] != "admin" for user in everyone.json()["data"])
        followers = await client.get(f"/api/users/{woman.id}/followers", headers=viewer)
        assert followers.json()["data"] == []
        found = await client.get("/api/search", params={"q": "zedekiah"}, headers=viewer)
        assert found.json()["users"] == []
    # Admins still see each other.
    listed = await client.get("/api/users", params={"role": "admin"}, headers=admin.headers)
    assert str(zed.id) in [user["id"] for user in listed.json()["data"]]


async def test_demo_seed_and_development_payments_stay_in_development(
    settings: Settings,
) -> None:
    staging = settings.model_copy(
        update={"environment": "staging", "jwt_secret": STRONG, "jwt_refresh_secret": STRONG}
    )
    with pytest.raises(SystemExit):
        await run_seed(staging)
    with pytest.raises(PaymentsUnavailable):
        provider_for(staging, "development")
    assert provider_for(settings, "development").name == "development"

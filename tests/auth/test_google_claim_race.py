"""Issue 8 item 2(b) on PostgreSQL: whoever pre-registered her email and refreshes in a loop
never keeps a session once she claims the account with Google."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.auth.conftest import STRONG_PASSWORD, new_email
from tests.auth.test_google import (  # noqa: F401 - fixtures: Google sign-in against a fake
    SigningKey,
    fake_google_server,
    google,
    id_token,
    keys,
    settings,
    sign_in,
)
from tests.auth.test_session_epoch import (
    RACE_TRIALS,
    _assert_thief_has_nothing,
    _refresh_loop,
    me_status,
    postgres_only,
)


@pytest.mark.committing  # its requests race each other
@postgres_only
async def test_a_refresh_loop_never_outlives_a_google_claim(
    client: httpx.AsyncClient,
    keys: dict[str, SigningKey],  # noqa: F811
) -> None:
    for _ in range(RACE_TRIALS):
        email = new_email()
        registered = await client.post(
            "/api/auth/register",
            json={"email": email, "password": STRONG_PASSWORD, "name": "Squatter"},
        )
        client.cookies.clear()
        assert registered.status_code == 201, registered.text
        squatter: dict[str, Any] = registered.json()
        minted: list[dict[str, Any]] = []

        async def owner_claims(email: str = email) -> httpx.Response:
            await asyncio.sleep(0)
            return await sign_in(client, id_token(keys["current"], email=email))

        _, claimed = await asyncio.gather(
            _refresh_loop(client, squatter["refreshToken"], minted), owner_claims()
        )

        assert claimed.status_code == 200, claimed.text
        await _assert_thief_has_nothing(client, [squatter, *minted])
        assert await me_status(client, claimed.json()["accessToken"]) == 200

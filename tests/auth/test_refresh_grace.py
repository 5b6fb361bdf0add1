"""Issue 8 item 12: two refreshes of one token (two tabs, a retry) keep the sign-in within a
short grace window; reuse after it still revokes the whole family."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from peal.auth.models import RefreshToken
from peal.core.security import hash_token
from peal.main import create_app
from tests.auth.conftest import Sql, bearer
from tests.auth.test_refresh_logout import age_rotations
from tests.auth.test_session_epoch import login, me_status, postgres_only, refresh
from tests.helpers import ok


async def _family_of(sql: Sql, token: str) -> Any:
    return await sql.scalar(
        select(RefreshToken.family_id).where(RefreshToken.token_hash == hash_token(token))
    )


async def test_a_retry_within_the_window_gets_a_pair_of_the_same_sign_in(
    client: httpx.AsyncClient, make_user: Callable[..., Any], sql: Sql
) -> None:
    user = await make_user()
    first = await login(client, user)
    tab_one = await refresh(client, first["refreshToken"])

    tab_two = await refresh(client, first["refreshToken"])  # the same token again, at once

    assert tab_one.status_code == tab_two.status_code == 200
    family = await _family_of(sql, first["refreshToken"])
    for pair in (tab_one.json(), tab_two.json()):
        assert await _family_of(sql, pair["refreshToken"]) == family
        assert await me_status(client, pair["accessToken"]) == 200
        assert (await refresh(client, pair["refreshToken"])).status_code == 200


async def test_reuse_after_the_window_still_revokes_the_family(
    client: httpx.AsyncClient, make_user: Callable[..., Any], sql: Sql
) -> None:
    user = await make_user()
    first = await login(client, user)
    second = (await refresh(client, first["refreshToken"])).json()
    await age_rotations(sql, user.id, seconds=21)  # the window is 20 s by default

    replay = await refresh(client, first["refreshToken"])

    assert replay.status_code == 401
    assert replay.json()["code"] == "refresh_reused"
    assert (await refresh(client, second["refreshToken"])).status_code == 401
    assert await me_status(client, second["accessToken"]) == 401


async def test_a_revoked_token_gets_no_grace(
    client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> None:
    user = await make_user()
    first = await login(client, user)
    await ok(client.post("/api/auth/logout", json={"refreshToken": first["refreshToken"]}))

    assert (await refresh(client, first["refreshToken"])).status_code == 401


@pytest.mark.committing
async def test_grace_zero_turns_the_window_off(
    make_settings: Callable[..., Any], make_user: Callable[..., Any]
) -> None:
    app: FastAPI = create_app(make_settings(refresh_reuse_grace_seconds=0))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            user = await make_user()
            first = await login(http, user)
            assert (await refresh(http, first["refreshToken"])).status_code == 200
            again = await refresh(http, first["refreshToken"])
            assert again.status_code == 401
            assert again.json()["code"] == "refresh_reused"


@pytest.mark.committing  # its requests race each other
@postgres_only
@pytest.mark.parametrize("tabs", [2, 5])
async def test_concurrent_refreshes_of_one_token_all_keep_the_sign_in(
    client: httpx.AsyncClient, make_user: Callable[..., Any], sql: Sql, tabs: int
) -> None:
    for _ in range(10):
        user = await make_user()
        token = (await login(client, user))["refreshToken"]
        answers = await asyncio.gather(
            *(client.post("/api/auth/refresh", json={"refreshToken": token}) for _ in range(tabs))
        )
        client.cookies.clear()
        assert [a.status_code for a in answers] == [200] * tabs
        family = await _family_of(sql, token)
        for answer in answers:
            pair = answer.json()
            assert await _family_of(sql, pair["refreshToken"]) == family
            me = await client.get("/api/auth/me", headers=bearer(pair["accessToken"]))
            assert me.status_code == 200

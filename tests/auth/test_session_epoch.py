"""Item 2 and 13 of issue 8: every old session dies on a reset, a Google claim, a logout or a
reuse alarm, at once and whatever the race; the per-user session epoch and the family check."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from peal.auth import service
from peal.auth.models import OneTimeToken, RefreshToken
from peal.core import security
from peal.core.security import hash_token, new_opaque_token
from peal.db import utcnow
from peal.users.models import User
from tests.auth.conftest import Sql, bearer
from tests.conftest import TARGET

NEW_PASSWORD = "Moonlit-Orchard-77"
RACE_TRIALS = 30
postgres_only = pytest.mark.skipif(
    TARGET != "postgres", reason="row locks and real concurrency: PostgreSQL"
)


async def login(client: httpx.AsyncClient, user: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/auth/login", json={"email": user.email, "password": user.password}
    )
    assert response.status_code == 200, response.text
    client.cookies.clear()
    body: dict[str, Any] = response.json()
    return body


async def reset_token_for(sql: Sql, user_id: Any) -> str:
    """A valid reset link token, as the email would carry it."""
    token = new_opaque_token()
    await sql.add(
        OneTimeToken(
            user_id=user_id,
            purpose="reset_password",
            token_hash=hash_token(token),
            expires_at=utcnow() + timedelta(hours=1),
        )
    )
    return token


async def me_status(client: httpx.AsyncClient, access_token: str) -> int:
    response = await client.get("/api/auth/me", headers=bearer(access_token))
    return response.status_code


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    response = await client.post("/api/auth/refresh", json={"refreshToken": token})
    client.cookies.clear()
    return response


# --- the epoch, on every request and on refresh ---------------------------------------------


async def test_an_access_token_issued_in_the_same_second_as_a_reset_is_refused(
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    sql: Sql,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whole-second comparisons let this token live 15 minutes; the epoch is exact."""
    user = await make_user()
    second = datetime.now(UTC).replace(microsecond=0)
    monkeypatch.setattr(security, "utcnow", lambda: second + timedelta(microseconds=100))
    monkeypatch.setattr(service, "utcnow", lambda: second + timedelta(microseconds=900_000))
    stolen = await login(client, user)
    assert await me_status(client, stolen["accessToken"]) == 200
    token = await reset_token_for(sql, user.id)

    reset = await client.post(
        "/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}
    )

    assert reset.status_code == 200
    changed = await sql.scalar(select(User.password_changed_at).where(User.id == user.id))
    assert changed.replace(microsecond=0) == second  # the very same second
    response = await client.get("/api/auth/me", headers=bearer(stolen["accessToken"]))
    assert response.status_code == 401
    assert response.json()["code"] == "session_ended"
    assert (await refresh(client, stolen["refreshToken"])).status_code == 401


async def test_end_all_sessions_ends_every_token_and_later_sign_ins_work(
    app: FastAPI, client: httpx.AsyncClient, make_user: Callable[..., Any], sql: Sql
) -> None:
    user = await make_user()
    other = await make_user()
    phone, laptop = await login(client, user), await login(client, user)
    bystander = await login(client, other)

    async with app.state.db.sessionmaker() as session:
        await service.end_all_sessions(session, user.id)
        await session.commit()

    for pair in (phone, laptop):
        assert await me_status(client, pair["accessToken"]) == 401
        assert (await refresh(client, pair["refreshToken"])).status_code == 401
    assert await sql.scalar(select(User.session_epoch).where(User.id == user.id)) == 1
    # Other users and later sign-ins are untouched.
    assert await me_status(client, bystander["accessToken"]) == 200
    again = await login(client, user)
    assert await me_status(client, again["accessToken"]) == 200
    assert (await refresh(client, again["refreshToken"])).status_code == 200


async def test_a_refresh_token_of_an_older_epoch_is_refused_even_if_not_revoked(
    app: FastAPI, client: httpx.AsyncClient, make_user: Callable[..., Any], sql: Sql
) -> None:
    """Belt and braces: a token row the revocation missed (a race) still dies on the epoch."""
    user = await make_user()
    pair = await login(client, user)
    async with app.state.db.sessionmaker() as session:
        await service.end_all_sessions(session, user.id)
        # Undo the revocation only: the epoch alone must refuse it.
        token = await session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == hash_token(pair["refreshToken"]))
        )
        assert token is not None
        token.revoked_at = None
        await session.commit()

    response = await refresh(client, pair["refreshToken"])

    assert response.status_code == 401
    assert response.json()["code"] == "session_ended"


async def test_a_forged_epoch_claim_is_refused(
    app: FastAPI, make_user: Callable[..., Any], client: httpx.AsyncClient
) -> None:
    user = await make_user()
    future = app.state.tokens.issue(user.id, user.role, session_epoch=7)
    assert await me_status(client, future) == 401


# --- item 13: access tokens die with their sign-in ------------------------------------------


async def test_an_access_token_stops_working_at_logout(
    client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> None:
    user = await make_user()
    phone, laptop = await login(client, user), await login(client, user)

    out = await client.post("/api/auth/logout", json={"refreshToken": phone["refreshToken"]})

    assert out.status_code == 204
    response = await client.get("/api/auth/me", headers=bearer(phone["accessToken"]))
    assert response.status_code == 401
    assert response.json()["code"] == "session_ended"
    assert await me_status(client, laptop["accessToken"]) == 200  # only that sign-in ended


async def test_an_access_token_stops_working_after_reuse_detection(
    client: httpx.AsyncClient, make_user: Callable[..., Any], sql: Sql
) -> None:
    user = await make_user()
    first = await login(client, user)
    second = (await refresh(client, first["refreshToken"])).json()
    await sql.run(
        RefreshToken.__table__.update()
        .where(RefreshToken.user_id == user.id, RefreshToken.replaced_at.is_not(None))
        .values(replaced_at=utcnow() - timedelta(minutes=5))
    )
    assert (await refresh(client, first["refreshToken"])).status_code == 401  # the alarm

    for access in (first["accessToken"], second["accessToken"]):
        assert await me_status(client, access) == 401


async def test_checking_the_sign_in_costs_no_extra_query(
    client: httpx.AsyncClient, make_user: Callable[..., Any], count_queries: Any
) -> None:
    """The user, the family and the epoch come in the one query that loaded the user."""
    user = await make_user()
    pair = await login(client, user)
    count_queries.reset()
    assert await me_status(client, user.token) == 200  # a token without a sign-in id
    without_session = count_queries.count
    count_queries.reset()
    assert await me_status(client, pair["accessToken"]) == 200
    assert count_queries.count == without_session


# --- races on PostgreSQL: revocation wins every time ----------------------------------------


async def _refresh_loop(
    client: httpx.AsyncClient, token: str, minted: list[dict[str, Any]]
) -> None:
    """A thief rotating a stolen token as fast as the server lets her, until refused."""
    for _ in range(500):
        response = await refresh(client, token)
        if response.status_code != 200:
            return
        pair: dict[str, Any] = response.json()
        minted.append(pair)
        token = pair["refreshToken"]
    raise AssertionError("the thief's refresh loop was never refused")


async def _assert_thief_has_nothing(
    client: httpx.AsyncClient, minted: list[dict[str, Any]]
) -> None:
    assert minted, "the loop never got going"
    for pair in minted:
        assert await me_status(client, pair["accessToken"]) == 401
    assert (await refresh(client, minted[-1]["refreshToken"])).status_code == 401


@pytest.mark.committing  # its requests race each other
@postgres_only
async def test_a_refresh_loop_never_outlives_a_password_reset(
    client: httpx.AsyncClient, make_user: Callable[..., Any], sql: Sql
) -> None:
    rng = random.Random(8)
    for _ in range(RACE_TRIALS):
        user = await make_user()
        stolen = await login(client, user)
        token = await reset_token_for(sql, user.id)
        minted: list[dict[str, Any]] = []

        async def owner_resets(token: str = token) -> httpx.Response:
            for _ in range(rng.randint(0, 3)):
                await asyncio.sleep(0)
            return await client.post(
                "/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}
            )

        _, reset = await asyncio.gather(
            _refresh_loop(client, stolen["refreshToken"], minted), owner_resets()
        )
        assert reset.status_code == 200, reset.text
        await _assert_thief_has_nothing(client, [stolen, *minted])
        # The owner signs in with the new password and stays signed in.
        owner = await client.post(
            "/api/auth/login", json={"email": user.email, "password": NEW_PASSWORD}
        )
        client.cookies.clear()
        assert await me_status(client, owner.json()["accessToken"]) == 200

"""POST /api/auth/login: one answer for every failure, inactive accounts, rehashing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher, Type
from fastapi import FastAPI
from sqlalchemy import select, update

from peal.db import utcnow
from peal.users.models import User
from tests.auth.conftest import STRONG_PASSWORD, Register, Sql, bearer, new_email

INVALID = {"error": "Invalid email or password", "code": "invalid_credentials"}


async def test_login_answers_the_session_shape(
    client: httpx.AsyncClient, register: Register, sql: Sql
) -> None:
    email = new_email()
    await register(email=email)

    response = await client.post(
        "/api/auth/login", json={"email": email, "password": STRONG_PASSWORD}
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"user", "accessToken", "refreshToken", "expiresIn"}
    assert body["expiresIn"] == 900
    assert body["user"]["email"] == email
    assert "passwordHash" not in body["user"]
    me = await client.get("/api/auth/me", headers=bearer(body["accessToken"]))
    assert me.json()["user"]["email"] == email
    last_login = await sql.scalar(select(User.last_login_at).where(User.email == email))
    assert last_login is not None


async def test_login_email_is_case_and_space_insensitive(
    client: httpx.AsyncClient, register: Register
) -> None:
    await register(email="lucia@example.com")

    response = await client.post(
        "/api/auth/login", json={"email": "  LUCIA@Example.com ", "password": STRONG_PASSWORD}
    )

    assert response.status_code == 200


async def test_unknown_email_and_wrong_password_get_the_same_401(
    client: httpx.AsyncClient, register: Register
) -> None:
    email = new_email()
    await register(email=email)

    wrong_password = await client.post(
        "/api/auth/login", json={"email": email, "password": "Not-The-Password-1"}
    )
    unknown_email = await client.post(
        "/api/auth/login", json={"email": new_email(), "password": "Not-The-Password-1"}
    )
    malformed_email = await client.post(
        "/api/auth/login", json={"email": "nobody", "password": "Not-The-Password-1"}
    )
    wrong_case = await client.post(
        "/api/auth/login", json={"email": email, "password": STRONG_PASSWORD.upper()}
    )

    for response in (wrong_password, unknown_email, malformed_email, wrong_case):
        assert response.status_code == 401
        assert response.json() == INVALID
        assert "set-cookie" not in response.headers


async def test_banned_and_deleted_users_cannot_log_in(
    client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> None:
    banned = await make_user(is_banned=True)
    deleted = await make_user(deleted_at=utcnow())

    for user in (banned, deleted):
        response = await client.post(
            "/api/auth/login", json={"email": user.email, "password": user.password}
        )
        assert response.status_code == 401
        assert "accessToken" not in response.json()


async def test_account_without_password_cannot_log_in(
    client: httpx.AsyncClient, make_user: Callable[..., Any], sql: Sql
) -> None:
    social = await make_user()
    await sql.run(update(User).where(User.id == social.id).values(password_hash=None))

    response = await client.post(
        "/api/auth/login", json={"email": social.email, "password": social.password}
    )

    assert response.status_code == 401
    assert response.json() == INVALID


async def test_login_upgrades_a_weaker_hash(
    app: FastAPI, client: httpx.AsyncClient, make_user: Callable[..., Any], sql: Sql
) -> None:
    user = await make_user()
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID)
    old_hash = weak.hash(user.password)
    await sql.run(update(User).where(User.id == user.id).values(password_hash=old_hash))

    response = await client.post(
        "/api/auth/login", json={"email": user.email, "password": user.password}
    )

    assert response.status_code == 200
    new_hash = await sql.scalar(select(User.password_hash).where(User.id == user.id))
    assert new_hash != old_hash
    assert not app.state.passwords.needs_rehash(new_hash)
    assert await app.state.passwords.verify(new_hash, user.password)


async def test_login_needs_both_fields(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/login", json={"email": new_email()})

    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "password"


async def test_password_hashing_runs_below_the_event_loops_priority(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A login storm must not take CPU from the event loop (and every other request)."""
    import os
    import threading

    from peal.core.security import HASH_THREAD_NICENESS, MAX_NICENESS

    loop_niceness = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen: list[int] = []

    class PriorityRecorder:
        def hash(self, password: str) -> str:
            seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            return "recorded"

    passwords = app.state.passwords
    monkeypatch.setattr(passwords, "_hasher", PriorityRecorder())
    await passwords.hash("Correct-Horse-Battery-9")
    assert seen == [min(MAX_NICENESS, loop_niceness + HASH_THREAD_NICENESS)]
    assert seen[0] > loop_niceness or loop_niceness == MAX_NICENESS


async def test_other_threaded_work_keeps_the_loops_priority_after_a_hash(app: Any) -> None:
    """The hashes' low priority stays on the hasher's own threads: /health's storage probe,
    file reads and sync dependencies run in the shared thread pools, and a niced thread handed
    back there would make them wait behind every busy process during a login storm."""
    import asyncio
    import os
    import threading

    import anyio

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    loop_niceness = niceness()
    passwords = app.state.passwords
    for _ in range(3):
        await passwords.hash("Correct-Horse-Battery-9")
        await passwords.verify(None, "Correct-Horse-Battery-9")
        assert await anyio.to_thread.run_sync(niceness) == loop_niceness
        assert await asyncio.to_thread(niceness) == loop_niceness


def test_hashes_leave_the_event_loop_a_core_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset, PASSWORD_HASH_CONCURRENCY is one fewer than the cores (at least one): with a
    hashing thread per core, a login storm took the loop's core and /health's p99 with it."""
    from pydantic import ValidationError

    from peal.config import Settings, default_hash_concurrency

    assert [default_hash_concurrency(n) for n in (None, 1, 2, 8)] == [1, 1, 1, 7]
    monkeypatch.delenv("PASSWORD_HASH_CONCURRENCY", raising=False)
    monkeypatch.delenv("PEAL_PASSWORD_HASH_CONCURRENCY", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 6)
    assert Settings(_env_file=None).password_hash_concurrency == 5
    monkeypatch.setenv("PASSWORD_HASH_CONCURRENCY", "3")
    assert Settings(_env_file=None).password_hash_concurrency == 3
    monkeypatch.setenv("PASSWORD_HASH_CONCURRENCY", "0")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)

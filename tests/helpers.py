"""Helpers shared by the tests (importable as `tests.helpers`)."""

from __future__ import annotations

from collections.abc import Awaitable, Iterator, Sequence
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi.dependencies.models import Dependant
from sqlalchemy.engine import make_url


async def ok(call: Awaitable[httpx.Response] | httpx.Response) -> httpx.Response:
    """`await ok(client.post(...))`: a setup call that must succeed. Fails the test, with the
    method, URL, status and body, on anything but a 2xx, so a test can't pass because its setup
    silently failed. Returns the response (`.json()` for its body)."""
    response = call if isinstance(call, httpx.Response) else await call
    if not response.is_success:
        request = response.request
        pytest.fail(
            f"setup call {request.method} {request.url.path} answered {response.status_code}: "
            f"{response.text[:2000]}",
            pytrace=False,
        )
    return response


async def assert_owner_only_through_one_statement(
    client: httpx.AsyncClient,
    statement: Any,
    urls: Sequence[tuple[Any, Any, str]],
    admin: Any,
) -> None:
    """For a statement built once per viewer shape (`statement`: its `functools` cache) and
    bound per call: each `(owner, other, url)` is found by its owner and admins and is 404 to
    the other member and to anonymous, whoever asked first; one statement per shape (members,
    anonymous, admins)."""
    statement.cache_clear()
    for owner, other, url in urls:
        assert (await client.get(url, headers=owner.headers)).status_code == 200
        assert (await client.get(url, headers=other.headers)).status_code == 404
        assert (await client.get(url)).status_code == 404
        assert (await client.get(url, headers=admin.headers)).status_code == 200
    assert statement.cache_info().misses == 3


def sub_dependants(dependant: Dependant) -> Iterator[Dependant]:
    """Every dependency under `dependant` (a route's or a dependency's), depth first, each
    one as often as FastAPI's tree holds it."""
    for sub in dependant.dependencies:
        yield sub
        yield from sub_dependants(sub)


async def terminate_backends(database_url: str, pid: int | None = None) -> int:
    """Kill one PostgreSQL backend (`pid`), or every other backend of `database_url`'s database,
    as a restart or a failover would; answers how many were terminated."""
    plain = make_url(database_url).set(drivername="postgresql")
    killer = await asyncpg.connect(plain.render_as_string(hide_password=False))
    try:
        if pid is not None:
            return int(await killer.fetchval("SELECT count(pg_terminate_backend($1))", pid))
        return int(
            await killer.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await killer.close()

"""The work of one search is bounded: short words are not prefixes, matches are capped before
ranking, PostgreSQL cancels a slow statement, and search has its own rate limit (issue 8: 5)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from peal.config import Settings
from peal.main import create_app
from peal.search import service
from tests.conftest import TARGET, QueryCounter
from tests.search.test_search import ids, search

postgres_only = pytest.mark.skipif(
    TARGET != "postgres", reason="prefix matching and statement timeouts are PostgreSQL's"
)


@postgres_only
async def test_a_word_shorter_than_three_characters_is_not_a_prefix(
    client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> None:
    bukola = await make_user(name="Bukola Adeyemi")
    bu = await make_user(name="Bu Amara")

    assert ids((await search(client, "bu"))["users"]) == [str(bu.id)]
    assert sorted(ids((await search(client, "buk"))["users"])) == [str(bukola.id)]


async def test_matches_are_capped_before_ranking(
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    count_queries: QueryCounter,
) -> None:
    for _ in range(3):
        await make_user(name="Zainab Baker")
    monkeypatch.setattr(service, "CANDIDATE_CAP", 2)

    found = await search(client, "zainab", limit=10)

    assert len(found["users"]) == 2  # three match, two were ranked
    ranked = [s for s in count_queries.statements if "ORDER BY" in s and "LIMIT 2" in s]
    assert len(ranked) == 4  # the cap is written into each kind's query


@postgres_only
async def test_search_statements_run_under_a_timeout(
    client: httpx.AsyncClient, make_user: Callable[..., Any], count_queries: QueryCounter
) -> None:
    await make_user(name="Zainab Baker")

    await search(client, "zainab")

    statements = count_queries.statements
    timeout = statements.index("SET LOCAL statement_timeout = 2000")
    first_search = next(i for i, s in enumerate(statements) if "to_tsvector" in s)
    assert timeout < first_search  # set before any search statement, for the transaction


@pytest.mark.committing
async def test_search_has_its_own_rate_limit(settings: Settings) -> None:
    app: FastAPI = create_app(
        settings.model_copy(
            update={
                "rate_limit_enabled": True,
                "rate_limit_per_minute": 100,
                "search_rate_limit_per_minute": 3,
            }
        )
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            answers = [
                (await http.get("/api/search", params={"q": "bakery"})).status_code
                for _ in range(4)
            ]
            other_route = await http.get("/health")
    assert answers == [200, 200, 200, 429]
    assert other_route.status_code in (200, 503)

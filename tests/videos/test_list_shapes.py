"""The shapes of the list and feed queries chosen for speed answer what the plain ones did.

A search list reads its matching ids once and takes the page among them (by primary key)
when they fit under the count cap, and matches again page by page past it; the feed's tag
source merges the labels' newest-first walks under one limit. Each is checked here against
the rule it stands for, on both sides of its threshold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from peal.users.models import User, UserInterest
from peal.videos import ranking, service
from tests.uploads.helpers import insert_videos


async def _walk(client: httpx.AsyncClient, query: str) -> tuple[list[str], int, list[str]]:
    """Every id of a list by cursor (pages of 2), its total, and page 2 by number."""
    seen: list[str] = []
    body = (await client.get(f"/api/videos?limit=2&{query}")).json()
    total = body["pagination"]["total"]
    seen += [v["id"] for v in body["data"]]
    while body["pagination"]["nextCursor"]:
        cursor = body["pagination"]["nextCursor"]
        body = (await client.get(f"/api/videos?limit=2&{query}&cursor={cursor}")).json()
        seen += [v["id"] for v in body["data"]]
    page2 = (await client.get(f"/api/videos?limit=2&page=2&{query}")).json()
    return seen, total, [v["id"] for v in page2["data"]]


@pytest.mark.parametrize("cap", [3, 1000])
async def test_a_search_pages_alike_under_and_past_the_count_cap(
    client: httpx.AsyncClient,
    app: FastAPI,
    woman: Any,
    make_user: Any,
    monkeypatch: pytest.MonkeyPatch,
    cap: int,
) -> None:
    monkeypatch.setattr(service, "COUNT_CAP", cap)
    start = datetime.now(UTC) - timedelta(hours=3)
    bread = await insert_videos(app, woman.id, 5, title="Bread at dawn", tags=("baking",))
    await insert_videos(app, woman.id, 2, title="Code club", start=start)
    hidden = await make_user(is_public=False)
    await insert_videos(app, hidden.id, 1, title="Bread in private", tags=("baking",))
    await insert_videos(app, woman.id, 1, title="Bread in the oven", status="processing")
    expected = [str(video_id) for video_id in reversed(bread)]
    for query in ("search=BREAD", "search=bread&tag=baking", "search=at%20dawn"):
        seen, total, page2 = await _walk(client, query)
        assert seen == expected, query
        assert total == min(5, cap), query
        assert page2 == expected[2:4], query
    assert (await _walk(client, "search=rye"))[:2] == ([], 0)


async def test_the_feed_tag_source_is_the_newest_rows_of_all_labels(
    app: FastAPI, woman: Any, make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ranking, "SOURCE_LIMIT", 4)
    author = await make_user()
    start = datetime.now(UTC) - timedelta(days=1)
    # One label far newer than the others, one video under two labels, one label with none.
    bread = await insert_videos(app, author.id, 5, tags=("bread",), start=start)
    both = await insert_videos(
        app, author.id, 1, tags=("bread", "cake"), start=start + timedelta(minutes=1)
    )
    cake = await insert_videos(app, author.id, 2, tags=("cake",), start=start - timedelta(days=1))
    async with app.state.db.sessionmaker() as session:
        for label in ("bread", "cake", "soup"):
            session.add(UserInterest(user_id=woman.id, interest=label))
        await session.commit()
    rows = [(start + timedelta(seconds=i), video_id) for i, video_id in enumerate(bread)]
    rows += [(start + timedelta(minutes=1), both[0])] * 2
    rows += [(start - timedelta(days=1) + timedelta(seconds=i), v) for i, v in enumerate(cake)]
    newest = {video_id for _, video_id in sorted(rows, reverse=True)[:4]}
    async with app.state.db.sessionmaker() as session:
        viewer = await session.get(User, woman.id)
        assert viewer is not None
        found = await ranking._candidates(session, viewer, datetime.now(UTC))
    assert {c.id for c in found if "tags" in c.sources} == newest
    assert both[0] in newest and not newest & set(cake)


async def test_one_list_statement_serves_every_viewer_and_filter_with_its_own_values(
    client: httpx.AsyncClient, app: FastAPI, make_user: Any
) -> None:
    """A list's statements are built once per shape and bound per call: each viewer sees her
    own hidden video only, each author filter and category its own videos, whoever came first.
    """
    from sqlalchemy import update

    from peal.core.moderation import ModerationStatus
    from peal.videos.models import Video

    ada, bea = await make_user(), await make_user()
    [hidden_ada] = await insert_videos(app, ada.id, 1)
    [hidden_bea] = await insert_videos(app, bea.id, 1)
    [art] = await insert_videos(app, ada.id, 1, category="art")
    [law] = await insert_videos(app, bea.id, 1, category="law")
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(Video)
            .where(Video.id.in_([hidden_ada, hidden_bea]))
            .values(moderation_status=ModerationStatus.HIDDEN)
        )
        await session.commit()

    async def ids(query: str, user: Any | None = None) -> set[str]:
        headers = user.headers if user else {}
        body = (await client.get(f"/api/videos?limit=50&{query}", headers=headers)).json()
        return {video["id"] for video in body["data"]}

    service._list_statements.cache_clear()
    assert await ids("", ada) == {str(hidden_ada), str(art), str(law)}
    assert await ids("", bea) == {str(hidden_bea), str(art), str(law)}
    assert await ids(f"authorId={ada.id}") == {str(art)}
    assert await ids(f"authorId={bea.id}") == {str(law)}
    assert await ids("category=art") == {str(art)}
    assert await ids("category=law") == {str(law)}
    # One statement per shape: members, anonymous by author, anonymous by category.
    assert service._list_statements.cache_info().misses == 3


@pytest.mark.parametrize("cap", [1, 1000])
async def test_a_phrase_search_through_its_whole_words_finds_what_the_substring_finds(
    client: httpx.AsyncClient,
    app: FastAPI,
    woman: Any,
    monkeypatch: pytest.MonkeyPatch,
    cap: int,
) -> None:
    """On PostgreSQL a phrase's inner words find its candidates through the word index (under
    `WORD_CANDIDATES`, else the trigram index alone): either way a search answers exactly the
    videos whose text holds the phrase, its first and last words possibly parts of longer
    ones."""
    from tests.conftest import TARGET

    monkeypatch.setattr(service, "WORD_CANDIDATES", cap)
    answers: list[list[Any] | None] = []
    real = service._word_candidates

    async def spy(session: Any, term: str) -> list[Any] | None:
        answers.append(await real(session, term))
        return answers[-1]

    monkeypatch.setattr(service, "_word_candidates", spy)
    made: dict[str, str] = {}
    for key, title in (
        ("story", "Episode 77777 of a story"),
        ("longer", "Reepisode 77777 office hours"),  # the phrase inside longer words
        ("part", "Episode 777770 of a story"),  # 77777 only as part of a word
        ("order", "Episode of 77777"),
        ("dots", "Why? Episode 77777 of... more"),
    ):
        [video_id] = await insert_videos(app, woman.id, 1, title=title)
        made[key] = str(video_id)
    for term, expected in (
        ("episode 77777 of", {"story", "longer", "dots"}),
        ("EPISODE  77777  OF", {"story", "longer", "dots"}),
        ("isode 77777 o", {"story", "longer", "dots"}),
        ("77777 of a story", {"story"}),
        ("episode 777770 of", {"part"}),
        ("episode of 77777", {"order"}),
        ("episode 7777 of", set()),
        ("why? episode 77777", {"dots"}),
    ):
        seen, total, _ = await _walk(client, f"search={term}")
        assert set(seen) == {made[key] for key in expected}, term
        assert total == len(expected), term
    through_words = [answer for answer in answers if answer is not None]
    if TARGET == "postgres" and cap > 1:
        assert through_words, "the word index was never used"
    if cap == 1:
        assert all(answer is None or len(answer) <= 1 for answer in answers)


async def test_a_list_and_its_cursor_pages_share_their_parts_and_count(
    client: httpx.AsyncClient, app: FastAPI, woman: Any
) -> None:
    """Starting after a cursor changes the page's statement only: the list's conditions and
    its count are built once for both, and the walk still sees every video once."""
    made = await insert_videos(app, woman.id, 5, title="Pottery")
    service._list_parts.cache_clear()
    service._list_statements.cache_clear()
    seen, total, _page2 = await _walk(client, "")
    assert sorted(seen) == sorted(str(video) for video in made) and total == 5
    assert service._list_parts.cache_info().misses == 1
    assert service._list_statements.cache_info().misses == 2  # first page, after a cursor

"""Trending scores (recent, decayed engagement) and the personal feed."""

from __future__ import annotations

import base64
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from peal.core.moderation import ModerationStatus
from peal.users.models import UserFollow, UserInterest, UserSkill
from peal.videos.models import Video, VideoLike, VideoShare, VideoView
from peal.videos.ranking import (
    ANONYMOUS_WEIGHT_CAP,
    Candidate,
    _personal_feed,
    spread_creators,
)
from peal.videos.service import _trending_statements
from peal.videos.tasks import recompute_trending_now
from tests.uploads.helpers import insert_videos


async def _add(app: FastAPI, *rows: Any) -> None:
    async with app.state.db.sessionmaker() as session:
        session.add_all(rows)
        await session.commit()


async def _ids(client: httpx.AsyncClient, path: str, user: Any | None = None) -> list[str]:
    response = await client.get(path, headers=user.headers if user else {})
    assert response.status_code == 200, response.text
    return [video["id"] for video in response.json()["data"]]


async def test_trending_scores_recent_engagement_with_decay(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, make_user: Any
) -> None:
    quiet, liked, viewed, old_likes = await insert_videos(app, woman.id, 4)
    fans = [await make_user() for _ in range(3)]
    now = datetime.now(UTC)
    await _add(
        app,
        *(VideoLike(video_id=liked, user_id=fan.id, created_at=now) for fan in fans),
        *(
            VideoView(video_id=viewed, viewer_key=f"a:{i}", hour=i, created_at=now)
            for i in range(4)
        ),
        # Three likes, but three days old: 2^-3 of their weight with a 24 h half-life.
        *(
            VideoLike(video_id=old_likes, user_id=fan.id, created_at=now - timedelta(days=3))
            for fan in fans
        ),
    )
    assert await recompute_trending_now() == 3
    async with app.state.db.sessionmaker() as session:
        scores = dict((await session.execute(select(Video.id, Video.trending_score))).all())
    assert scores[quiet] == 0
    assert abs(scores[liked] - 9.0) < 0.01  # 3 likes x 3
    assert abs(scores[viewed] - 4.0) < 0.01  # 4 counted views x 1
    assert abs(scores[old_likes] - 9.0 / 8) < 0.01
    ranked = await _ids(client, "/api/videos/trending")
    assert ranked == [str(liked), str(viewed), str(old_likes), str(quiet)]
    body = (await client.get("/api/videos/trending")).json()
    assert [v["isTrending"] for v in body["data"]] == [True, True, True, False]
    assert body["pagination"]["total"] == 4

    # Engagement that leaves the window stops counting at the next recompute.
    async with app.state.db.sessionmaker() as session:
        await session.execute(update(VideoLike).values(created_at=now - timedelta(days=30)))
        await session.commit()
    assert await recompute_trending_now() == 1
    body = (await client.get("/api/videos/trending")).json()
    assert body["data"][0]["id"] == str(viewed)
    assert [v["isTrending"] for v in body["data"]] == [True, False, False, False]


async def test_anonymous_views_and_shares_weigh_at_most_the_cap(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, make_user: Any
) -> None:
    stuffed, liked, watched = await insert_videos(app, woman.id, 3)
    fans = [await make_user() for _ in range(4)]
    now = datetime.now(UTC)
    await _add(
        app,
        # 60 anonymous views and 60 anonymous shares, as from 60 addresses: 360 points uncapped.
        *(
            VideoView(video_id=stuffed, viewer_key=f"a:{i}", hour=0, created_at=now)
            for i in range(60)
        ),
        *(
            VideoShare(video_id=stuffed, sharer_key=f"a:{i}", day=0, created_at=now)
            for i in range(60)
        ),
        *(VideoLike(video_id=liked, user_id=fan.id, created_at=now) for fan in fans),
        *(
            VideoView(video_id=watched, viewer_key=f"u:{uuid.uuid4()}", hour=0, created_at=now)
            for _ in range(11)
        ),
    )
    await recompute_trending_now()
    async with app.state.db.sessionmaker() as session:
        scores = dict((await session.execute(select(Video.id, Video.trending_score))).all())
    assert abs(scores[stuffed] - ANONYMOUS_WEIGHT_CAP) < 0.01
    assert abs(scores[liked] - 12.0) < 0.01  # 4 likes x 3: signed-in engagement is not capped
    assert abs(scores[watched] - 11.0) < 0.01  # signed-in views are not capped either
    assert await _ids(client, "/api/videos/trending") == [str(liked), str(watched), str(stuffed)]


async def test_only_visible_ready_videos_trend(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any
) -> None:
    [hidden] = await insert_videos(app, woman.id, 1, status="processing")
    await _add(app, VideoLike(video_id=hidden, user_id=sponsor.id))
    assert await recompute_trending_now() == 0
    assert await _ids(client, "/api/videos/trending") == []


async def test_one_trending_statement_serves_every_viewer_with_her_own_values(
    client: httpx.AsyncClient, app: FastAPI, make_user: Any
) -> None:
    """Trending's statements are built once per viewer shape and bound per call: a hidden
    video still shows to its author only, whoever asked first."""
    ada, bea = await make_user(), await make_user()
    [by_ada] = await insert_videos(app, ada.id, 1)
    [by_bea] = await insert_videos(app, bea.id, 1)
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(Video).values(trending_score=1.0, moderation_status=ModerationStatus.HIDDEN)
        )
        await session.commit()
    _trending_statements.cache_clear()
    assert await _ids(client, "/api/videos/trending", ada) == [str(by_ada)]
    assert await _ids(client, "/api/videos/trending", bea) == [str(by_bea)]
    assert await _ids(client, "/api/videos/trending") == []
    assert _trending_statements.cache_info().misses == 2  # the members' and the anonymous one
    page_two = await _ids(client, "/api/videos/trending?page=2&limit=1", ada)
    assert page_two == []  # offset and limit are bound too


async def test_anonymous_feed_is_trending_then_newest(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any
) -> None:
    start = datetime.now(UTC) - timedelta(hours=5)
    older, hot, newer = await insert_videos(app, woman.id, 3, start=start)
    [newest] = await insert_videos(app, sponsor.id, 1, start=start + timedelta(hours=1))
    await _add(app, VideoLike(video_id=hot, user_id=sponsor.id))
    await recompute_trending_now()
    feed = await _ids(client, "/api/videos/feed")
    assert feed == [str(hot), str(newest), str(newer), str(older)]


async def test_personal_feed_ranks_follows_and_interests_without_liked_or_own(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, make_user: Any
) -> None:
    followed, stranger, baker, banker = [await make_user() for _ in range(4)]
    start = datetime.now(UTC) - timedelta(days=2)
    [from_followed] = await insert_videos(app, followed.id, 1, start=start)
    [matching] = await insert_videos(app, baker.id, 1, tags=("baking",), start=start)
    [by_category] = await insert_videos(app, banker.id, 1, category="finance", start=start)
    [fresh] = await insert_videos(app, stranger.id, 1)
    [already_liked] = await insert_videos(app, stranger.id, 1)
    [own] = await insert_videos(app, woman.id, 1)
    await _add(
        app,
        UserFollow(follower_id=woman.id, following_id=followed.id),
        UserInterest(user_id=woman.id, interest="baking"),
        UserSkill(user_id=woman.id, skill="finance"),
        VideoLike(video_id=already_liked, user_id=woman.id),
    )
    feed = await _ids(client, "/api/videos/feed?limit=50", woman)
    assert str(own) not in feed and str(already_liked) not in feed
    assert feed[0] == str(from_followed)
    assert set(feed[1:3]) == {str(matching), str(by_category)}
    assert str(fresh) in feed
    # Each video carries likedByMe for the caller (false here by construction).
    body = (await client.get("/api/videos/feed", headers=woman.headers)).json()
    assert all(v["likedByMe"] is False for v in body["data"])


async def test_one_feed_statement_serves_every_viewer_with_her_own_values(
    client: httpx.AsyncClient, app: FastAPI, make_user: Any
) -> None:
    """The signed-in feed's statement is built once per shape and bound per call: each viewer
    still gets her own rules (her own video and her likes left out, her labels matched)."""
    ada, bea, author = [await make_user() for _ in range(3)]
    [by_ada] = await insert_videos(app, ada.id, 1)
    [by_bea] = await insert_videos(app, bea.id, 1)
    [baking, finance] = [
        (await insert_videos(app, author.id, 1, tags=(tag,)))[0] for tag in ("baking", "finance")
    ]
    await _add(
        app,
        UserInterest(user_id=ada.id, interest="baking"),
        UserInterest(user_id=bea.id, interest="finance"),
        VideoLike(video_id=finance, user_id=ada.id),
    )
    _personal_feed.cache_clear()
    ada_feed = await _ids(client, "/api/videos/feed?limit=50", ada)
    bea_feed = await _ids(client, "/api/videos/feed?limit=50", bea)
    assert _personal_feed.cache_info().misses == 1  # one label each: one statement for both
    assert str(by_ada) not in ada_feed and str(by_bea) in ada_feed
    assert str(by_bea) not in bea_feed and str(by_ada) in bea_feed
    assert str(finance) not in ada_feed and str(finance) in bea_feed  # only Ada liked it
    assert ada_feed[0] == str(baking) and bea_feed[0] == str(finance)  # each one's interest


async def test_feed_cursor_pages_without_repeats_even_as_videos_arrive(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, make_user: Any
) -> None:
    authors = [await make_user() for _ in range(3)]
    made: set[str] = set()
    for author in authors:
        made |= {str(i) for i in await insert_videos(app, author.id, 5)}
    first = (await client.get("/api/videos/feed?limit=4", headers=woman.headers)).json()
    seen = [v["id"] for v in first["data"]]
    cursor = first["pagination"]["nextCursor"]
    assert first["pagination"]["total"] == 15 and first["pagination"]["hasMore"]
    # A video published meanwhile does not shift the pages already ranked.
    await insert_videos(app, authors[0].id, 1, start=datetime.now(UTC))
    while cursor:
        page = (
            await client.get(f"/api/videos/feed?limit=4&cursor={cursor}", headers=woman.headers)
        ).json()
        seen += [v["id"] for v in page["data"]]
        cursor = page["pagination"]["nextCursor"]
    assert len(seen) == len(set(seen)) == 15
    assert set(seen) == made
    assert (await client.get("/api/videos/feed?cursor=nope")).status_code == 422


@pytest.mark.parametrize(
    "raw",
    [
        '{"t": "9999-12-31T23:59:59-23:59", "o": 0}',  # past year 9999 once in UTC
        '{"t": "0001-01-01T00:00:00+23:59", "o": 0}',  # before year 1 once in UTC
        '{"t": "2026-01-01T00:00:00Z", "o": Infinity}',
        '{"t": "2026-01-01T00:00:00Z", "o": 1e400}',
    ],
)
async def test_a_hand_made_feed_cursor_is_a_validation_error_not_a_crash(
    client: httpx.AsyncClient, woman: Any, raw: str
) -> None:
    cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    response = await client.get(
        "/api/videos/feed", params={"cursor": cursor}, headers=woman.headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["details"] == [{"field": "cursor", "message": "Invalid cursor"}]


async def test_feed_spreads_creators(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, make_user: Any
) -> None:
    prolific, other = await make_user(), await make_user()
    await insert_videos(app, prolific.id, 6)
    await insert_videos(app, other.id, 3, start=datetime.now(UTC) - timedelta(days=3))
    await _add(app, UserFollow(follower_id=woman.id, following_id=prolific.id))
    body = (await client.get("/api/videos/feed?limit=50", headers=woman.headers)).json()
    authors = [v["authorId"] for v in body["data"]]
    # The followed creator ranks first, but never twice in a row while others are left.
    runs = [authors[i] == authors[i + 1] for i in range(len(authors) - 1)]
    assert authors[0] == str(prolific.id)
    assert not any(runs[:5])


def test_spread_creators_keeps_order_when_it_can() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    items = [Candidate(uuid.uuid4(), author, now, 0.0) for author in (a, a, a, b, b)]
    spread = [c.author_id for c in spread_creators(items)]
    assert spread == [a, b, a, b, a]


def _spread_by_scanning(ordered: list[Candidate]) -> list[Candidate]:
    """The rule written plainly (O(n²)): each time, the first pending video whose creator is
    not the one just shown, else the first pending one."""
    pending = list(ordered)
    result: list[Candidate] = []
    while pending:
        previous = result[-1].author_id if result else None
        index = next((i for i, c in enumerate(pending) if c.author_id != previous), 0)
        result.append(pending.pop(index))
    return result


def test_spread_creators_follows_the_plain_rule_on_random_feeds() -> None:
    rng = random.Random(7)
    now = datetime.now(UTC)
    for _ in range(300):
        authors = [uuid.uuid4() for _ in range(rng.randint(1, 6))]
        weights = [rng.random() for _ in authors]
        items = [
            Candidate(uuid.uuid4(), rng.choices(authors, weights)[0], now, 0.0)
            for _ in range(rng.randint(0, 40))
        ]
        assert spread_creators(items) == _spread_by_scanning(items)

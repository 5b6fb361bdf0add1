"""Trending scores and the personal feed."""

from __future__ import annotations

import base64
import binascii
import functools
import heapq
import json
import math
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CompoundSelect,
    Float,
    Select,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal,
    select,
    union,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from peal.config import Settings
from peal.core.errors import ValidationFailed
from peal.core.sqltime import epoch_seconds
from peal.users.models import User, UserFollow, UserInterest, UserSkill
from peal.users.policy import (
    ViewerShape,
    profile_visible,
    viewer_shape,
    viewer_slot,
    viewer_values,
)
from peal.videos.models import Video, VideoComment, VideoLike, VideoShare, VideoTag, VideoView
from peal.videos.service import listable, unmuted_authors

# --- trending ------------------------------------------------------------------------------

LIKE_WEIGHT = 3.0
COMMENT_WEIGHT = 4.0
SHARE_WEIGHT = 5.0
VIEW_WEIGHT = 1.0
# Most that anonymous views and shares together add to one video's score: anyone can make
# them from many addresses, so they can lift a video a little but never carry it to the top.
ANONYMOUS_WEIGHT_CAP = 10.0
# Videos that keep a score between runs: the trending list and the feed's trending source
# read the best few hundred at most.
TRENDING_POOL = 1000


_epoch_seconds = epoch_seconds


@dataclass(frozen=True)
class TrendingResult:
    scored: int
    trending: int


async def recompute_trending(
    session: AsyncSession, settings: Settings, now: datetime | None = None
) -> TrendingResult:
    """Recompute the trending scores and mark the top videos `isTrending`.

    The score is recent engagement, each event decayed by its age::

        score = sum over events e of the last TRENDING_WINDOW of  w(e) * 2 ** (-age(e) / H)

        w(like) = 3, w(comment) = 4, w(share) = 5, w(view) = 1
        H = TRENDING_HALF_LIFE (24 h by default): an event counts half as much a day later

    Views are the counted ones (one per viewer per hour), shares too (one per sharer per day),
    so a replay loop cannot inflate a score; comments and shares weigh more than likes because
    they cost the viewer more.

    Anonymous events (views and shares without a signed-in user, keyed on the IP) are summed
    apart and capped::

        score = signed_in + min(anonymous, ANONYMOUS_WEIGHT_CAP)      (cap = 10)

    so sixty anonymous views and shares from rotating addresses weigh at most as much as ten
    fresh views: they cannot outrank real engagement (likes and comments need an account).

    One SQL aggregation over the window (every event table has an index on `created_at`)
    keeps the best TRENDING_POOL ready, publicly visible videos; only they carry a score (the
    trending list and the feed never look further), so a run rewrites at most twice that many
    rows instead of every video with a like this week. The top TRENDING_TOP_N get
    `is_trending`. Event rows older than the window are pruned (the counters on `videos` keep
    the totals). `updatedAt` is not touched: a score is not an edit.
    """
    now = now or datetime.now(UTC)
    dialect = session.get_bind().dialect.name
    since = now - timedelta(seconds=settings.trending_window)
    ln2_over_half_life = math.log(2) / settings.trending_half_life

    def events(model: Any, weight: float, anonymous: ColumnElement[bool] | None) -> Select[Any]:
        return select(
            model.video_id.label("video_id"),
            model.created_at.label("created_at"),
            literal(weight, Float).label("weight"),
            (literal(0) if anonymous is None else case((anonymous, 1), else_=0)).label("anon"),
        ).where(model.created_at >= since)

    recent = union_all(
        events(VideoLike, LIKE_WEIGHT, None),
        events(VideoComment, COMMENT_WEIGHT, None),
        events(VideoShare, SHARE_WEIGHT, VideoShare.user_id.is_(None)),
        events(VideoView, VIEW_WEIGHT, VideoView.viewer_key.like("a:%")),
    ).subquery("recent")
    age = now.timestamp() - _epoch_seconds(recent.c.created_at, dialect)
    decayed = recent.c.weight * func.exp(-ln2_over_half_life * age)
    scores = (
        select(
            recent.c.video_id.label("video_id"),
            func.sum(case((recent.c.anon == 0, decayed), else_=0.0)).label("signed_in"),
            func.sum(case((recent.c.anon == 1, decayed), else_=0.0)).label("anonymous"),
        )
        .group_by(recent.c.video_id)
        .subquery("scores")
    )
    capped = case(
        (scores.c.anonymous > ANONYMOUS_WEIGHT_CAP, ANONYMOUS_WEIGHT_CAP),
        else_=scores.c.anonymous,
    )
    score = (scores.c.signed_in + capped).label("score")
    best = (
        select(scores.c.video_id, score)
        .join(Video, Video.id == scores.c.video_id)
        .join(User, User.id == Video.author_id)
        .where(Video.status == "ready", profile_visible(None), listable(None))
        .order_by(score.desc(), Video.created_at.desc(), Video.id.desc())
        .limit(TRENDING_POOL)
    )
    ranked = [(row.video_id, float(row.score)) for row in await session.execute(best)]
    kept = [video_id for video_id, _ in ranked]
    # Videos that fell out of the pool: through the partial trending index, a few rows.
    stale = (
        update(Video)
        .where(Video.status == "ready", Video.trending_score > 0)
        .values(trending_score=0.0, is_trending=False, updated_at=Video.updated_at)
    )
    if kept:
        stale = stale.where(Video.id.not_in(kept))
    await session.execute(stale)
    if ranked:
        # One executemany through Core (the ORM's bulk path does not take a WHERE clause).
        table = cast(Table, Video.__table__)
        connection = await session.connection()
        await connection.execute(
            update(table)
            .where(table.c.id == bindparam("video"))
            .values(
                trending_score=bindparam("score"),
                is_trending=bindparam("trending"),
                updated_at=table.c.updated_at,
            ),
            [
                {"video": video_id, "score": score, "trending": rank < settings.trending_top_n}
                for rank, (video_id, score) in enumerate(ranked)
            ],
        )
    prune_before = since - timedelta(days=1)
    await session.execute(delete(VideoView).where(VideoView.created_at < prune_before))
    await session.execute(delete(VideoShare).where(VideoShare.created_at < prune_before))
    return TrendingResult(scored=len(ranked), trending=min(len(ranked), settings.trending_top_n))


# --- the feed ------------------------------------------------------------------------------

# Candidates taken from each source; the feed of one "session" (one `asOf`) is their ranked
# union, so its size is bounded and every page costs the same few queries.
SOURCE_LIMIT = 150
ANONYMOUS_SOURCE_LIMIT = 300
MAX_FEED_OFFSET = 10_000

FOLLOWED_BOOST = 3.0
INTEREST_BOOST = 2.0
TRENDING_BOOST = 2.0
FRESHNESS_BOOST = 1.5
FRESHNESS_HALF_LIFE_HOURS = 48.0


@dataclass(frozen=True)
class FeedCursor:
    """Where a reader is in her feed: the moment it was ranked and how far she has read."""

    as_of: datetime
    offset: int

    def encode(self) -> str:
        raw = json.dumps({"t": self.as_of.isoformat(), "o": self.offset}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> FeedCursor:
        try:
            padded = value + "=" * (-len(value) % 4)
            data: Any = json.loads(base64.urlsafe_b64decode(padded.encode()))
            as_of = datetime.fromisoformat(data["t"])
            if as_of.tzinfo is None:
                as_of = as_of.replace(tzinfo=UTC)
            # Both OverflowError on hand-made input: a time past year 9999 once in UTC, and
            # an offset of `Infinity` or `1e400` (JSON numbers Python reads as inf).
            as_of = as_of.astimezone(UTC)
            offset = int(data["o"])
        except (ValueError, KeyError, TypeError, OverflowError, binascii.Error) as exc:
            raise ValidationFailed("cursor", "Invalid cursor") from exc
        if not 0 <= offset <= MAX_FEED_OFFSET:
            raise ValidationFailed("cursor", "Invalid cursor")
        return cls(as_of=as_of, offset=offset)


@dataclass
class Candidate:
    id: uuid.UUID
    author_id: uuid.UUID
    created_at: datetime
    trending_score: float
    sources: set[str] = field(default_factory=set)
    score: float = 0.0


def _source(
    name: str,
    conditions: Sequence[ColumnElement[bool]],
    order: Sequence[Any],
    limit: int,
    *,
    by_tag: ColumnElement[bool] | None = None,
    followed_by: uuid.UUID | None = None,
) -> Select[Any]:
    """One source of candidates: its best `limit` rows in its own order (its own index).

    A tag source answers the id and time of its tag rows (copies of their video's): the
    columns it is ordered by, so `_newest_of_each` can merge the labels' walks in order."""
    video_id, created_at = (
        (Video.id, Video.created_at)
        if by_tag is None
        else (VideoTag.video_id, VideoTag.video_created_at)
    )
    inner = select(
        video_id.label("id"),
        Video.author_id.label("author_id"),
        created_at.label("created_at"),
        Video.trending_score.label("trending_score"),
        literal(name).label("source"),
    ).join(User, User.id == Video.author_id)
    if by_tag is not None:
        inner = inner.join(VideoTag, and_(VideoTag.video_id == Video.id, by_tag))
    if followed_by is not None:
        # A join from her follows (not `author_id IN (...)`): the planner starts from the few
        # people she follows and reads each one's videos by `ix_videos_author_created`,
        # instead of walking every video newest first looking for theirs.
        inner = inner.join(
            UserFollow,
            and_(UserFollow.following_id == Video.author_id, UserFollow.follower_id == followed_by),
        )
    subquery = inner.where(*conditions).order_by(*order).limit(limit).subquery(name)
    return select(subquery)


def _newest_of_each(name: str, sources: Sequence[Select[Any]], limit: int) -> Select[Any]:
    """The newest `limit` rows of several sources (one per interest): each walks its own
    index range newest first and stops at `limit`, so a rare label costs no more than a common
    one (an `IN (labels)` would read every row of every label, then sort).

    Each source's rows come out in the merged order (the same columns), so PostgreSQL merges
    them (a Merge Append under the LIMIT) and pulls about `limit` rows in all, not `limit`
    from every source."""
    merged = union_all(*sources).subquery(f"{name}_each")
    newest = (
        select(merged)
        .order_by(merged.c.created_at.desc(), merged.c.id.desc())
        .limit(limit)
        .subquery(name)
    )
    return select(newest)


# The moment a feed is ranked as of (its cursor's), bound in every feed statement.
_AS_OF: BindParameter[datetime] = bindparam("as_of")


_NEWEST = (Video.created_at.desc(), Video.id.desc())


def _trending_and_fresh(base: Sequence[ColumnElement[bool]], limit: int) -> list[Select[Any]]:
    """The two sources every feed has: the best trending scores, and the newest videos."""
    by_trend = (Video.trending_score.desc(), *_NEWEST)
    return [
        _source("trending", [*base, Video.trending_score > 0], by_trend, limit),
        _source("fresh", base, _NEWEST, limit),
    ]


@functools.cache
def _anonymous_feed() -> CompoundSelect[Any]:
    """The anonymous feed's statement, built once (`as_of` bound): trending, then fresh."""
    return union_all(*_trending_and_fresh(_visible_ready(None), ANONYMOUS_SOURCE_LIMIT))


@functools.lru_cache(maxsize=64)
def _personal_feed(label_count: int, shape: ViewerShape) -> CompoundSelect[Any]:
    """A signed-in viewer's feed statement, built once per shape (how many interest and skill
    labels she has, whether she is an admin) with her id, the moment and the labels bound
    (`viewer_id`, `as_of`, `label_0`...). Building it (nine sources, their subqueries) and its
    cache key cost ~5 ms of Python a call at a million videos, a quarter of the feed's time.
    PostgreSQL still plans each run for its values (`plan_cache_mode`, `peal.db`)."""
    viewer = viewer_slot(shape)
    assert viewer is not None  # signed in
    # What she liked, read once for every source (a CTE, one scan of her likes, hashed):
    # as a NOT EXISTS in each source it was one more join for the planner to order in each
    # of them (a third of the statement's planning) and an index probe per row.
    liked = (
        select(VideoLike.video_id)
        .where(VideoLike.user_id == viewer.id, VideoLike.created_at <= _AS_OF)
        .cte("liked")
    )
    base = [
        *_visible_ready(viewer),
        Video.author_id != viewer.id,
        Video.id.not_in(select(liked.c.video_id)),
    ]
    sources = [
        _source("followed", base, _NEWEST, SOURCE_LIMIT, followed_by=viewer.id),
        *_trending_and_fresh(base, SOURCE_LIMIT),
    ]
    labels: list[BindParameter[str]] = [bindparam(f"label_{i}") for i in range(label_count)]
    if labels:
        # Categories and tags are two sources; each label walks its own index range newest
        # first (`ix_videos_category_created`, `ix_video_tags_tag`).
        tagged_newest = (VideoTag.video_created_at.desc(), VideoTag.video_id.desc())
        sources += [
            _newest_of_each(
                "categories",
                [
                    _source("categories", [*base, Video.category == label], _NEWEST, SOURCE_LIMIT)
                    for label in labels
                ],
                SOURCE_LIMIT,
            ),
            _newest_of_each(
                "tags",
                [
                    _source("tags", base, tagged_newest, SOURCE_LIMIT, by_tag=VideoTag.tag == label)
                    for label in labels
                ],
                SOURCE_LIMIT,
            ),
        ]
    return union_all(*sources)


def _visible_ready(viewer: User | None) -> list[ColumnElement[bool]]:
    """Every source's rule: ready, published by `as_of`, and visible to the viewer."""
    return [
        Video.status == "ready",
        Video.created_at <= _AS_OF,
        profile_visible(viewer, person_id=Video.author_id),
        *unmuted_authors(viewer),
        listable(viewer),
    ]


async def _candidates(
    session: AsyncSession, viewer: User | None, as_of: datetime
) -> list[Candidate]:
    """The union of every source's candidates, in one query."""
    values: dict[str, Any] = {"as_of": as_of}
    if viewer is None:
        query = _anonymous_feed()
    else:
        # Read first (one small query), then bound: with a plan made for each run's values,
        # the planner uses the category and tag statistics of these very labels.
        labels = list(
            await session.scalars(
                union(
                    select(UserInterest.interest).where(UserInterest.user_id == viewer.id),
                    select(UserSkill.skill).where(UserSkill.user_id == viewer.id),
                )
            )
        )
        query = _personal_feed(len(labels), viewer_shape(viewer))
        values.update(viewer_values(viewer))
        values.update((f"label_{index}", label) for index, label in enumerate(labels))
    found: dict[uuid.UUID, Candidate] = {}
    for row in await session.execute(query, values):
        candidate = found.get(row.id)
        if candidate is None:
            candidate = found[row.id] = Candidate(
                id=row.id,
                author_id=row.author_id,
                created_at=_aware(row.created_at),
                trending_score=float(row.trending_score or 0.0),
            )
        candidate.sources.add(row.source)
    return list(found.values())


def _aware(value: datetime | str) -> datetime:
    """Timestamps read through a UNION lose their column type on SQLite (strings)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _newest_first(candidate: Candidate) -> tuple[float, str]:
    return (-candidate.created_at.timestamp(), str(candidate.id))


def rank_anonymous(candidates: list[Candidate]) -> list[Candidate]:
    """Trending first (by score), then everything else newest first."""
    trending = sorted(
        (c for c in candidates if c.trending_score > 0),
        key=lambda c: (-c.trending_score, *_newest_first(c)),
    )
    rest = sorted((c for c in candidates if c.trending_score <= 0), key=_newest_first)
    return trending + rest


def rank_personal(candidates: list[Candidate], as_of: datetime) -> list[Candidate]:
    """Score each candidate, then spread creators out.

    score = 3·[from someone she follows] + 2·[matches her interests or skills]
            + 2·(trending score / best trending score) + 1.5·2^(-age / 48 h)
    """
    best_trend = max((c.trending_score for c in candidates), default=0.0) or 1.0
    for c in candidates:
        age_hours = max(0.0, (as_of - c.created_at).total_seconds() / 3600)
        c.score = (
            FOLLOWED_BOOST * ("followed" in c.sources)
            + INTEREST_BOOST * bool(c.sources & {"categories", "tags"})
            + TRENDING_BOOST * (c.trending_score / best_trend)
            + FRESHNESS_BOOST * 2 ** (-age_hours / FRESHNESS_HALF_LIFE_HOURS)
        )
    ordered = sorted(candidates, key=lambda c: (-c.score, *_newest_first(c)))
    return spread_creators(ordered)


def spread_creators(ordered: list[Candidate]) -> list[Candidate]:
    """Keep the order, except that no creator appears twice in a row while someone else is
    left: the next best video of another creator is pulled forward instead.

    Each creator's videos wait in a queue of their positions, and a heap holds each creator's
    next position: the next pick is the heap's first entry, or its second when the first is
    the creator just shown. O(n log creators), where scanning the pending list for "someone
    else" was O(n²) on a feed one creator dominates."""
    queues: dict[uuid.UUID, deque[int]] = {}
    for position, candidate in enumerate(ordered):
        queues.setdefault(candidate.author_id, deque()).append(position)
    heads = [(queue[0], author) for author, queue in queues.items()]
    heapq.heapify(heads)
    result: list[Candidate] = []
    previous: uuid.UUID | None = None
    while heads:
        position, author = heapq.heappop(heads)
        if author == previous and heads:
            position, author = heapq.heapreplace(heads, (position, author))
        queue = queues[author]
        queue.popleft()
        if queue:
            heapq.heappush(heads, (queue[0], author))
        result.append(ordered[position])
        previous = author
    return result


@dataclass(frozen=True)
class FeedPage:
    ids: list[uuid.UUID]
    total: int
    next_cursor: str | None


async def feed_page(
    session: AsyncSession,
    viewer: User | None,
    *,
    limit: int,
    cursor: FeedCursor | None,
    now: datetime | None = None,
) -> FeedPage:
    """One page of the feed: the ids in order (one query), ranked as of the cursor's moment
    so that later pages continue the same ranking."""
    as_of = cursor.as_of if cursor else (now or datetime.now(UTC))
    offset = cursor.offset if cursor else 0
    candidates = await _candidates(session, viewer, as_of)
    ranked = rank_anonymous(candidates) if viewer is None else rank_personal(candidates, as_of)
    page = ranked[offset : offset + limit]
    next_cursor = None
    if offset + limit < len(ranked):
        next_cursor = FeedCursor(as_of=as_of, offset=offset + limit).encode()
    return FeedPage([c.id for c in page], len(ranked), next_cursor)

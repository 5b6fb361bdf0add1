"""Benchmark: the video lists, filters, trending and feed queries over a large table.

Seeds a PostgreSQL database (given by URL) with users, >= 100k videos, tags, follows,
interests and a week of likes, comments, shares and views, all with set-based SQL
(INSERT ... SELECT generate_series), runs ANALYZE, then calls the real service functions
(`peal.videos.service`, `peal.videos.ranking`) as the API does and prints, for each case,
the timing of the whole call and the EXPLAIN (ANALYZE, BUFFERS) plan of every statement it
ran (captured from the engine, so the plans are those of the exact SQL the app sends).

    .venv/bin/python bench/videos_bench.py postgresql://postgres@127.0.0.1:5432/peal_bench \\
        [--videos 100000] [--users N] [--reset] [--runs 15]

`--reset` drops and recreates the database's public schema first (then migrates): use a
database of its own. Prints figures only; nothing asserts timings (machines are noisy).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from peal.config import Settings  # noqa: E402
from peal.core.schemas import Cursor  # noqa: E402
from peal.db import Database  # noqa: E402
from peal.users.models import User  # noqa: E402
from peal.videos import ranking, service  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from harness import empty_database  # noqa: E402  (bench/'s shared helpers)

CATEGORIES = ["business", "education", "finance", "tech", "art", "health", "community", "food"]
TAG_VOCABULARY = 300
# The deep keyset page: 1,000 pages of 20 in (or half the table, if smaller).
DEEP_ROWS = 20_000


# Seeding writes each row once: the engagement rows go in first (the foreign-key triggers are
# off for the seeding session, `session_replication_role = replica`), so each video is
# inserted with its counters and search text already computed, with no UPDATE pass over a
# million rows. The secondary indexes of the seeded tables are dropped during the load and
# built again at the end (one sorted build each, instead of millions of random insertions).
SEED_SQL = [
    # Users: 1 in 20 private, 1 in 500 banned (their videos must stay hidden).
    """
    INSERT INTO users (id, email, name, role, is_public, email_verified, is_banned,
                       created_at, updated_at)
    SELECT gen_random_uuid(), 'bench' || g || '@bench.peal.app', 'Bench Creator ' || g,
           CASE WHEN g % 10 = 0 THEN 'sponsor' ELSE 'woman' END,
           g % 20 <> 0, true, g % 500 = 0, now() - interval '400 days', now()
    FROM generate_series(1, :users) AS g
    """,
    """
    CREATE TEMP TABLE bench_users AS
    SELECT id, row_number() OVER (ORDER BY created_at, id) AS n
    FROM users WHERE email LIKE '%@bench.peal.app'
    """,
    "CREATE UNIQUE INDEX ON bench_users (n)",
    # Videos over 180 days (n = 1 is the newest), authors spread out.
    """
    CREATE TEMP TABLE bench_videos AS
    SELECT g AS n, gen_random_uuid() AS id, u.id AS author_id,
           now() - (g::float8 / :videos) * interval '180 days'
                 - random() * interval '1 hour' AS created_at
    FROM generate_series(1, :videos) AS g
    JOIN bench_users u ON u.n = 1 + (g::bigint * 7919) % :users
    """,
    "CREATE UNIQUE INDEX ON bench_videos (n)",
    # Two or three tags per video from a vocabulary of 300 (a few are very common).
    """
    INSERT INTO video_tags (id, video_id, video_created_at, tag, created_at)
    SELECT gen_random_uuid(), t.id, t.created_at, t.tag, now()
    FROM (SELECT DISTINCT v.id, v.created_at,
                 'tag' || (floor(power(random(), 2) * :tag_vocabulary))::int AS tag
          FROM bench_videos v, generate_series(1, 3) AS k
          WHERE k < 3 OR v.n % 2 = 0) t
    """,
    # A week of engagement, skewed towards recent videos.
    """
    INSERT INTO video_likes (id, video_id, user_id, created_at)
    SELECT gen_random_uuid(), v.id, u.id, p.at
    FROM (SELECT DISTINCT ON (vn, un) vn, un, at
          FROM (SELECT 1 + floor(power(random(), 3) * :videos)::int AS vn,
                       1 + floor(random() * :users)::int AS un,
                       now() - random() * interval '7 days' AS at
                FROM generate_series(1, :likes)) p0) p
    JOIN bench_videos v ON v.n = p.vn
    JOIN bench_users u ON u.n = p.un
    """,
    """
    INSERT INTO video_views (id, video_id, viewer_key, hour, created_at)
    SELECT gen_random_uuid(), v.id, 'a:' || md5(p.viewer::text), p.hour, p.at
    FROM (SELECT DISTINCT ON (vn, viewer, hour) vn, viewer, hour, at
          FROM (SELECT vn, viewer, at, floor(extract(epoch FROM at) / 3600) AS hour
                FROM (SELECT 1 + floor(power(random(), 3) * :videos)::int AS vn,
                             floor(random() * 200000)::int AS viewer,
                             now() - random() * interval '7 days' AS at
                      FROM generate_series(1, :views)) p1) p0) p
    JOIN bench_videos v ON v.n = p.vn
    """,
    """
    INSERT INTO video_comments (id, video_id, user_id, content, replies_count, created_at)
    SELECT gen_random_uuid(), v.id, u.id, 'Comment ' || p.g, 0, p.at
    FROM (SELECT g, 1 + floor(power(random(), 3) * :videos)::int AS vn,
                 1 + floor(random() * :users)::int AS un,
                 now() - random() * interval '7 days' AS at
          FROM generate_series(1, :comments) g) p
    JOIN bench_videos v ON v.n = p.vn
    JOIN bench_users u ON u.n = p.un
    """,
    """
    INSERT INTO video_shares (id, video_id, created_at)
    SELECT gen_random_uuid(), v.id, now() - random() * interval '7 days'
    FROM (SELECT 1 + floor(power(random(), 3) * :videos)::int AS vn
          FROM generate_series(1, :shares)) p
    JOIN bench_videos v ON v.n = p.vn
    """,
    # The videos, 2% still processing, with the counters the app would have kept and what
    # `search` matches as the service writes it (title, description and tags).
    """
    INSERT INTO videos (id, title, description, video_url, thumbnail_url, video_duration,
                        category, status, author_id, views_count, likes_count,
                        comments_count, shares_count, is_trending, trending_score,
                        processing_attempts, search_text, created_at, updated_at)
    SELECT v.id, s.title, s.description,
           'https://cdn.example.com/v/' || v.n || '.mp4',
           'https://cdn.example.com/t/' || v.n || '.jpg',
           10 + v.n % 170,
           (CAST(:categories AS text[]))[1 + v.n % cardinality(CAST(:categories AS text[]))],
           CASE WHEN v.n % 50 = 0 THEN 'processing' ELSE 'ready' END,
           v.author_id, coalesce(vw.n, 0), coalesce(l.n, 0), coalesce(c.n, 0),
           coalesce(sh.n, 0), false, 0, 1,
           lower(s.title || ' ' || s.description || coalesce(' ' || t.tags, '')),
           v.created_at, now()
    FROM bench_videos v
    CROSS JOIN LATERAL (
        SELECT (ARRAY['How I started my', 'Why we love our', 'My first year with the',
                      'Tips for your', 'Behind the scenes of the'])[1 + v.n % 5]
                 || ' ' || (ARRAY['bakery', 'startup', 'coding club', 'market stall', 'pitch',
                                  'garden', 'salon', 'workshop', 'clinic',
                                  'studio'])[1 + (v.n / 5) % 10]
                 || ' ' || v.n AS title,
               'Episode ' || v.n || ' of a story about courage, work and community.'
                 AS description
    ) s
    LEFT JOIN (SELECT video_id, string_agg(tag, ' ') AS tags FROM video_tags
               GROUP BY video_id) t ON t.video_id = v.id
    LEFT JOIN (SELECT video_id, count(*) AS n FROM video_likes GROUP BY video_id) l
           ON l.video_id = v.id
    LEFT JOIN (SELECT video_id, count(*) AS n FROM video_views GROUP BY video_id) vw
           ON vw.video_id = v.id
    LEFT JOIN (SELECT video_id, count(*) AS n FROM video_comments GROUP BY video_id) c
           ON c.video_id = v.id
    LEFT JOIN (SELECT video_id, count(*) AS n FROM video_shares GROUP BY video_id) sh
           ON sh.video_id = v.id
    """,
    # Follows: each user follows ~10 creators.
    """
    INSERT INTO user_follows (id, follower_id, following_id, created_at)
    SELECT gen_random_uuid(), a.id, b.id, now() - random() * interval '300 days'
    FROM bench_users a, generate_series(1, 10) AS k
    JOIN LATERAL (
        SELECT id FROM bench_users
        WHERE n = 1 + ((a.n * 31 + k * 977) % (SELECT count(*) FROM bench_users))
    ) b ON true
    WHERE a.id <> b.id
    ON CONFLICT DO NOTHING
    """,
    # Interests: three per user among the tags.
    """
    INSERT INTO user_interests (id, user_id, interest, created_at)
    SELECT gen_random_uuid(), u.id, 'tag' || ((u.n * 13 + k * 101) % :tag_vocabulary), now()
    FROM bench_users u, generate_series(1, 3) AS k
    ON CONFLICT DO NOTHING
    """,
]

# The tables the seed fills: their indexes are dropped for the load and built after it, and
# so are their primary keys and unique constraints when no foreign key refers to them (the
# seed writes no duplicates: DISTINCT where random draws could repeat).
SEEDED_TABLES = [
    "users",
    "videos",
    "video_tags",
    "video_likes",
    "video_views",
    "video_comments",
    "video_shares",
    "user_follows",
    "user_interests",
]
SECONDARY_INDEXES = """
    SELECT i.indexname, i.indexdef FROM pg_indexes i
    WHERE i.schemaname = 'public' AND i.tablename = ANY(:tables)
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
    ORDER BY i.tablename, i.indexname
"""
UNREFERENCED_KEYS = """
    SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
    FROM pg_constraint c
    WHERE c.contype IN ('p', 'u') AND c.conrelid::regclass::text = ANY(:tables)
      AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f'
                      AND f.conindid = c.conindid)
"""


def migrate(url: str, reset: bool) -> None:
    from alembic import command
    from alembic.config import Config

    if reset:
        asyncio.run(empty_database(url))
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    command.upgrade(config, "head")


async def seed(engine: AsyncEngine, sizes: dict[str, int]) -> None:
    async with engine.begin() as conn:
        existing = await conn.scalar(
            text("SELECT count(*) FROM videos WHERE video_url LIKE 'https://cdn.example.com/v/%'")
        )
    if existing:
        print(f"already seeded: {existing} videos (use --reset to start again)")
        return
    started = time.perf_counter()
    async with engine.begin() as conn:
        # A disposable database: no fsync wait per commit, room to sort and hash in memory,
        # and no foreign-key triggers (every reference is made from rows the seed just wrote).
        await conn.execute(text("SET LOCAL synchronous_commit = off"))
        await conn.execute(text("SET LOCAL work_mem = '256MB'"))
        await conn.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        indexes = (await conn.execute(text(SECONDARY_INDEXES), {"tables": SEEDED_TABLES})).all()
        keys = (await conn.execute(text(UNREFERENCED_KEYS), {"tables": SEEDED_TABLES})).all()
        for name, _ in indexes:
            await conn.execute(text(f'DROP INDEX "{name}"'))
        for table, name, _ in keys:
            await conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
        for statement in SEED_SQL:
            step = time.perf_counter()
            result = await conn.execute(text(statement), sizes if ":" in statement else {})
            first_line = " ".join(statement.split())[:70]
            rows = result.rowcount if result.rowcount and result.rowcount > 0 else 0
            print(f"  {time.perf_counter() - step:6.2f} s  {rows:>9} rows  {first_line}")
        step = time.perf_counter()
        for table, name, definition in keys:
            await conn.execute(text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))
        for _, definition in indexes:
            await conn.execute(text(definition))
        print(
            f"  {time.perf_counter() - step:6.2f} s  {len(keys)} keys and {len(indexes)} "
            "indexes rebuilt"
        )
    print(f"seeded in {time.perf_counter() - started:.1f} s")


async def vacuum(engine: AsyncEngine) -> None:
    started = time.perf_counter()
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM (ANALYZE)"))
    print(f"VACUUM (ANALYZE) in {time.perf_counter() - started:.1f} s")


async def analyze(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE"))
        sizes = await conn.execute(
            text(
                "SELECT relname, n_live_tup FROM pg_stat_user_tables WHERE relname IN "
                "('users', 'videos', 'video_tags', 'video_likes', 'video_views', "
                "'video_comments', 'video_shares', 'user_follows', 'user_interests') "
                "ORDER BY relname"
            )
        )
        print("rows: " + ", ".join(f"{name}={count}" for name, count in sizes))


class Capture:
    """The statements (with their parameters) the engine runs while `active`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.active = False
        self.statements: list[tuple[str, Any]] = []
        event.listen(engine.sync_engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.active:
            self.statements.append((statement, parameters))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def explain(engine: AsyncEngine, statement: str, parameters: Any) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) in a transaction rolled back (an UPDATE changes nothing)."""
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            result = await conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
            )
            return "\n".join(row[0] for row in result)
        finally:
            await transaction.rollback()


Case = Callable[[AsyncSession], Awaitable[Any]]


async def measure(
    database: Database, capture: Capture, name: str, case: Case, runs: int, plans: bool
) -> None:
    timings = []
    for index in range(runs + 1):
        async with database.sessionmaker() as session:
            capture.active = index == runs
            capture.statements.clear()
            started = time.perf_counter()
            await case(session)
            elapsed = time.perf_counter() - started
            capture.active = False
            await session.rollback()
        if index < runs:
            timings.append(elapsed * 1000)
    statements = list(capture.statements)
    print("\n" + "=" * 100)
    print(
        f"{name}: p50={statistics.median(timings):.2f} ms  p95={percentile(timings, 0.95):.2f} ms"
        f"  (whole service call, {runs} runs, {len(statements)} statements)"
    )
    if not plans:
        return
    for number, (statement, parameters) in enumerate(statements, 1):
        print(f"--- statement {number}: {' '.join(statement.split())[:160]}")
        if isinstance(parameters, list):  # an executemany: one row's plan says nothing new
            print(f"(executemany of {len(parameters)} rows, by primary key)")
            continue
        print(await explain(database.engine, statement, parameters))


async def run(args: argparse.Namespace) -> None:
    settings = Settings(database_url=args.url)
    database = Database(settings)
    engine = database.engine
    sizes: dict[str, Any] = {
        "categories": CATEGORIES,
        "tag_vocabulary": TAG_VOCABULARY,
        "users": args.users or max(5_000, args.videos // 20),
        "videos": args.videos,
        "likes": args.videos * 3,
        "views": args.videos * 5,
        "comments": args.videos,
        "shares": args.videos // 2,
    }
    await seed(engine, sizes)
    # As autovacuum would have by now: statistics, a visibility map, no dead rows left by
    # the seeding UPDATEs.
    if args.only:
        # A rerun of some cases on a seeded database: its scores and statistics are there.
        print("(--only: no VACUUM, no trending recompute before the cases)")
    else:
        await vacuum(engine)
        async with database.sessionmaker() as session:
            started = time.perf_counter()
            result = await ranking.recompute_trending(session, settings)
            await session.commit()
            print(
                f"trending recompute (job): {1000 * (time.perf_counter() - started):.0f} ms, "
                f"{result.scored} videos scored, {result.trending} marked trending"
            )
        await analyze(engine)

    async with database.sessionmaker() as session:
        viewer_id = await session.scalar(
            text(
                "SELECT u.id FROM users u JOIN user_follows f ON f.follower_id = u.id "
                "WHERE u.email LIKE '%@bench.peal.app' AND u.is_public AND NOT u.is_banned "
                "GROUP BY u.id ORDER BY count(*) DESC LIMIT 1"
            )
        )
        viewer = await session.get(User, viewer_id)
        author_id = await session.scalar(
            text(
                "SELECT author_id FROM videos JOIN users ON users.id = videos.author_id "
                "WHERE users.is_public AND NOT users.is_banned "
                "GROUP BY author_id ORDER BY count(*) DESC LIMIT 1"
            )
        )
        old = await session.execute(
            text(
                "SELECT created_at, id FROM videos WHERE status = 'ready' "
                "ORDER BY created_at DESC, id DESC OFFSET :deep LIMIT 1"
            ),
            {"deep": min(DEEP_ROWS, args.videos // 2)},
        )
        deep = old.one()
        session.expunge_all()
    assert viewer is not None
    deep_cursor = Cursor(created_at=deep.created_at, id=deep.id)
    print(f"viewer {viewer.id}, prolific author {author_id}")

    def listing(filters: service.VideoFilters, who: User | None, **kw: Any) -> Case:
        async def case(session: AsyncSession) -> Any:
            page = await service.list_videos(
                session, who, filters, limit=20, offset=kw.get("offset", 0), cursor=kw.get("cursor")
            )
            return await service.present_cards(session, page.rows, who)

        return case

    async def trending(session: AsyncSession) -> Any:
        page = await service.list_trending(session, viewer, limit=20, offset=0)
        return await service.present_cards(session, page.rows, viewer)

    def feed(who: User | None, cursor: ranking.FeedCursor | None = None) -> Case:
        async def case(session: AsyncSession) -> Any:
            page = await ranking.feed_page(session, who, limit=20, cursor=cursor)
            rows = await service.videos_in_order(session, page.ids)
            return await service.present_cards(session, rows, who)

        return case

    async def recompute(session: AsyncSession) -> Any:
        return await ranking.recompute_trending(session, settings)

    cases: list[tuple[str, Case]] = [
        ("list: newest, anonymous", listing(service.VideoFilters(), None)),
        ("list: newest, signed in", listing(service.VideoFilters(), viewer)),
        (
            "list: newest, after a deep cursor (page 1,000)",
            listing(service.VideoFilters(), None, cursor=deep_cursor),
        ),
        ("list: category=finance", listing(service.VideoFilters(category="finance"), None)),
        ("list: tag=tag5 (common)", listing(service.VideoFilters(tag="tag5"), None)),
        ("list: tag=tag290 (rare)", listing(service.VideoFilters(tag="tag290"), None)),
        (
            "list: authorId (most prolific)",
            listing(service.VideoFilters(author_id=author_id), None),
        ),
        ("list: search=bakery", listing(service.VideoFilters(search="bakery"), None)),
        (
            "list: search='episode 77777 of' (one row: its inner word is rare)",
            listing(service.VideoFilters(search="episode 77777 of"), None),
        ),
        (
            "list: search=courage (every row matches)",
            listing(service.VideoFilters(search="courage"), None),
        ),
        ("trending list", trending),
        ("feed: anonymous", feed(None)),
        ("feed: signed in (follows + interests)", feed(viewer)),
        (
            "feed: signed in, page 3",
            feed(viewer, ranking.FeedCursor(as_of=datetime.now(UTC), offset=40)),
        ),
        ("trending recompute (job)", recompute),
    ]
    capture = Capture(engine)
    # As `peal serve` does once started (`peal.core.heap`): the objects alive after set-up
    # are out of the collector's full passes, so a run is not a ~100 ms collection of them.
    gc.collect()
    gc.freeze()
    for name, case in cases:
        if args.only and not any(part in name for part in args.only):
            continue
        runs = 3 if name.startswith("trending recompute") else args.runs
        await measure(database, capture, name, case, runs, plans=not args.no_plans)
    await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("url", help="postgresql://user@host:port/database (a database of its own)")
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument(
        "--users", type=int, default=None, help="default: one per 20 videos, at least 5,000"
    )
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--reset", action="store_true", help="drop the public schema first")
    parser.add_argument("--no-plans", action="store_true", help="timings only")
    parser.add_argument(
        "--only", action="append", default=[], help="run only the cases whose name contains this"
    )
    args = parser.parse_args()
    if not args.url.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
        parser.error("the benchmark needs PostgreSQL")
    args.url = Settings(database_url=args.url).database_url
    migrate(args.url, args.reset)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()

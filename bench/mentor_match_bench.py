"""Benchmark: mentor recommendations (and the mentor directory) over 10,000 mentors.

Seeds a PostgreSQL database (given by URL) with mentors, their skills, a mentee with skills,
interests and a few open requests, all with set-based SQL, runs VACUUM (ANALYZE), then calls
the real service functions (`peal.mentors.matching.recommend`, `peal.mentors.service`) as the
API does and prints, for each case, the timing of the whole call and the EXPLAIN (ANALYZE,
BUFFERS) plan of every statement it ran.

    .venv/bin/python bench/mentor_match_bench.py \\
        postgresql://postgres@127.0.0.1:5432/peal_mentors_bench [--mentors 10000] [--reset]

`--reset` drops and recreates the database's public schema first (then migrates): use a
database of its own. Prints figures only; nothing asserts timings (machines are noisy).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from videos_bench import Capture, measure, migrate  # noqa: E402

from peal.config import Settings  # noqa: E402
from peal.core.schemas import PageParams  # noqa: E402
from peal.db import Database  # noqa: E402
from peal.mentors import matching, service  # noqa: E402
from peal.mentors.schemas import MatchCriteria  # noqa: E402
from peal.users.models import User  # noqa: E402

SKILLS = 200  # vocabulary: 'skill 0' .. 'skill 199'
CITIES = 40

SEED_SQL = [
    # Mentors' people: 1 in 20 private, 1 in 500 banned (never suggested).
    """
    INSERT INTO users (id, email, name, role, bio, location, is_public, email_verified,
                       is_banned, created_at, updated_at)
    SELECT gen_random_uuid(), 'mentor' || g || '@bench.peal.app', 'Bench Mentor ' || g,
           CASE WHEN g % 3 = 0 THEN 'woman' ELSE 'sponsor' END,
           'Mentor number ' || g || ': business, money and courage.',
           'City ' || (g % :cities) || ', Country', g % 20 <> 0, true, g % 500 = 0,
           now() - interval '300 days' + g * interval '1 minute', now()
    FROM generate_series(1, :mentors) AS g
    """,
    # Profiles: 1 in 10 unavailable, 1 in 4 busy, 1 in 5 full (current = max).
    """
    INSERT INTO mentor_profiles (id, user_id, bio, availability, years_experience, max_mentees,
                                 current_mentees_count, accepts_remote, created_at, updated_at)
    SELECT gen_random_uuid(), u.id, 'I mentor on ' || u.name,
           CASE WHEN n % 10 = 0 THEN 'unavailable' WHEN n % 4 = 0 THEN 'busy'
                ELSE 'available' END,
           CASE WHEN n % 7 = 0 THEN NULL ELSE n % 31 END,
           1 + n % 10, CASE WHEN n % 5 = 0 THEN 1 + n % 10 ELSE (n * 7) % (1 + n % 10) END,
           n % 5 <> 0, u.created_at, now()
    FROM (SELECT id, name, created_at,
                 row_number() OVER (ORDER BY created_at, id) AS n
          FROM users WHERE email LIKE 'mentor%@bench.peal.app') AS u
    """,
    # 3 to 6 skills per mentor from the vocabulary (popular ones more often).
    """
    INSERT INTO mentor_skills (id, mentor_id, skill, created_at)
    SELECT DISTINCT ON (p.id, s.skill) gen_random_uuid(), p.id, s.skill, now()
    FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM mentor_profiles) p
    CROSS JOIN LATERAL (
        SELECT 'skill ' || ((p.n * 37 + k * k * 13 + k * 101) % (CASE WHEN k < 2 THEN 20
                                                                    ELSE :skills END)) AS skill
        FROM generate_series(0, 2 + p.n % 4) AS k
    ) s
    ON CONFLICT DO NOTHING
    """,
    # The mentee: 3 skills, 4 interests, in City 3.
    """
    INSERT INTO users (id, email, name, role, location, is_public, email_verified, is_banned,
                       created_at, updated_at)
    VALUES (gen_random_uuid(), 'mentee@bench.peal.app', 'Bench Mentee', 'woman',
            'City 3, Country', true, true, false, now(), now())
    """,
    """
    INSERT INTO user_skills (id, user_id, skill, created_at)
    SELECT gen_random_uuid(), u.id, s, now()
    FROM users u, unnest(ARRAY['skill 1', 'skill 7', 'skill 42']) AS s
    WHERE u.email = 'mentee@bench.peal.app'
    """,
    """
    INSERT INTO user_interests (id, user_id, interest, created_at)
    SELECT gen_random_uuid(), u.id, s, now()
    FROM users u, unnest(ARRAY['skill 3', 'skill 11', 'skill 19', 'skill 150']) AS s
    WHERE u.email = 'mentee@bench.peal.app'
    """,
    # A plain woman with nothing: no skills, interests or place.
    """
    INSERT INTO users (id, email, name, role, is_public, email_verified, is_banned,
                       created_at, updated_at)
    VALUES (gen_random_uuid(), 'plain@bench.peal.app', 'Plain Woman', 'woman', true, true,
            false, now(), now())
    """,
    # The mentee's requests: 10 pending, 10 rejected long ago (suggested again).
    """
    INSERT INTO mentor_connections (id, mentor_id, mentee_id, status, created_at, updated_at)
    SELECT gen_random_uuid(), p.id, u.id, CASE WHEN p.n % 2 = 0 THEN 'pending' ELSE 'rejected' END,
           now(), now() - interval '60 days'
    FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM mentor_profiles
          WHERE availability = 'available' LIMIT 20) p,
         users u
    WHERE u.email = 'mentee@bench.peal.app'
    """,
]


async def seed(engine: AsyncEngine, mentors: int) -> None:
    async with engine.begin() as conn:
        existing = await conn.scalar(text("SELECT count(*) FROM mentor_profiles"))
    if existing:
        print(f"already seeded: {existing} mentors (use --reset to start again)")
        return
    started = time.perf_counter()
    sizes = {"mentors": mentors, "cities": CITIES, "skills": SKILLS}
    async with engine.begin() as conn:
        for statement in SEED_SQL:
            step = time.perf_counter()
            result = await conn.execute(text(statement), sizes if ":" in statement else {})
            first_line = " ".join(statement.split())[:70]
            rows = result.rowcount if result.rowcount and result.rowcount > 0 else 0
            print(f"  {time.perf_counter() - step:6.2f} s  {rows:>9} rows  {first_line}")
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM (ANALYZE)"))
    print(f"seeded and analysed in {time.perf_counter() - started:.1f} s")


async def run(args: argparse.Namespace) -> None:
    database = Database(Settings(database_url=args.url))
    engine = database.engine
    await seed(engine, args.mentors)
    async with engine.connect() as conn:
        counts = await conn.execute(
            text(
                "SELECT (SELECT count(*) FROM mentor_profiles), (SELECT count(*) FROM "
                "mentor_skills), (SELECT count(*) FROM mentor_profiles WHERE "
                "current_mentees_count >= max_mentees), (SELECT count(*) FROM mentor_connections)"
            )
        )
        profiles, skills, full, connections = counts.one()
    print(f"rows: mentors={profiles} skills={skills} full={full} connections={connections}")

    async with database.sessionmaker() as session:
        mentee = (
            await session.scalars(select(User).where(User.email == "mentee@bench.peal.app"))
        ).one()
        plain = (
            await session.scalars(select(User).where(User.email == "plain@bench.peal.app"))
        ).one()
        session.expunge_all()

    def recommend(who: User, criteria: MatchCriteria | None = None, limit: int = 10) -> Any:
        async def case(session: AsyncSession) -> Any:
            return await matching.recommend(session, who, None, criteria, limit)

        return case

    def directory(**filters: Any) -> Any:
        async def case(session: AsyncSession) -> Any:
            return await service.list_mentors(
                session, None, service.MentorFilters(**filters), PageParams(page=1, limit=20)
            )

        return case

    criteria = MatchCriteria(
        skills=["skill 5", "skill 77"], location="City 9, Country", min_experience=5
    )
    cases = [
        ("recommendations: mentee with 7 terms, limit 10", recommend(mentee)),
        ("recommendations: mentee with 7 terms, limit 50", recommend(mentee, limit=50)),
        ("recommendations: plain woman (no terms, no place)", recommend(plain)),
        ("match: criteria (2 skills, another city, minExperience 5)", recommend(mentee, criteria)),
        ("directory: newest 20", directory()),
        ("directory: skill=skill 7", directory(skill="skill 7")),
        ("directory: search=mentor number 77", directory(search="mentor number 77")),
    ]
    capture = Capture(engine)
    for name, case in cases:
        await measure(database, capture, name, case, args.runs, plans=not args.no_plans)
    await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("url", help="postgresql://user@host:port/database (a database of its own)")
    parser.add_argument("--mentors", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--reset", action="store_true", help="drop the public schema first")
    parser.add_argument("--no-plans", action="store_true", help="timings only")
    args = parser.parse_args()
    if not args.url.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
        parser.error("the benchmark needs PostgreSQL")
    args.url = Settings(database_url=args.url).database_url
    migrate(args.url, args.reset)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()

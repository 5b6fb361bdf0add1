"""Benchmark: the hot reads of the API against a raw-driver ceiling.

For each hot read (the video list anonymous and signed in, trending, the signed-in feed, the
funding request list, a user profile) it measures the API (`peal serve`, one process) and a
raw baseline: a bare Starlette + asyncpg server, written once here, that sends the very same
SQL statements the API sends for that request (captured from the API's engine) and serialises
the rows it gets to JSON. Both are driven the same way, in alternating rounds:

- closed loop at saturation: `wrk` (16 connections) for `--duration` seconds -> requests/s;
- open loop at a fixed rate (80% of the API's own saturation rate): latency p50/p99 measured
  from each request's scheduled start, so queueing is counted (no coordinated omission).

    .venv/bin/python bench/hot_reads.py postgresql://postgres@127.0.0.1:5432/peal_bench \\
        [--seed --videos 100000] [--duration 10] [--rounds 2] [--server uvicorn|granian] \\
        [--before /path/to/a/checkout/of/main] [--only trending --only profile]

`--before` measures a second API, `peal` from that checkout's `src/`, in the same alternating
rounds (before/after figures from one run). `BENCH_PORTS=42000-42099` keeps servers in a range.

`--seed` drops and recreates the database's public schema, migrates, and fills it with
bench/videos_bench.py's data set plus funding requests: use a database of its own.
Prints figures only; nothing asserts timings (machines are noisy). Needs `wrk` (Debian).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from harness import (  # noqa: E402  (bench/'s shared helpers)
    PASSWORD,
    free_port,
    open_loop_get,
    percentile,
    wait_healthy,
    wrk_rate,
)

CONNECTIONS = 16


@dataclass
class Case:
    name: str
    path: str
    signed_in: bool
    statements: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)


# --- data ---------------------------------------------------------------------------------

FUNDING_SQL = """
INSERT INTO funding_requests (id, title, description, category, goal_amount, current_amount,
                              supporters_count, status, deadline, author_id, created_at,
                              updated_at)
SELECT gen_random_uuid(), 'Help me grow my business ' || g,
       'A plan, a budget and a deadline: request ' || g || '.',
       (ARRAY['business', 'education', 'health', 'community'])[1 + g % 4],
       1000 + (g % 50) * 100, 0, 0, 'active', current_date + 60, u.id,
       now() - (g::float8 / :requests) * interval '60 days', now()
FROM generate_series(1, :requests) AS g
JOIN (SELECT id, row_number() OVER (ORDER BY id) AS n FROM users
      WHERE email LIKE '%@bench.peal.app' AND is_public AND NOT is_banned) u
  ON u.n = 1 + (g * 13) % 1000
"""


async def seed(url: str, videos: int, users: int) -> None:
    import videos_bench
    from sqlalchemy import text

    from peal.config import Settings
    from peal.db import Database

    settings = Settings(database_url=url)
    await asyncio.to_thread(videos_bench.migrate, settings.database_url, True)
    database = Database(settings)
    sizes = {
        "categories": videos_bench.CATEGORIES,
        "tag_vocabulary": videos_bench.TAG_VOCABULARY,
        "users": users,
        "videos": videos,
        "likes": videos * 3,
        "views": videos * 5,
        "comments": videos,
        "shares": videos // 2,
    }
    await videos_bench.seed(database.engine, sizes)
    async with database.engine.begin() as conn:
        await conn.execute(text(FUNDING_SQL), {"requests": max(1000, videos // 50)})
    await videos_bench.vacuum(database.engine)
    async with database.sessionmaker() as session:
        from peal.videos import ranking

        await ranking.recompute_trending(session, settings)
        await session.commit()
    await videos_bench.analyze(database.engine)
    await database.dispose()


async def viewer(url: str) -> tuple[str, str]:
    """The bench user who follows the most creators (a full feed), with a known password."""
    from sqlalchemy import text

    from peal.config import Settings
    from peal.core.security import PasswordHashing
    from peal.db import Database

    settings = Settings(database_url=url)
    database = Database(settings)
    async with database.sessionmaker() as session:
        row = (
            await session.execute(
                text(
                    "SELECT u.id, u.email FROM users u JOIN user_follows f ON f.follower_id = u.id"
                    " WHERE u.email LIKE '%@bench.peal.app' AND u.is_public AND NOT u.is_banned"
                    " GROUP BY u.id ORDER BY count(*) DESC, u.id LIMIT 1"
                )
            )
        ).one()
        password_hash = await PasswordHashing(settings).hash(PASSWORD)
        await session.execute(
            text("UPDATE users SET password_hash = :h WHERE id = :id"),
            {"h": password_hash, "id": row.id},
        )
        await session.commit()
    await database.dispose()
    return str(row.id), str(row.email)


# --- the two servers ----------------------------------------------------------------------


def server_env(url: str) -> dict[str, str]:
    env = {
        **os.environ,
        "NODE_ENV": "development",
        "DATABASE_URL": url,
        "RATE_LIMIT_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "IN_PROCESS_SCHEDULER": "false",
        "OUTBOX_RELAY_SECONDS": "0",
        # Fixed secrets: a development secret is generated per working directory, and the API
        # (in its temporary directory) must accept the tokens this process signs.
        "JWT_SECRET": "hot-reads-bench-access-secret-0123456789abcdef",
        "JWT_REFRESH_SECRET": "hot-reads-bench-refresh-secret-0123456789abcdef",
    }
    env.pop("REDIS_URL", None)
    return env


def start_api(
    url: str, port: int, server: str, workdir: Path, source: Path | None = None
) -> subprocess.Popen[bytes]:
    """`peal serve` on `port`; with `source`, the `peal` package of that checkout's `src/`
    (e.g. a `git worktree` of main) instead of this one, for before/after rounds."""
    env = server_env(url)
    if source is not None:
        env["PYTHONPATH"] = str(source / "src")
        command = [sys.executable, "-m", "peal.cli", "serve", "--port", str(port)]
        return subprocess.Popen(command, env=env, cwd=workdir, stdout=subprocess.DEVNULL)  # noqa: S603
    if server == "granian":
        command = [
            str(Path(sys.executable).with_name("granian")), "--interface", "asgi", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop",
            "peal.main:create_served_app",
        ]  # fmt: skip
    else:
        command = [str(Path(sys.executable).with_name("peal")), "serve", "--port", str(port)]
    return subprocess.Popen(command, env=env, cwd=workdir, stdout=subprocess.DEVNULL)  # noqa: S603


def start_baseline(
    url: str, port: int, cases: list[Case], workdir: Path, plan_cache_mode: str
) -> subprocess.Popen[bytes]:
    spec = workdir / "baseline.json"
    spec.write_text(
        json.dumps(
            {
                "url": url,
                "plan_cache_mode": plan_cache_mode,
                "cases": {c.path: [[s, list(p)] for s, p in c.statements] for c in cases},
            },
            default=str,
        )
    )
    return subprocess.Popen(  # noqa: S603
        [sys.executable, __file__, "--baseline-server", str(port), str(spec)],
        stdout=subprocess.DEVNULL,
    )


def run_baseline_server(port: int, spec_path: str) -> None:
    """The ceiling: asyncpg straight to the same SQL, rows to JSON, nothing else."""
    import asyncpg
    import uvicorn
    from sqlalchemy.engine import make_url
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    spec = json.loads(Path(spec_path).read_text())
    dsn = make_url(spec["url"]).set(drivername="postgresql").render_as_string(False)
    cases: dict[str, list[tuple[str, list[Any]]]] = spec["cases"]
    pool: asyncpg.Pool | None = None

    async def startup() -> None:
        nonlocal pool
        # By default the API's connection settings (peal.db.create_engine): custom plans
        # every run; `--raw-plans auto` measures it with PostgreSQL's generic plans allowed.
        pool = await asyncpg.create_pool(
            dsn,
            min_size=4,
            max_size=10,
            server_settings={"plan_cache_mode": spec["plan_cache_mode"]},
        )

    async def decode_parameters(conn: asyncpg.Connection, sql: str, raw: list[Any]) -> list[Any]:
        # Parameters travelled as JSON text: let the server say each one's type, then convert.
        statement = await conn.prepare(sql)
        values = []
        for kind, value in zip(statement.get_parameters(), raw, strict=True):
            values.append(_from_json(kind.name, value))
        return values

    prepared: dict[str, list[tuple[str, list[Any]]]] = {}

    async def endpoint(request: Request) -> Response:
        assert pool is not None
        key = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        async with pool.acquire() as conn:
            if key not in prepared:
                prepared[key] = [
                    (sql, await decode_parameters(conn, sql, raw)) for sql, raw in cases[key]
                ]
            results = [await conn.fetch(sql, *values) for sql, values in prepared[key]]
        body = json.dumps(
            {"data": [dict(row) for rows in results for row in rows]}, default=str
        ).encode()
        return Response(body, media_type="application/json")

    routes = [Route(path.split("?")[0], endpoint) for path in cases]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await startup()
        yield

    app = Starlette(routes=routes, lifespan=lifespan)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _from_json(kind: str, value: Any) -> Any:
    import datetime
    import uuid

    if value is None:
        return None
    if kind == "uuid":
        return uuid.UUID(value)
    if kind in ("timestamptz", "timestamp"):
        return datetime.datetime.fromisoformat(value)
    if kind == "date":
        return datetime.date.fromisoformat(value)
    if kind == "_uuid":
        return [uuid.UUID(v) for v in value]
    return value


async def capture_statements(url: str, cases: list[Case], token: str) -> None:
    """Run each case once through the app in this process and record the SQL it sends."""
    import httpx
    from sqlalchemy import event

    os.environ.update(server_env(url))
    from peal.config import Settings
    from peal.main import create_app

    app = create_app(Settings())
    recording: list[tuple[str, tuple[Any, ...]]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.strip().upper().startswith(("SELECT", "WITH")):
            recording.append((statement, tuple(parameters or ())))

    event.listen(app.state.db.engine.sync_engine, "before_cursor_execute", record)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for case in cases:
                recording.clear()
                headers = {"Authorization": f"Bearer {token}"} if case.signed_in else {}
                answer = await client.get(case.path, headers=headers)
                answer.raise_for_status()
                # The per-request user lookup of a signed-in call is part of the work too.
                case.statements = list(recording)


# --- load --------------------------------------------------------------------------------


def wrk(base: str, case: Case, token: str, duration: int) -> float:
    headers = [f"Authorization: Bearer {token}"] if case.signed_in else []
    return wrk_rate(base + case.path, CONNECTIONS, duration, headers)


async def open_loop(base: str, case: Case, token: str, rate: float, duration: int) -> list[float]:
    """Requests started on a fixed schedule whatever the answers; latency from the schedule."""
    headers = {"Authorization": f"Bearer {token}"} if case.signed_in else {}
    result = await open_loop_get(base, case.path, headers, rate, duration)
    if result.failures:
        print(f"  ({result.failures} open-loop requests failed)", flush=True)
    print(f"  (the open-loop client used {result.client_cpu / duration:.0%} of a core)", flush=True)
    return result.latencies


async def run(args: argparse.Namespace) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("needs wrk (apt-get install wrk)")
    if args.seed:
        print(f"seeding {args.videos} videos ...", flush=True)
        await seed(args.url, args.videos, args.users)
    viewer_id, viewer_email = await viewer(args.url)
    cases = [
        Case("videos, anonymous", "/api/videos?limit=20", signed_in=False),
        Case("videos, signed in", "/api/videos?limit=20", signed_in=True),
        Case("trending", "/api/videos/trending", signed_in=False),
        Case("feed, signed in", "/api/videos/feed?limit=20", signed_in=True),
        Case("funding requests", "/api/requests?limit=20", signed_in=False),
        Case("user profile", f"/api/users/{viewer_id}", signed_in=False),
    ]
    if args.only:
        cases = [case for case in cases if any(part in case.name for part in args.only)]
    workdir = Path(tempfile.mkdtemp(prefix="peal-hot-reads-"))
    api_port, raw_port = free_port(), free_port()
    api_base, raw_base = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{raw_port}"
    api = start_api(args.url, api_port, args.server, workdir)
    before: subprocess.Popen[bytes] | None = None
    before_base = None
    if args.before:
        before_port = free_port()
        before_base = f"http://127.0.0.1:{before_port}"
        before = start_api(args.url, before_port, args.server, workdir, Path(args.before))
    try:
        wait_healthy(api_base, "/health")
        if before_base:
            wait_healthy(before_base, "/health")
        import httpx

        login = await asyncio.to_thread(
            httpx.post,
            f"{api_base}/api/auth/login",
            json={"email": viewer_email, "password": PASSWORD},
        )
        login.raise_for_status()
        token = login.json()["accessToken"]
        await capture_statements(args.url, cases, token)
        raw = start_baseline(args.url, raw_port, cases, workdir, args.raw_plans)
        try:
            wait_healthy(raw_base, cases[0].path)
            await measure(args, cases, token, api_base, raw_base, before_base)
        finally:
            raw.send_signal(signal.SIGTERM)
            raw.wait(10)
    finally:
        for server in (api, before):
            if server is not None:
                server.send_signal(signal.SIGTERM)
                server.wait(10)


async def measure(
    args: argparse.Namespace,
    cases: list[Case],
    token: str,
    api_base: str,
    raw_base: str,
    before_base: str | None = None,
) -> None:
    apis = [("API", api_base)]
    if before_base:
        # The checkout given by --before, measured in the same alternating rounds.
        apis = [("before", before_base), ("after", api_base)]
    print(
        f"hot reads: {os.cpu_count()} CPUs, 1 {args.server} process vs Starlette + asyncpg, "
        f"wrk -c{CONNECTIONS} {args.duration}s x {args.rounds} alternating rounds"
        + (f"; before = {args.before}" if before_base else "")
    )
    header = (
        f"{'case':<20} {'api':<6} {'stmts':>5} {'API req/s':>10} {'raw req/s':>10} {'ratio':>6}"
        f" {'open-loop rate':>14} {'p50 ms':>7} {'p99 ms':>7}"
    )
    print(header)
    print("-" * len(header))
    for case in cases:
        api_rates: dict[str, list[float]] = {name: [] for name, _ in apis}
        raw_rates = []
        for _ in range(args.rounds):  # alternating, so drift hits all alike
            for name, base in apis:
                wrk(base, case, token, 2)  # warm-up
                api_rates[name].append(wrk(base, case, token, args.duration))
            wrk(raw_base, case, token, 2)
            raw_rates.append(wrk(raw_base, case, token, args.duration))
        raw_rate = statistics.median(raw_rates)
        for name, base in apis:
            api_rate = statistics.median(api_rates[name])
            rate = 0.8 * api_rate
            latencies = await open_loop(base, case, token, rate, args.duration)
            ms = [value * 1000 for value in latencies]
            print(
                f"{case.name:<20} {name:<6} {len(case.statements):>5} {api_rate:>10.0f}"
                f" {raw_rate:>10.0f} {api_rate / raw_rate:>6.0%} {rate:>11.0f}/s"
                f" {statistics.median(ms):>7.1f} {percentile(ms, 0.99):>7.1f}",
                flush=True,
            )


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--baseline-server":
        run_baseline_server(int(sys.argv[2]), sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="postgresql://user@host:port/database (a database of its own)")
    parser.add_argument("--seed", action="store_true", help="reset and fill the database first")
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--only", action="append", metavar="NAME", help="only the cases whose name has NAME"
    )
    parser.add_argument(
        "--raw-plans",
        choices=["force_custom_plan", "auto"],
        default="force_custom_plan",
        help="the baseline's plan_cache_mode (default: the API's)",
    )
    parser.add_argument("--server", choices=["uvicorn", "granian"], default="uvicorn")
    parser.add_argument(
        "--before",
        metavar="CHECKOUT",
        help="also measure the API of another checkout (e.g. a worktree of main), alternating",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

"""Benchmark: what the API's stack costs a route before the route's own work.

It serves the app `peal serve` runs (`create_served_app`, one uvicorn process), with three
routes put in front of the others (so routing costs them nothing). Alongside it runs a bare
Starlette + asyncpg server. `wrk` (16 connections) drives each route in alternating rounds:

- `plain`: the handler returns a small model. This is uvicorn, the middlewares, one route
  and the response.
- `session + caller`: the same, plus the request's session and its caller (`SessionDep`,
  `OptionalUser`, `@read_only`), anonymous. Every read route pays this before its first
  statement.
- `one SELECT 1`: the same, plus `SELECT 1` through the session. This is the first statement
  of a request: the connection's checkout and ping, the execution, the release.
- `raw SELECT 1`: Starlette + asyncpg, `SELECT 1`, the same JSON. This is the driver's floor.

It prints requests/s and the time one request costs the process: 1/rate, since wrk
saturates it. So a hot read whose raw baseline (`hot_reads.py`) costs 0.25 ms is held below
50% of it as soon as one statement through the stack costs more than 0.5 ms, whatever the
route does.

    .venv/bin/python bench/stack_floor.py postgresql://postgres@127.0.0.1:5432/peal_bench \\
        [--duration 8] [--rounds 2]

The database must be migrated (any `hot_reads.py` or `videos_bench.py` database will do);
nothing is read from or written to it. Prints figures only. Needs `wrk` (Debian).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from harness import free_port, wait_healthy, wrk_rate  # noqa: E402  (bench/'s shared helpers)
from hot_reads import CONNECTIONS, server_env  # noqa: E402

# At module level: the floor's handlers name them in annotations FastAPI resolves.
from peal.auth.dependencies import OptionalUser  # noqa: E402
from peal.core.schemas import CamelModel  # noqa: E402
from peal.deps import SessionDep  # noqa: E402

ROUTES = {
    "plain": "/floor/plain",
    "session + caller": "/floor/session",
    "one SELECT 1": "/floor/select",
}
RAW = "/raw/select"


class Answer(CamelModel):
    ok: bool


def floor_app() -> object:
    """`uvicorn --factory stack_floor:floor_app`: the served app, with the floor's routes first."""
    from sqlalchemy import text

    from peal.db import read_only
    from peal.main import create_served_app

    app = create_served_app()
    before = len(app.router.routes)

    @app.get(ROUTES["plain"])
    async def plain() -> Answer:
        return Answer(ok=True)

    @app.get(ROUTES["session + caller"])
    @read_only
    async def session_and_caller(session: SessionDep, viewer: OptionalUser) -> Answer:
        return Answer(ok=True)

    @app.get(ROUTES["one SELECT 1"])
    @read_only
    async def one_select(session: SessionDep, viewer: OptionalUser) -> Answer:
        await session.execute(text("SELECT 1"))
        return Answer(ok=True)

    added = app.router.routes[before:]
    app.router.routes[:] = added + app.router.routes[:before]
    return app


def run_raw_server(port: int, url: str) -> None:
    """The driver's floor: asyncpg's `SELECT 1`, the same JSON, nothing else."""
    import asyncpg
    import uvicorn
    from sqlalchemy.engine import make_url
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
    pools: list[asyncpg.Pool] = []

    async def select_one(_request: Request) -> Response:
        if not pools:
            pools.append(await asyncpg.create_pool(dsn, min_size=4, max_size=10))
        async with pools[0].acquire() as connection:
            await connection.fetchval("SELECT 1")
        return Response(json.dumps({"ok": True}).encode(), media_type="application/json")

    async def health(_request: Request) -> Response:
        return Response(b"{}", media_type="application/json")

    app = Starlette(routes=[Route(RAW, select_one), Route("/health", health)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="postgresql://user@host:port/database (migrated)")
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    api_port, raw_port = free_port(), free_port()
    workdir = Path(tempfile.mkdtemp(prefix="peal-floor-"))
    env = server_env(args.url) | {"PYTHONPATH": str(ROOT / "bench")}
    api = subprocess.Popen(  # noqa: S603
        [str(Path(sys.executable).with_name("uvicorn")), "--factory", "stack_floor:floor_app",
         "--host", "127.0.0.1", "--port", str(api_port), "--no-access-log",
         "--log-level", "warning"],
        env=env, cwd=workdir, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    raw = subprocess.Popen(  # noqa: S603
        [sys.executable, __file__, "--raw-server", str(raw_port), args.url],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{api_port}")
        wait_healthy(f"http://127.0.0.1:{raw_port}")
        targets = {name: f"http://127.0.0.1:{api_port}{path}" for name, path in ROUTES.items()}
        targets["raw SELECT 1"] = f"http://127.0.0.1:{raw_port}{RAW}"
        for target in targets.values():
            wrk_rate(target, CONNECTIONS, 2)  # warm up: imports, prepared statements, the pools
        rates: dict[str, list[float]] = {name: [] for name in targets}
        for _ in range(args.rounds):
            for name, target in targets.items():
                rates[name].append(wrk_rate(target, CONNECTIONS, args.duration))
    finally:
        for server in (api, raw):
            server.send_signal(signal.SIGTERM)
            server.wait(10)

    print(
        f"stack floor: {os.cpu_count()} CPUs, 1 uvicorn process each, wrk -c{CONNECTIONS} "
        f"{args.duration}s x {args.rounds} alternating rounds"
    )
    print(f"{'route':<20} {'req/s':>8} {'ms/request':>11}  rounds")
    for name, values in rates.items():
        best = max(values)
        rounds = ", ".join(f"{value:.0f}" for value in values)
        print(f"{name:<20} {best:>8.0f} {1000 / best:>11.3f}  {rounds}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--raw-server":
        run_raw_server(int(sys.argv[2]), sys.argv[3])
    else:
        main()

"""Benchmark: does password hashing block the event loop? /health latency during a login storm.

Starts a real uvicorn server (one process) on a free loopback port with a fresh SQLite
database, creates demo accounts, then measures `/health` latency alone and while many
concurrent logins run (each login verifies an argon2id hash). If hashing ran on the event
loop, /health would wait behind every hash; done in worker threads, it stays fast.

    .venv/bin/python bench/login_vs_health.py [--logins 200] [--concurrency 16] \\
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/peal_bench_logins]

`--database-url` runs it on PostgreSQL instead: that database is emptied first (use one of
its own).

Prints figures only; nothing here asserts timings (machines are noisy).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (
    PASSWORD,
    ROOT,
    base_env,
    create_accounts,
    empty_database,
    migrate,
    probe_health,
    running_server,
    separate_health_prober,
    summary,
)


async def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="peal-bench-"))
    env = base_env(workdir)
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
        await empty_database(args.database_url)
    await migrate(env)
    emails = [f"bench{i}@example.com" for i in range(args.accounts)]
    await create_accounts(env, emails)
    command = None
    if args.inline_hashing:
        command = [sys.executable, str(ROOT / "bench" / "inline_hashing_server.py"), "{port}"]
    async with (
        running_server(env, command) as (base, port),
        httpx.AsyncClient(base_url=base, timeout=60) as client,
    ):
        baseline: list[float] = []
        for _ in range(args.health_samples):
            started = time.perf_counter()
            (await client.get("/health")).raise_for_status()
            baseline.append(time.perf_counter() - started)

        stop = asyncio.Event()
        under_load: list[float] = []
        logins: list[float] = []
        queue: asyncio.Queue[str] = asyncio.Queue()
        for i in range(args.logins):
            queue.put_nowait(emails[i % len(emails)])

        async def login_worker() -> None:
            while not queue.empty():
                email = queue.get_nowait()
                started = time.perf_counter()
                response = await client.post(
                    "/api/auth/login", json={"email": email, "password": PASSWORD}
                )
                response.raise_for_status()
                logins.append(time.perf_counter() - started)

        async with separate_health_prober(port) as separate:
            prober = asyncio.create_task(probe_health(client, stop, under_load))
            started = time.perf_counter()
            await asyncio.gather(*(login_worker() for _ in range(args.concurrency)))
            elapsed = time.perf_counter() - started
            stop.set()
            await prober

    mode = "ON the event loop (control group)" if args.inline_hashing else "in worker threads"
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(f"PEAL login storm vs /health ({os.cpu_count()} CPUs, {database}, 1 uvicorn process)")
    print(f"password hashing: {mode}")
    print(f"logins: {args.logins} with concurrency {args.concurrency}")
    print(summary("/health alone", baseline))
    print(summary("/health during logins", under_load))
    # The same server, probed from a process of its own: without the lag of this process's
    # event loop, busy with its own concurrent logins.
    print(summary("  from another process", separate))
    print(summary("login", logins))
    print(f"login throughput: {args.logins / elapsed:.1f}/s over {elapsed:.2f} s")
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--health-samples", type=int, default=200)
    parser.add_argument(
        "--database-url", help="a PostgreSQL bench database, emptied first (default: SQLite)"
    )
    parser.add_argument(
        "--inline-hashing",
        action="store_true",
        help="control group: hash on the event loop, to see what the worker threads save",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

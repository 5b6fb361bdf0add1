"""Benchmark: the ceiling of one hot row in PostgreSQL itself, without the app.

`--concurrency` connections run transactions shaped like a donation, for `--seconds` each:

- `update only`: BEGIN; UPDATE the counter row; COMMIT. The most one row takes: every
  transaction waits for the previous one's commit (its WAL flush) before its UPDATE.
- `lock last`: BEGIN; `--statements` inserts (the donation, supporter, notification rows);
  UPDATE the counter; COMMIT. The row lock is held from the UPDATE to the commit only.
- `lock first`: BEGIN; SELECT the row FOR UPDATE; the same inserts; UPDATE; COMMIT. The
  lock is held for the whole transaction (how donations were made before).

    .venv/bin/python bench/hot_row_ceiling.py postgresql://postgres@127.0.0.1:5432/peal_bench \\
        [--concurrency 32] [--seconds 5] [--statements 8]

Works in a schema of its own (`hot_row_ceiling`, dropped at the end). Prints figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import asyncpg


async def setup(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "DROP SCHEMA IF EXISTS hot_row_ceiling CASCADE; CREATE SCHEMA hot_row_ceiling"
        )
        await conn.execute(
            "CREATE TABLE hot_row_ceiling.counter (id int PRIMARY KEY, "
            "total numeric(14, 2) NOT NULL, n int NOT NULL); "
            "INSERT INTO hot_row_ceiling.counter VALUES (1, 0, 0); "
            "CREATE TABLE hot_row_ceiling.side (id bigserial PRIMARY KEY, "
            "counter_id int REFERENCES hot_row_ceiling.counter(id), note text)"
        )
    finally:
        await conn.close()


async def run_mode(dsn: str, mode: str, concurrency: int, seconds: float, statements: int) -> float:
    connections = [await asyncpg.connect(dsn) for _ in range(concurrency)]
    done = 0
    stop_at = time.perf_counter() + seconds

    async def loop(conn: asyncpg.Connection) -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            async with conn.transaction():
                if mode == "lock first":
                    await conn.execute(
                        "SELECT 1 FROM hot_row_ceiling.counter WHERE id = 1 FOR UPDATE"
                    )
                if mode != "update only":
                    for _ in range(statements):
                        await conn.execute(
                            "INSERT INTO hot_row_ceiling.side (counter_id, note) VALUES (1, 'x')"
                        )
                await conn.execute(
                    "UPDATE hot_row_ceiling.counter SET total = total + 1.01, n = n + 1 "
                    "WHERE id = 1"
                )
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(conn) for conn in connections))
    elapsed = time.perf_counter() - started
    for conn in connections:
        await conn.close()
    return done / elapsed


async def main(args: argparse.Namespace) -> None:
    dsn = args.url.replace("postgresql+asyncpg://", "postgresql://")
    await setup(dsn)
    try:
        for mode in ("update only", "lock last", "lock first"):
            load = os.getloadavg()[0]
            rate = await run_mode(dsn, mode, args.concurrency, args.seconds, args.statements)
            print(
                f"{mode:<12} {rate:8.0f} transactions/s  (concurrency {args.concurrency}, "
                f"{args.statements} other statements, load average {load:.2f})"
            )
    finally:
        conn = await asyncpg.connect(dsn)
        await conn.execute("DROP SCHEMA IF EXISTS hot_row_ceiling CASCADE")
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--statements", type=int, default=8)
    asyncio.run(main(parser.parse_args()))

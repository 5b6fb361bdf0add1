"""Benchmark: the ceiling of the single-row totals UPDATE that every donation ends with.

Raw asyncpg, no API: `--concurrency` connections each run BEGIN; UPDATE funding_requests SET
current_amount = current_amount + 0.01, supporters_count = supporters_count + 0 WHERE id = $1
RETURNING status; COMMIT on one row of a scratch table, for `--duration` seconds, and print
transactions/s. Compare with `donations_bench.py`: if the API is far below this, the row lock
is not what limits donations.

    .venv/bin/python bench/donation_row_ceiling.py postgresql://postgres@127.0.0.1:5432/peal_bench
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import asyncpg


async def main(url: str, concurrency: int, duration: float) -> None:
    setup = await asyncpg.connect(url)
    await setup.execute(
        "CREATE TABLE IF NOT EXISTS bench_row_ceiling (id int PRIMARY KEY, "
        "current_amount numeric(12, 2) NOT NULL, supporters_count int NOT NULL, "
        "status varchar(50) NOT NULL)"
    )
    await setup.execute(
        "INSERT INTO bench_row_ceiling VALUES (1, 0, 0, 'active') ON CONFLICT (id) DO NOTHING"
    )
    done = 0
    stop = time.perf_counter() + duration

    async def worker() -> None:
        nonlocal done
        conn = await asyncpg.connect(url)
        try:
            while time.perf_counter() < stop:
                async with conn.transaction():
                    await conn.fetchval(
                        "UPDATE bench_row_ceiling SET current_amount = current_amount + 0.01, "
                        "supporters_count = supporters_count + 0 WHERE id = 1 RETURNING status"
                    )
                done += 1
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await setup.execute("DROP TABLE bench_row_ceiling")
    await setup.close()
    print(
        f"single-row totals UPDATE: {done / elapsed:.0f} transactions/s "
        f"(concurrency {concurrency}, {elapsed:.1f} s, load average {os.getloadavg()[0]:.2f})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.url, args.concurrency, args.duration))

"""Benchmark (issue 8 item 4): a login burst spread over many client IPs vs /health and a real
user's login, on PostgreSQL.

800 logins from 80 client IPs (X-Forwarded-For, with TRUSTED_PROXIES=127.0.0.1), each IP under
its per-IP auth limit, all fired at once at one uvicorn process with rate limits on. Meanwhile
/health is probed every 10 ms and, half a second in, a real user signs in from another IP.
Before the fix each waiting login held a pooled connection while queued for the hash limiter:
/health answered 503 and the real login took 26 s.

    .venv/bin/python bench/attack_logins.py \\
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/peal_sec_sessions_bench

The database named is emptied (schema dropped) and migrated first: give it a bench database.
Prints figures only.
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
    base_env,
    create_accounts,
    empty_database,
    migrate,
    probe_health,
    running_server,
    summary,
)


async def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="peal-bench-"))
    env = base_env(
        workdir,
        DATABASE_URL=args.database_url,
        RATE_LIMIT_ENABLED="true",
        TRUSTED_PROXIES="127.0.0.1",
    )
    await empty_database(args.database_url)
    await migrate(env)
    per_ip = args.logins // args.ips
    emails = [f"bench{i}@example.com" for i in range(args.ips)]
    real_user = "real-user@example.com"
    await create_accounts(env, [*emails, real_user])

    limits = httpx.Limits(max_connections=args.logins + 10, max_keepalive_connections=50)
    async with (
        running_server(env) as (base, _port),
        httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as attacker,
        httpx.AsyncClient(base_url=base, timeout=120) as probe,
    ):
        statuses: list[int] = []
        outcomes: dict[int, int] = {}
        health: list[float] = []
        real_login: list[float] = []

        async def one_login(ip_index: int) -> None:
            # Each IP signs in to its own account: under the per-IP and per-account limits.
            response = await attacker.post(
                "/api/auth/login",
                json={"email": emails[ip_index], "password": PASSWORD},
                headers={"X-Forwarded-For": f"10.8.{ip_index // 250}.{ip_index % 250 + 1}"},
            )
            outcomes[response.status_code] = outcomes.get(response.status_code, 0) + 1

        async def the_real_user() -> None:
            # As the web client does: a 503 `busy` is retried after its Retry-After.
            await asyncio.sleep(0.5)
            started = time.perf_counter()
            answers = []
            for _ in range(60):
                attempt = time.perf_counter()
                response = await probe.post(
                    "/api/auth/login",
                    json={"email": real_user, "password": PASSWORD},
                    headers={"X-Forwarded-For": "192.0.2.200"},
                )
                answers.append(f"{response.status_code} in {time.perf_counter() - attempt:.2f} s")
                if response.status_code != 503:
                    break
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
            real_login.append(time.perf_counter() - started)
            print(f"real user's login attempts: {', '.join(answers)}")

        stop = asyncio.Event()
        prober = asyncio.create_task(probe_health(probe, stop, health, statuses))
        started = time.perf_counter()
        await asyncio.gather(
            *(one_login(n % args.ips) for n in range(per_ip * args.ips)), the_real_user()
        )
        elapsed = time.perf_counter() - started
        stop.set()
        await prober

    print(f"PEAL login burst vs /health ({os.cpu_count()} CPUs, PostgreSQL, 1 uvicorn process)")
    print(f"logins: {per_ip * args.ips} from {args.ips} client IPs ({per_ip} each), all at once")
    print(f"login answers: {dict(sorted(outcomes.items()))} in {elapsed:.2f} s")
    print(summary("/health during the burst", health))
    print(summary("real user's login (retries)", real_login))
    unavailable = sum(1 for status in statuses if status == 503)
    print(f"/health answered 503: {'yes' if unavailable else 'never'} ({unavailable} times)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL bench database")
    parser.add_argument("--logins", type=int, default=800)
    parser.add_argument("--ips", type=int, default=80)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

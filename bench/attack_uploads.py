"""Benchmark: can stalled uploads empty the connection pool? /health during a slowloris PUT.

Replays issue 8 item 3 against a real uvicorn server on PostgreSQL: one account asks for 22
upload URLs, then 22 PUTs send their headers and 12 bytes of body and stall. Meanwhile
/health is probed and a list (`GET /api/videos`) is asked for every second. Before the fix
each stalled PUT held a pooled connection (pool 10 + overflow 10): /health went 503 within
2 s and lists failed with 500 "QueuePool limit" after 30 s.

    .venv/bin/python bench/attack_uploads.py \\
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/peal_bench_uploads] \\
        [--stall 40] [--idle-timeout 30]

The database's `public` schema is dropped and rebuilt: give it a database of its own.
Prints figures only; nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from harness import (
    PASSWORD,
    base_env,
    create_accounts,
    empty_database,
    free_port,
    migrate,
    running_server,
    summary,
)

EMAIL = "attacker@example.com"
HEAD_12 = b"\x00\x00\x00\x18ftypisom"  # 12 bytes: the start of an MP4


async def stalled_put(upload_url: str, stalled: asyncio.Event) -> str:
    """Headers and 12 bytes of a 10 MB body, then nothing: the server's answer, if any."""
    parts = urlsplit(upload_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    request = (
        f"PUT {parts.path}?{parts.query} HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\n"
        "Content-Type: video/mp4\r\n"
        "Content-Length: 10000000\r\n\r\n"
    ).encode()
    writer.write(request + HEAD_12)
    await writer.drain()
    stalled.set()
    try:
        status_line = await reader.readline()  # the server's answer when it gives up on us
        return status_line.decode().split(" ", 2)[1] if status_line else "closed"
    except (ConnectionError, IndexError):
        return "closed"
    finally:
        writer.close()


async def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="peal-bench-"))
    port = free_port()
    env = base_env(
        workdir,
        DATABASE_URL=args.database_url,
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        UPLOAD_IDLE_TIMEOUT=str(args.idle_timeout),
        IN_PROCESS_SCHEDULER="false",
    )
    await empty_database(args.database_url)
    await migrate(env)
    await create_accounts(env, [EMAIL])
    async with (
        running_server(env, port=port) as (base, _port),
        httpx.AsyncClient(base_url=base, timeout=60) as client,
    ):
        login = await client.post("/api/auth/login", json={"email": EMAIL, "password": PASSWORD})
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['accessToken']}"}
        urls = []
        for index in range(args.puts):
            presign = await client.post(
                "/api/uploads/presigned-url",
                json={"fileName": f"clip{index}.mp4", "contentType": "video/mp4"},
                headers=headers,
            )
            presign.raise_for_status()
            urls.append(presign.json()["uploadUrl"])

        baseline: list[float] = []
        for _ in range(100):
            started = time.perf_counter()
            (await client.get("/health")).raise_for_status()
            baseline.append(time.perf_counter() - started)

        events = [asyncio.Event() for _ in urls]
        puts = [
            asyncio.create_task(stalled_put(url, event))
            for url, event in zip(urls, events, strict=True)
        ]
        await asyncio.gather(*(event.wait() for event in events))
        stall_started = time.perf_counter()

        health: list[float] = []
        health_codes: Counter[int | str] = Counter()
        list_codes: Counter[int | str] = Counter()
        list_times: list[float] = []

        async def probe_health() -> None:
            while time.perf_counter() - stall_started < args.stall:
                started = time.perf_counter()
                try:
                    response = await client.get("/health")
                    health_codes[response.status_code] += 1
                except httpx.HTTPError as exc:
                    health_codes[type(exc).__name__] += 1
                health.append(time.perf_counter() - started)
                await asyncio.sleep(0.05)

        async def ask_lists() -> None:
            while time.perf_counter() - stall_started < args.stall:
                started = time.perf_counter()
                try:
                    response = await client.get("/api/videos?limit=20", headers=headers)
                    list_codes[response.status_code] += 1
                except httpx.HTTPError as exc:
                    list_codes[type(exc).__name__] += 1
                list_times.append(time.perf_counter() - started)
                await asyncio.sleep(1.0)

        await asyncio.gather(probe_health(), ask_lists())
        put_answers = Counter([await _answer(put) for put in puts])

    print(
        f"PEAL stalled uploads vs /health ({os.cpu_count()} CPUs, PostgreSQL, "
        f"1 uvicorn process, pool 10 + overflow 10)"
    )
    print(
        f"{args.puts} PUTs sent headers + 12 bytes and stalled for {args.stall:.0f} s "
        f"(UPLOAD_IDLE_TIMEOUT={args.idle_timeout:g} s)"
    )
    print(summary("/health before the stall", baseline))
    print(summary("/health during the stall", health))
    print(f"/health status codes: {dict(health_codes)}")
    print(summary("GET /api/videos (1/s)", list_times))
    print(f"list status codes: {dict(list_codes)}")
    print(f"stalled PUTs were answered: {dict(put_answers)}")


async def _answer(put: asyncio.Task[str]) -> str:
    """The server's answer to a stalled PUT, or `pending` if it still waits on the body."""
    try:
        return await asyncio.wait_for(asyncio.shield(put), 0.5)
    except TimeoutError:
        put.cancel()
        return "pending"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/peal_sec_media_bench",
    )
    parser.add_argument("--puts", type=int, default=22)
    parser.add_argument("--stall", type=float, default=40.0, help="seconds to stall and probe")
    parser.add_argument(
        "--idle-timeout", type=float, default=30.0, help="the server's UPLOAD_IDLE_TIMEOUT"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

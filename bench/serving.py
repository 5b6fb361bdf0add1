"""What the benchmark scripts share: a real `peal serve` on a free loopback port, and figures.

Not a test helper: benchmarks print numbers and assert nothing (machines are noisy).
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

PEAL = str(Path(sys.executable).with_name("peal"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summary(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"{name:<28} n={len(ms):<5} p50={statistics.median(ms):7.2f} ms  "
        f"p95={percentile(ms, 0.95):7.2f} ms  p99={percentile(ms, 0.99):7.2f} ms  "
        f"max={max(ms):7.2f} ms"
    )


async def migrate(env: dict[str, str]) -> None:
    await asyncio.to_thread(
        subprocess.run, [PEAL, "migrate"], env=env, check=True, capture_output=True
    )


@asynccontextmanager
async def running_server(
    env: dict[str, str], port: int, command: Sequence[str] | None = None
) -> AsyncIterator[str]:
    """Start the server (`peal serve` unless `command` says otherwise), wait until /health
    answers 200, yield its base URL, and stop it at the end."""
    argv = list(command) if command else [PEAL, "serve", "--port", str(port)]
    server = await asyncio.to_thread(subprocess.Popen, argv, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            for _ in range(300):
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise SystemExit(f"the server did not become healthy on {base}")
        yield base
    finally:
        server.terminate()
        await asyncio.to_thread(server.wait, 10)


def without_redis(env: dict[str, str]) -> dict[str, str]:
    """The environment with no Redis: jobs and rate limits in process."""
    return {key: value for key, value in env.items() if key not in ("REDIS_URL", "PEAL_REDIS_URL")}

"""What the bench scripts share: a real `peal serve` on a free loopback port, /health probes
and latency summaries. Import it from a script in bench/ (`from benchlib import ...`)."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summary(name: str, values: list[float]) -> str:
    if not values:
        return f"{name:<28} n=0"
    ms = [v * 1000 for v in values]
    return (
        f"{name:<28} n={len(ms):<5} p50={statistics.median(ms):7.2f} ms  "
        f"p95={percentile(ms, 0.95):7.2f} ms  p99={percentile(ms, 0.99):7.2f} ms  "
        f"max={max(ms):7.2f} ms"
    )


async def probe_health(
    client: httpx.AsyncClient, stop: asyncio.Event, out: list[float], *, strict: bool = True
) -> None:
    """GET /health every 10 ms until `stop`, recording each answer's latency (a 503 is
    recorded too unless `strict`, when it ends the bench)."""
    while not stop.is_set():
        started = time.perf_counter()
        response = await client.get("/health")
        out.append(time.perf_counter() - started)
        if strict:
            response.raise_for_status()
        await asyncio.sleep(0.01)


async def wait_until_healthy(client: httpx.AsyncClient, attempts: int = 1200) -> None:
    for _ in range(attempts):
        try:
            if (await client.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit(f"the server did not become healthy on {client.base_url}")


def peal_command(*args: str) -> list[str]:
    """`peal ARGS` run by this interpreter, so PYTHONPATH can put another `src/` first."""
    return [sys.executable, "-m", "peal.cli", *args]


async def migrate(env: dict[str, str]) -> None:
    await asyncio.to_thread(
        subprocess.run, peal_command("migrate"), env=env, check=True, capture_output=True
    )


@asynccontextmanager
async def running_server(
    env: dict[str, str], command: Sequence[str] | None = None, port: int | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """Start `peal serve` (or `command`, which gets the port as its last argument), wait until
    /health answers 200, yield a client on it, and stop the server afterwards."""
    port = port or free_port()
    argv = [*command, str(port)] if command else peal_command("serve", "--port", str(port))
    server = await asyncio.to_thread(subprocess.Popen, argv, env=env, stdout=subprocess.DEVNULL)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
            await wait_until_healthy(client)
            yield client
    finally:
        server.terminate()
        await asyncio.to_thread(server.wait, 10)


def base_env(workdir: Path, **changes: str) -> dict[str, str]:
    """A development server of its own: database, uploads and mail under `workdir`."""
    env = {
        **os.environ,
        "NODE_ENV": "development",
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
        "RATE_LIMIT_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "STORAGE_LOCAL_PATH": str(workdir / "uploads"),
        "EMAIL_FILE_PATH": str(workdir / "mail"),
    }
    # Its own secrets: a development server would otherwise write var/dev-secrets.json here.
    for name in ("JWT_SECRET", "JWT_REFRESH_SECRET"):
        env[name] = secrets.token_urlsafe(48)
    env.pop("REDIS_URL", None)
    env.update(changes)
    return env

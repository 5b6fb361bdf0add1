"""Shared pieces of the bench scripts: a real uvicorn server on a free loopback port with an
environment of its own, demo accounts, an emptied bench database, a /health prober and latency
summaries. Import it from a script in bench/ (`from harness import ...`). Scripts print
figures; nothing asserts (machines are noisy)."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
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

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "Bench-Password-2026"  # noqa: S105 - a throwaway local account


def free_port() -> int:
    """A free loopback port: any, or one of `BENCH_PORTS` (e.g. `42000-42099`) when it is set,
    for machines where each user has a range of ports to use."""
    span = os.environ.get("BENCH_PORTS")
    candidates = [0]
    if span:
        low, high = (int(part) for part in span.split("-"))
        candidates = list(range(low, high + 1))
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            chosen = int(sock.getsockname()[1])
        if chosen not in _GIVEN:
            _GIVEN.add(chosen)
            return chosen
    raise SystemExit(f"no free port in BENCH_PORTS={span}")


_GIVEN: set[int] = set()  # ports handed out already (a server may not have bound one yet)


def wait_healthy(base: str, path: str = "/health") -> None:
    """Block until `base + path` answers below 500 (a server started by a script)."""
    for _ in range(300):
        try:
            if httpx.get(base + path, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{base} did not come up")


def wrk_rate(url: str, connections: int, duration: int, headers: Sequence[str] = ()) -> float:
    """Requests/s `wrk` (2 threads) reaches on `url` at saturation; an error answer or a socket
    error ends the bench (a rate of failures is no rate)."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency"]
    for header in headers:
        command += ["-H", header]
    output = subprocess.run(  # noqa: S603
        [*command, url], capture_output=True, text=True, check=True
    ).stdout
    if "Non-2xx or 3xx responses" in output or "Socket errors" in output:
        raise SystemExit(f"{url} failed under load:\n{output}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    assert match, output
    return float(match.group(1))


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


def peal_command(*args: str) -> list[str]:
    """`peal ARGS` run by this interpreter, so PYTHONPATH can put another `src/` first
    (`attack_input.py --before COMMIT`)."""
    return [sys.executable, "-m", "peal.cli", *args]


def base_env(workdir: Path, **changes: str) -> dict[str, str]:
    """A development server of its own: database, uploads and mail under `workdir`, rate
    limits off, no Redis (jobs and rate limits in process); `changes` override any of it."""
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
    for name in ("REDIS_URL", "PEAL_REDIS_URL"):
        env.pop(name, None)
    env.update(changes)
    return env


async def migrate(env: dict[str, str]) -> None:
    await asyncio.to_thread(
        subprocess.run, peal_command("migrate"), env=env, check=True, capture_output=True
    )


async def empty_database(url: str) -> None:
    """Drop and recreate the PostgreSQL database's `public` schema: a bench database only."""
    import asyncpg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    connection = await asyncpg.connect(
        user=parsed.username,
        password=parsed.password,
        host=parsed.host,
        port=parsed.port or 5432,
        database=parsed.database,
    )
    try:
        await connection.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await connection.close()


async def create_accounts(env: dict[str, str], emails: Sequence[str]) -> None:
    """Accounts with `PASSWORD`, made straight in the database the server will use."""
    os.environ.update(env)
    from peal.config import Settings
    from peal.core.security import PasswordHashing
    from peal.db import Database
    from peal.seed import ensure_user

    settings = Settings()
    db = Database(settings)
    passwords = PasswordHashing(settings)
    async with db.sessionmaker() as session:
        for email in emails:
            await ensure_user(
                session, passwords, email=email, name="Bench", role="woman", password=PASSWORD
            )
        await session.commit()
    await db.dispose()


@asynccontextmanager
async def running_server(
    env: dict[str, str], command: list[str] | None = None, *, port: int | None = None
) -> AsyncIterator[tuple[str, int]]:
    """`peal serve` (or `command`, given the port as `{port}`) on `port` (a free one unless
    given, e.g. when `env` must name it) until /health answers 200; yields (url, port)."""
    port = port or free_port()
    argv = [part.replace("{port}", str(port)) for part in command or []] or peal_command(
        "serve", "--port", str(port)
    )
    server = await asyncio.to_thread(subprocess.Popen, argv, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            for _ in range(1200):
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise SystemExit(f"the server did not become healthy on {base}")
        yield base, port
    finally:
        server.terminate()
        await asyncio.to_thread(server.wait, 10)


async def probe_health(
    client: httpx.AsyncClient,
    stop: asyncio.Event,
    out: list[float],
    statuses: list[int] | None = None,
) -> None:
    """GET /health every 10 ms until `stop`, recording latencies. Any answer but 200 ends the
    bench, unless `statuses` is given: then every answer is recorded there (a 503 included)."""
    while not stop.is_set():
        started = time.perf_counter()
        response = await client.get("/health")
        out.append(time.perf_counter() - started)
        if statuses is None:
            response.raise_for_status()
        else:
            statuses.append(response.status_code)
        await asyncio.sleep(0.01)


@asynccontextmanager
async def separate_health_prober(port: int) -> AsyncIterator[list[float]]:
    """Probe /health every 10 ms from another process (`health_prober.py`) for the duration
    of the block; the list holds the latencies once the block ends. Any answer but 200 ends
    the bench. In-process probing (`probe_health`) shares the load generator's event loop, so
    its figures also count that loop's lag behind its own many requests."""
    prober = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bench" / "health_prober.py"),
        str(port),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    latencies: list[float] = []
    try:
        yield latencies
    finally:
        output, _ = await prober.communicate(b"")
    result = json.loads(output)
    if any(status != 200 for status in result["statuses"]):
        raise SystemExit(f"/health answered {sorted(set(result['statuses']))}")
    latencies.extend(result["latencies"])


class OpenLoopResult:
    """What `open_loop_get` saw: each answered request's latency from its scheduled start (so
    queueing counts: no coordinated omission), the failures, and the client's own CPU time."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.failures = 0
        self.client_cpu = 0.0


async def open_loop_get(
    base: str, path: str, headers: dict[str, str], rate: float, duration: float
) -> OpenLoopResult:
    """GET `path` at a fixed `rate` for `duration` seconds, whatever the answers: a request
    is sent on schedule on an idle keep-alive connection, or a new one when none is idle.

    A bare HTTP/1.1 client on asyncio streams, not httpx: on a 2-core machine the load
    generator shares the CPU with the server it measures, and httpx spent about a millisecond
    of CPU per request, enough at 150 requests/s to make the server queue behind its own
    client. The client's CPU time is returned so a report can show what it took.
    """
    host, _, port = base.removeprefix("http://").partition(":")
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{head}\r\n".encode()
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    opened: list[asyncio.StreamWriter] = []
    result = OpenLoopResult()

    async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        writer.write(request)
        answer = await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(_content_length(answer))
        return int(answer[9:12])

    async def one(scheduled: float) -> None:
        connection = idle.pop() if idle else None
        try:
            if connection is not None:
                try:
                    status = await exchange(*connection)
                except (OSError, asyncio.IncompleteReadError):
                    # The server closed this idle keep-alive connection (uvicorn does after 5 s
                    # idle): send again on a new one, as browsers do.
                    connection = None
            if connection is None:
                connection = await asyncio.open_connection(host, int(port))
                opened.append(connection[1])
                status = await exchange(*connection)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            result.failures += 1  # the connection is dropped (closed at the end if opened)
            return
        if status >= 400:
            result.failures += 1
        else:
            result.latencies.append(time.perf_counter() - scheduled)
        idle.append(connection)

    # No collection of the client's own heap meanwhile: a bench process that imported the app
    # holds a few hundred thousand objects, and a full pass over them stops this loop for
    # 50-100 ms, which the latencies below would blame on the server.
    gc.collect()
    gc.disable()
    try:
        cpu = time.process_time()
        tasks = []
        start = time.perf_counter()
        for index in range(int(rate * duration)):
            scheduled = start + index / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(scheduled)))
        await asyncio.gather(*tasks)
        result.client_cpu = time.process_time() - cpu
    finally:
        gc.enable()
    for writer in opened:
        writer.close()
    return result


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ValueError("an answer without Content-Length")  # the API always sends one

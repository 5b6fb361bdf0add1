"""Benchmark: N concurrent Socket.IO connections to ONE API process, then messages over REST.

Starts `peal serve` (one uvicorn process, SQLite or `--database-url`, no Redis) on a free
loopback port, creates N users straight in the database (one shared password hash, tokens
signed here), opens N Socket.IO connections (protocol v4 over a bare websocket: a minimal
client, so the load generator is not the bottleneck), then posts messages through REST between
pairs of connected users and measures:

- delivery latency: POST sent → `message_received` on the recipient's socket (p50/p99/max);
- the server's resident memory before and after the connections (→ per connection).

    .venv/bin/python bench/sockets_bench.py --connections 1000 --messages 300
    .venv/bin/python bench/sockets_bench.py --connections 5000 --messages 300

File descriptors: each connection costs one here and one in the server; the script raises its
soft `RLIMIT_NOFILE` to the hard limit (the server inherits it). If the hard limit is below
~2 x N + 500, raise it first (`ulimit -Hn`, or `LimitNOFILE=` for a systemd service).

Prints figures only; nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import websockets

PASSWORD = "Bench-Password-2026"  # noqa: S105 - throwaway local accounts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raise_fd_limit(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        print(f"warning: file-descriptor limit {target} < {needed} needed; raise `ulimit -Hn`")
    return target


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def create_users(env: dict[str, str], count: int) -> list[tuple[uuid.UUID, str]]:
    """(id, access token) of `count` new users, inserted in bulk."""
    os.environ.update(env)
    from sqlalchemy import insert

    from peal.config import Settings
    from peal.core.security import AccessTokens, PasswordHashing
    from peal.db import Database, utcnow
    from peal.settings.models import UserSettings
    from peal.users.models import User

    settings = Settings()
    db = Database(settings)
    tokens = AccessTokens(settings)
    password_hash = await PasswordHashing(settings).hash(PASSWORD)
    ids = [uuid.uuid4() for _ in range(count)]
    now = utcnow()
    async with db.sessionmaker() as session:
        for start in range(0, count, 500):
            chunk = ids[start : start + 500]
            await session.execute(
                insert(User).values(
                    [
                        {
                            "id": user_id,
                            "email": f"bench-{user_id.hex[:12]}@example.com",
                            "name": f"Bench {n}",
                            "role": "woman",
                            "password_hash": password_hash,
                            "email_verified": True,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for n, user_id in enumerate(chunk, start)
                    ]
                )
            )
            await session.execute(
                insert(UserSettings).values([{"user_id": user_id} for user_id in chunk])
            )
        await session.commit()
    await db.dispose()
    return [(user_id, tokens.issue(user_id, "woman")) for user_id in ids]


class Connection:
    """A minimal Socket.IO v4 client over one websocket: connect with auth, answer pings,
    record when each `message_received` arrives (by message content)."""

    def __init__(self, url: str, token: str, arrivals: dict[str, float]) -> None:
        self.url = url
        self.token = token
        self.arrivals = arrivals
        self.ready = asyncio.Event()
        self.failed: str | None = None
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        try:
            async with websockets.connect(
                self.url, max_size=2**20, open_timeout=120, ping_interval=None
            ) as ws:
                await ws.recv()  # engine.io open packet: 0{...}
                await ws.send("40" + json.dumps({"token": self.token}))
                while True:
                    packet = await ws.recv()
                    assert isinstance(packet, str)
                    if packet == "2":
                        await ws.send("3")
                    elif packet.startswith("40"):
                        self.ready.set()
                    elif packet.startswith("44"):
                        self.failed = packet[2:]
                        self.ready.set()
                        return
                    elif packet.startswith("42"):
                        name, payload = json.loads(packet[2:])[:2]
                        if name == "message_received":
                            self.arrivals.setdefault(payload["content"], time.perf_counter())
        except Exception as exc:
            self.failed = repr(exc)
            self.ready.set()


async def run(args: argparse.Namespace) -> None:
    limit = raise_fd_limit(2 * args.connections + 500)
    workdir = Path(tempfile.mkdtemp(prefix="peal-sockets-bench-"))
    port = free_port()
    env = {
        **os.environ,
        "NODE_ENV": "development",
        "DATABASE_URL": args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
        "RATE_LIMIT_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "STORAGE_LOCAL_PATH": str(workdir / "uploads"),
        "EMAIL_FILE_PATH": str(workdir / "mail"),
    }
    env.pop("REDIS_URL", None)
    peal = str(Path(sys.executable).with_name("peal"))
    await asyncio.to_thread(
        subprocess.run, [peal, "migrate"], env=env, check=True, capture_output=True
    )
    users = await create_users(env, args.connections)
    server = await asyncio.to_thread(
        subprocess.Popen, [peal, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    ws_url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
    arrivals: dict[str, float] = {}
    connections: list[Connection] = []
    try:
        async with httpx.AsyncClient(
            base_url=base, timeout=120, limits=httpx.Limits(max_connections=args.concurrency)
        ) as http:
            for _ in range(600):
                try:
                    if (await http.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise SystemExit(f"the server did not become healthy on {base}")
            await asyncio.sleep(1.0)
            rss_before = rss_kib(server.pid)

            started = time.perf_counter()
            for batch in range(0, len(users), args.connect_batch):
                chunk = [
                    Connection(ws_url, token, arrivals)
                    for _, token in users[batch : batch + args.connect_batch]
                ]
                for connection in chunk:
                    connection.task = asyncio.create_task(connection.run())
                await asyncio.gather(*(c.ready.wait() for c in chunk))
                connections.extend(chunk)
            connect_seconds = time.perf_counter() - started
            failed = [c.failed for c in connections if c.failed]
            await asyncio.sleep(2.0)
            rss_after = rss_kib(server.pid)

            # Pairs (0,1), (2,3), ...: one conversation each, messages from the first.
            pairs = [
                (users[i], users[i + 1]) for i in range(0, min(len(users) - 1, 2 * args.pairs), 2)
            ]
            conversation_ids: list[str] = []
            for (sender_id, sender_token), (recipient_id, _) in pairs:
                response = await http.post(
                    "/api/conversations",
                    json={"participantId": str(recipient_id)},
                    headers={"Authorization": f"Bearer {sender_token}"},
                )
                response.raise_for_status()
                conversation_ids.append(response.json()["conversation"]["id"])
                del sender_id

            sent_at: dict[str, float] = {}
            post_seconds: list[float] = []
            refused: list[int] = []
            queue: asyncio.Queue[int] = asyncio.Queue()
            for n in range(args.messages):
                queue.put_nowait(n)

            async def poster() -> None:
                while not queue.empty():
                    n = queue.get_nowait()
                    pair = n % len(pairs)
                    token = pairs[pair][0][1]
                    content = f"bench message {n}"
                    sent_at[content] = time.perf_counter()
                    response = await http.post(
                        f"/api/conversations/{conversation_ids[pair]}/messages",
                        json={"content": content},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    if response.status_code != 201:
                        refused.append(response.status_code)
                        del sent_at[content]
                        continue
                    post_seconds.append(time.perf_counter() - sent_at[content])

            posting_started = time.perf_counter()
            await asyncio.gather(*(poster() for _ in range(args.concurrency)))
            posting_seconds = time.perf_counter() - posting_started
            deadline = time.perf_counter() + 60
            while (  # noqa: ASYNC110 - polling with a deadline, for a report
                len([c for c in sent_at if c in arrivals]) < len(sent_at)
                and time.perf_counter() < deadline
            ):
                await asyncio.sleep(0.1)
    finally:
        for connection in connections:
            if connection.task is not None:
                connection.task.cancel()
        await asyncio.gather(*(c.task for c in connections if c.task), return_exceptions=True)
        server.terminate()
        try:
            await asyncio.to_thread(server.wait, 120)
        except subprocess.TimeoutExpired:
            server.kill()

    latencies = [(arrivals[c] - t) * 1000 for c, t in sent_at.items() if c in arrivals]
    connected = len(connections) - len(failed)
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(f"PEAL Socket.IO bench ({os.cpu_count()} CPUs, 1 uvicorn process, {database}, no Redis)")
    print(f"file-descriptor limit: {limit}")
    print(
        f"connections: {connected}/{args.connections} open in {connect_seconds:.1f} s"
        + (f"; failed: {len(failed)} e.g. {failed[0]}" if failed else "")
    )
    per_connection = (rss_after - rss_before) / max(connected, 1)
    print(
        f"server RSS: {rss_before / 1024:.1f} MiB before, {rss_after / 1024:.1f} MiB after "
        f"→ {per_connection:.1f} KiB per connection"
    )
    print(
        f"messages: {len(sent_at)} over {len(pairs)} conversations, concurrency "
        f"{args.concurrency}, {len(sent_at) / posting_seconds:.1f}/s; delivered {len(latencies)}"
        + (f"; refused {len(refused)} (statuses {sorted(set(refused))})" if refused else "")
    )
    if latencies:
        print(
            f"delivery POST→message_received: p50={statistics.median(latencies):.1f} ms  "
            f"p99={percentile(latencies, 0.99):.1f} ms  max={max(latencies):.1f} ms"
        )
    posts = [s * 1000 for s in post_seconds]
    print(
        f"POST /messages response: p50={statistics.median(posts):.1f} ms  "
        f"p99={percentile(posts, 0.99):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--pairs", type=int, default=50, help="conversations messages go into")
    parser.add_argument("--concurrency", type=int, default=10, help="concurrent REST posts")
    parser.add_argument("--connect-batch", type=int, default=200)
    parser.add_argument(
        "--database-url",
        help="e.g. postgresql+asyncpg://... (default: a fresh SQLite file); it gets migrated "
        "and bench users are added to it",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

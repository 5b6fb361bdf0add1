"""Benchmark: concurrent donations to ONE popular request through the HTTP API, on PostgreSQL.

Resets and migrates the given database (use one of its own), creates a request and `--donors`
donor accounts, starts `peal serve` (development payment provider, rate limits off), and has
`--concurrency` clients donate for `--duration` seconds, each donation a random whole-cent
amount. Then it checks, exactly: `currentAmount` = the sum of the donations that answered 201,
`supportersCount` = the distinct donors among them, one `request_funded` notification at most
(and exactly one if the goal was reached), and `peal check-ledger` agrees.

    .venv/bin/python bench/donations_bench.py postgresql://postgres@127.0.0.1:5432/peal_bench \\
        [--donors 100] [--concurrency 32] [--duration 15] [--goal 1000000] [--workers 1] \\
        [--redis redis://127.0.0.1:6379/13] [--profile donations.speedscope.json]

`--redis` runs the production topology: the API with `REDIS_URL` and a `peal worker` beside it,
so the author's email job leaves the API process (without it, jobs run in the API's own).

It also prints the CPU time one donation costs, from /proc: the API process(es), the worker and
PostgreSQL's backends (when PostgreSQL runs on this machine), and the rate that makes this
machine's cores the ceiling of, whatever the locks.

`--profile` samples the API process(es) with py-spy during the donations (`pip install
py-spy` into the venv; it may need ptrace rights). The machine's load average is printed
before and after: on a shared machine, compare runs made under the same load.

Prints figures only; nothing asserts timings. Exits 1 if a total is not exact.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from harness import PASSWORD, free_port, percentile, wait_healthy  # noqa: E402
from hot_reads import server_env  # noqa: E402


async def prepare(url: str, donors: int) -> list[str]:
    """A clean schema and the donor accounts; answers their emails."""
    from sqlalchemy import text

    from peal.config import Settings
    from peal.core.security import PasswordHashing
    from peal.db import Database
    from peal.seed import ensure_user

    settings = Settings(database_url=url)
    database = Database(settings)
    async with database.engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    env = server_env(url)
    peal = str(Path(sys.executable).with_name("peal"))
    await asyncio.to_thread(subprocess.run, [peal, "migrate"], env=env, check=True)
    passwords = PasswordHashing(settings)
    emails = [f"donor{i}@bench.peal.app" for i in range(donors + 1)]
    async with database.sessionmaker() as session:
        for email in emails:
            await ensure_user(
                session, passwords, email=email, name="Bench Donor", role="woman", password=PASSWORD
            )
        await session.commit()
    await database.dispose()
    return emails


async def run(args: argparse.Namespace) -> int:
    emails = await prepare(args.url, args.donors)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = server_env(args.url)
    if args.redis:
        env["REDIS_URL"] = args.redis
    peal = str(Path(sys.executable).with_name("peal"))
    workdir = Path(tempfile.mkdtemp(prefix="peal-donations-"))
    server = await asyncio.to_thread(
        subprocess.Popen,
        [peal, "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
    )
    worker = None
    if args.redis:
        worker = await asyncio.to_thread(
            subprocess.Popen, [peal, "worker"], env=env, cwd=workdir, stdout=subprocess.DEVNULL
        )
    try:
        await asyncio.to_thread(wait_healthy, base, "/health")
        limits = httpx.Limits(max_connections=args.concurrency + 8)
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
            tokens = []
            for email in emails:
                answer = await client.post(
                    "/api/auth/login", json={"email": email, "password": PASSWORD}
                )
                answer.raise_for_status()
                tokens.append(answer.json()["accessToken"])
            author, donor_tokens = tokens[0], tokens[1:]
            deadline = time.gmtime(time.time() + 30 * 86400)
            created = await client.post(
                "/api/requests",
                headers={"Authorization": f"Bearer {author}"},
                json={
                    "title": "A bakery for our neighbourhood",
                    "description": "Ovens, flour and a lease: the popular request of the bench.",
                    "category": "business",
                    "goalAmount": args.goal,
                    "deadline": time.strftime("%Y-%m-%d", deadline),
                },
            )
            created.raise_for_status()
            request_id = created.json()["request"]["id"]

            succeeded: list[tuple[int, Decimal]] = []
            refused: dict[int, int] = {}
            latencies: list[float] = []
            rng = random.Random(7)
            stop_at = time.perf_counter() + args.duration

            async def donor_loop(worker: int) -> None:
                while time.perf_counter() < stop_at:
                    donor = rng.randrange(len(donor_tokens))
                    amount = Decimal(rng.randrange(100, 10_000)) / 100
                    started = time.perf_counter()
                    answer = await client.post(
                        f"/api/requests/{request_id}/donate",
                        headers={"Authorization": f"Bearer {donor_tokens[donor]}"},
                        json={"amount": float(amount)},
                    )
                    latencies.append(time.perf_counter() - started)
                    if answer.status_code == 201:
                        succeeded.append((donor, amount))
                    else:
                        refused[answer.status_code] = refused.get(answer.status_code, 0) + 1

            load_before = os.getloadavg()
            cpu_before = cpu_by_part(server.pid, worker.pid if worker else None)
            profiler = start_profiler(args.profile, server.pid, args.duration)
            started = time.perf_counter()
            await asyncio.gather(*(donor_loop(i) for i in range(args.concurrency)))
            elapsed = time.perf_counter() - started
            load_after = os.getloadavg()
            cpu_after = cpu_by_part(server.pid, worker.pid if worker else None)
            if profiler is not None:
                await asyncio.to_thread(profiler.wait, 60)
            final = (await client.get(f"/api/requests/{request_id}")).json()["request"]
            funded_notes = await client.get(
                "/api/notifications?limit=100", headers={"Authorization": f"Bearer {author}"}
            )
    finally:
        for process in (server, worker):
            if process is not None:
                process.send_signal(signal.SIGTERM)
                process.wait(15)

    expected_total = sum((amount for _, amount in succeeded), Decimal(0))
    expected_supporters = len({donor for donor, _ in succeeded})
    funded_count = sum(1 for n in funded_notes.json()["data"] if n["type"] == "request_funded")
    ledger = await asyncio.to_thread(
        subprocess.run, [peal, "check-ledger"], env=env, cwd=workdir, capture_output=True, text=True
    )
    ms = [value * 1000 for value in latencies]
    print(
        f"donations to one request: {os.cpu_count()} CPUs, {args.workers} API process(es)"
        f"{', Redis and a peal worker' if args.redis else ', jobs in the API process'}, "
        f"concurrency {args.concurrency}, {args.duration} s, PostgreSQL; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    print(
        f"succeeded {len(succeeded)} ({len(succeeded) / elapsed:.0f}/s), refused {refused or 0}; "
        f"latency p50 {statistics.median(ms):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms"
    )
    print_cpu(cpu_before, cpu_after, len(succeeded))
    current = Decimal(str(final["currentAmount"]))
    checks = {
        "currentAmount exact": current == expected_total,
        "supportersCount exact": final["supportersCount"] == expected_supporters,
        "request_funded once": funded_count == (1 if expected_total >= args.goal else 0),
        "check-ledger agrees": ledger.returncode == 0,
    }
    print(
        f"currentAmount {current} (expected {expected_total}), supportersCount "
        f"{final['supportersCount']} (expected {expected_supporters}), status {final['status']}, "
        f"request_funded notifications {funded_count}"
    )
    print(ledger.stdout.strip().splitlines()[-1] if ledger.stdout else ledger.stderr.strip())
    for name, ok in checks.items():
        print(f"{'OK  ' if ok else 'FAIL'} {name}")
    return 0 if all(checks.values()) else 1


def _cpu_of(pid: int) -> tuple[float, int, str]:
    """CPU seconds (user + system), parent pid and name of a process, from /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0, 0, ""
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks, int(fields[1]), name


def cpu_by_part(server: int, worker: int | None) -> dict[str, float]:
    """CPU seconds so far of the API (the server and its children), the worker and the
    machine's PostgreSQL processes."""
    processes = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            processes[int(entry.name)] = _cpu_of(int(entry.name))
    children: dict[int, list[int]] = {}
    for pid, (_, parent, _) in processes.items():
        children.setdefault(parent, []).append(pid)

    def tree(root: int) -> float:
        return processes.get(root, (0.0, 0, ""))[0] + sum(tree(c) for c in children.get(root, []))

    return {
        "API": tree(server),
        "worker": tree(worker) if worker else 0.0,
        "PostgreSQL": sum(cpu for cpu, _, name in processes.values() if name == "postgres"),
        "load generator": time.process_time(),  # this process: the donors' HTTP clients
    }


def print_cpu(before: dict[str, float], after: dict[str, float], donations: int) -> None:
    """CPU milliseconds per donation by part, and the rate this machine's cores allow."""
    if not donations:
        return
    per = {part: (after[part] - before[part]) * 1000 / donations for part in before}
    served = sum(ms for part, ms in per.items() if part != "load generator")
    parts = ", ".join(f"{part} {ms:.2f}" for part, ms in per.items() if ms)
    cores = os.cpu_count() or 1
    print(
        f"CPU per donation: {parts} ms; serving it took {served:.2f} ms, so {cores} cores "
        f"allow at most {cores * 1000 / served:.0f} donations/s with nothing else running"
    )


def start_profiler(path: str | None, pid: int, duration: int) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the server and its workers for the donations' duration, if asked."""
    if path is None:
        return None
    py_spy = Path(sys.executable).with_name("py-spy")
    command = [str(py_spy), "record", "--pid", str(pid), "--subprocesses", "--threads"]
    kind = "raw" if path.endswith(".txt") else "speedscope"  # raw: collapsed stacks
    command += ["--duration", str(duration), "--rate", "200", "--format", kind]
    return subprocess.Popen([*command, "-o", path], stdout=subprocess.DEVNULL)  # noqa: S603


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="postgresql://user@host:port/database (a database of its own)")
    parser.add_argument("--donors", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--goal", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--redis", help="REDIS_URL for the API, and run a `peal worker` beside it")
    parser.add_argument("--profile", help="write a py-spy profile of the API here (speedscope)")
    raise SystemExit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()

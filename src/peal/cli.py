"""The `peal` command: serve, migrate, worker, scheduler, seed, check-ledger, create-admin."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from pathlib import Path

from peal.config import Settings, get_settings, is_loopback

ROOT = Path(__file__).resolve().parents[2]


def _alembic_config(database_url: str | None = None):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    ini = ROOT / "alembic.ini"
    config = Config(str(ini))
    if database_url:
        config.attributes["database_url"] = database_url
    return config


def migrate(_args: argparse.Namespace) -> int:
    from alembic import command

    settings = get_settings()
    if settings.is_sqlite:
        db_path = settings.database_url.split(":///", 1)[1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(_alembic_config(), "head")
    print("database is at the latest migration")
    return 0


def default_workers(settings: Settings) -> int:
    """One process per core when they can share state through Redis; one without it.

    Rate limits, real-time fan-out and jobs are shared through Redis: without it, each process
    would count, schedule and deliver on its own.
    """
    return max(1, os.cpu_count() or 1) if settings.redis_url else 1


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    if args.port:
        # The app reads PORT too (PUBLIC_URL follows it when unset): one port for both.
        os.environ["PORT"] = str(args.port)
        get_settings.cache_clear()
    settings = get_settings()
    host = args.host or settings.host
    if settings.uses_published_secret and not is_loopback(host):
        # Anyone could sign an admin token with a published secret: only this machine may ask.
        print(
            f"refusing to serve on {host} with a development JWT secret: set JWT_SECRET and "
            "JWT_REFRESH_SECRET (32+ random characters) or bind 127.0.0.1",
            file=sys.stderr,
        )
        return 2
    workers = args.workers or default_workers(settings)
    if workers > 1 and not settings.redis_url:
        print(
            "peal serve: several workers without REDIS_URL each keep their own rate limits, "
            "real-time connections and in-process jobs; set REDIS_URL to share them.",
            file=sys.stderr,
        )
    uvicorn.run(
        "peal.main:create_served_app",
        factory=True,
        host=host,
        port=args.port or settings.port,
        workers=workers,
        proxy_headers=False,  # the client IP is decided by TRUSTED_PROXIES, not by uvicorn
        server_header=False,
        log_config=None,
        access_log=False,
    )
    return 0


def _redis_jobs_or_exit(command: str) -> bool:
    if get_settings().uses_redis_jobs:
        return True
    print(
        f"peal {command} needs Redis: set REDIS_URL (or JOBS_BACKEND=redis). Without it, jobs "
        "run inside `peal serve` and there is nothing to start.",
        file=sys.stderr,
    )
    return False


def _exec_taskiq(arguments: list[str]) -> int:
    command = [sys.executable, "-m", "taskiq", *arguments]
    os.execv(sys.executable, command)  # noqa: S606 - replaces this process with taskiq
    return 0  # pragma: no cover - execv does not return


def worker(args: argparse.Namespace) -> int:
    """`taskiq worker` on the Redis queue, with every module that declares tasks."""
    from peal.jobs import task_modules

    if not _redis_jobs_or_exit("worker"):
        return 2
    return _exec_taskiq(
        ["worker", "peal.jobs:broker", *task_modules(), "--workers", str(args.workers)]
    )


def scheduler(_args: argparse.Namespace) -> int:
    """`taskiq scheduler`: queues the periodic tasks (their `schedule` labels). Run ONE."""
    from peal.jobs import task_modules

    if not _redis_jobs_or_exit("scheduler"):
        return 2
    return _exec_taskiq(["scheduler", "peal.jobs:scheduler", *task_modules()])


def seed(_args: argparse.Namespace) -> int:
    from peal.seed import run_seed

    asyncio.run(run_seed(get_settings()))
    return 0


def check_ledger(_args: argparse.Namespace) -> int:
    """Exit 0 when every request's totals match its succeeded donations, 1 otherwise."""
    from peal.funding.ledger import run_ledger_check

    checked, mismatches = asyncio.run(run_ledger_check(get_settings()))
    for mismatch in mismatches:
        print(f"MISMATCH {mismatch.describe()}")
    print(f"checked {checked} funding requests: {len(mismatches)} mismatched")
    return 1 if mismatches else 0


def create_admin(args: argparse.Namespace) -> int:
    from peal.seed import create_admin as make_admin

    password = args.password or os.environ.get("PEAL_ADMIN_PASSWORD") or ""
    if not password:
        password = getpass.getpass("Password for the new admin: ")
    asyncio.run(make_admin(get_settings(), email=args.email, name=args.name, password=password))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="peal", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p_serve = sub.add_parser("serve", help="serve the API with uvicorn")
    p_serve.add_argument("--host", default=None)
    p_serve.add_argument("--port", type=int, default=None)
    p_serve.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes (default: one per core with REDIS_URL, else 1)",
    )
    p_serve.set_defaults(func=serve)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=migrate)

    p_worker = sub.add_parser("worker", help="run background jobs (needs REDIS_URL)")
    p_worker.add_argument("--workers", type=int, default=1, help="worker processes")
    p_worker.set_defaults(func=worker)

    sub.add_parser(
        "scheduler",
        help="queue the periodic jobs (needs REDIS_URL; run exactly one per deployment)",
    ).set_defaults(func=scheduler)

    sub.add_parser("seed", help="add demo data").set_defaults(func=seed)

    sub.add_parser(
        "check-ledger",
        help="verify every request's currentAmount and supportersCount against its donations",
    ).set_defaults(func=check_ledger)

    p_admin = sub.add_parser("create-admin", help="create an administrator account")
    p_admin.add_argument("--email", required=True)
    p_admin.add_argument("--name", default="Administrator")
    p_admin.add_argument("--password", default=None, help="or PEAL_ADMIN_PASSWORD, or a prompt")
    p_admin.set_defaults(func=create_admin)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())

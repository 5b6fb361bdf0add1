"""Health probes of the services the API depends on, each bounded by a timeout."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import structlog
from redis.asyncio import Redis
from sqlalchemy import text

from peal.db import Database
from peal.ops.schemas import HealthResponse, HealthServices, HealthStatus, ServiceState

log = structlog.get_logger("peal.health")

# Load balancers give up on a probe after a few seconds: /health must answer before that,
# whatever a dependency does.
CHECK_TIMEOUT_SECONDS = 2.0

Check = Callable[[], Awaitable[None]]
"""A probe: returns when the service works, raises (anything) when it does not."""


async def check_database(db: Database) -> None:
    async with db.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def check_redis(redis: Redis) -> None:
    if not await redis.ping():
        raise ConnectionError("Redis did not answer PING")


def _write_probe(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    # A real write, not os.access: it also catches a full disk or a read-only remount.
    with tempfile.NamedTemporaryFile(dir=directory, prefix=".health-") as probe:
        probe.write(b"ok")
        probe.flush()


def local_storage_check(directory: Path) -> Check:
    """The storage probe of the local backend: the upload directory can be written to.

    The app's storage probe is `peal.main.Services.storage_check`; another backend (S3)
    brings its own.
    """

    async def check() -> None:
        await asyncio.to_thread(_write_probe, directory)

    return check


async def _probe(service: str, check: Check) -> ServiceState:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await check()
    except Exception as exc:  # any failure is "down"; the reason goes to the log, not the client
        log.warning(
            "health_check_failed", service=service, error_type=type(exc).__name__, error=str(exc)
        )
        return "down"
    return "up"


async def health(db: Database, storage_check: Check, redis: Redis | None) -> HealthResponse:
    """Probe everything at once, so the answer takes as long as the slowest probe, at most."""

    async def database() -> None:
        await check_database(db)

    probes = [_probe("database", database), _probe("storage", storage_check)]
    if redis is not None:

        async def redis_check() -> None:
            await check_redis(redis)

        probes.append(_probe("redis", redis_check))
    states = await asyncio.gather(*probes)
    services = HealthServices(
        database=states[0], storage=states[1], redis=states[2] if redis is not None else None
    )
    status: HealthStatus = "healthy" if all(state == "up" for state in states) else "degraded"
    return HealthResponse(status=status, timestamp=datetime.now(UTC), services=services)

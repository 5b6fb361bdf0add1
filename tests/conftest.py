"""Test harness: a migrated database (SQLite, or PostgreSQL + Redis when asked), the app over
httpx, user factories, and a SQL statement counter.

`app` is one app per worker (`shared_app`); each test runs in a database transaction rolled
back at its end, which every session of the app and of the test joins through a SAVEPOINT
(tests/transaction.py). What the app keeps outside the database (mail and upload directories,
rate-limit counters, the real-time hub's connections, replaced `app.state` services) is reset
after each test. A test overriding `settings` gets its own app, in the same kind of
transaction. `@pytest.mark.committing` gives a test its own app with real commits and every
table emptied afterwards: for tests another connection must see the writes of (CLI commands,
a second app or server), whose sessions race (`asyncio.gather`, PostgreSQL locks), or that
watch the connection pool.

`PEAL_TEST_TARGET=postgres` (set by `make test` when `PEAL_TEST_DATABASE_URL` and
`PEAL_TEST_REDIS_URL` are given) runs the same suite against those servers.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

TARGET = os.environ.get("PEAL_TEST_TARGET", "sqlite")
# Under pytest-xdist each worker process ("gw0", "gw1", ...) has its own SQLite files (its own
# temporary directory) and its own PostgreSQL database next to the given one (see below).
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_TMP = Path(tempfile.mkdtemp(prefix=f"peal-tests-{WORKER}-" if WORKER else "peal-tests-"))


def run_on_postgres(url: str, work: Callable[[Any], Awaitable[None]]) -> None:
    """Run `work(connection)` on one asyncpg connection to `url`'s database. The fixtures that
    prepare PostgreSQL run before any test's event loop, so this makes its own."""
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)

    async def run() -> None:
        conn = await asyncpg.connect(
            user=parsed.username,
            password=parsed.password,
            host=parsed.host,
            port=parsed.port or 5432,
            database=parsed.database,
        )
        try:
            await work(conn)
        finally:
            await conn.close()

    asyncio.run(run())


def worker_database_url(url: str, worker: str) -> str:
    """`<db>_<worker>` on the same server as `url`, created on first use (CI creates only the
    given database). Every test key in Redis already carries its own random prefix or queue
    name, so the workers share the given Redis."""
    import asyncpg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = f"{parsed.database}_{worker}"

    async def create(conn: Any) -> None:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # template0: never connected to, so workers may create theirs at once.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')

    run_on_postgres(url, create)
    return parsed.set(database=name).render_as_string(hide_password=False)


if TARGET == "postgres":
    DATABASE_URL = os.environ["PEAL_TEST_DATABASE_URL"]
    if WORKER:
        DATABASE_URL = worker_database_url(DATABASE_URL, WORKER)
    REDIS_URL: str | None = os.environ["PEAL_TEST_REDIS_URL"]
else:
    DATABASE_URL = f"sqlite+aiosqlite:///{_TMP / 'test.db'}"
    REDIS_URL = None

# Settings are read from the environment when modules import: fix them before any import.
os.environ.update(
    {
        "NODE_ENV": "test",
        "DATABASE_URL": DATABASE_URL,
        "JOBS_BACKEND": "memory",
        "EMAIL_BACKEND": "file",
        "EMAIL_FILE_PATH": str(_TMP / "mail"),
        "STORAGE_LOCAL_PATH": str(_TMP / "uploads"),
        "RATE_LIMIT_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "LOG_JSON": "false",
    }
)
os.environ.pop("REDIS_URL", None)
os.environ.pop("PEAL_REDIS_URL", None)

import httpx  # noqa: E402
import pytest  # noqa: E402
from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from sqlalchemy import event, text  # noqa: E402

import peal.config  # noqa: E402
import peal.models  # noqa: E402 - every table registered for the clean-up
from peal.config import Settings  # noqa: E402
from peal.core.ratelimit import RateLimiter  # noqa: E402
from peal.core.realtime import set_sink  # noqa: E402
from peal.db import Base, Database  # noqa: E402

# A `development` Settings made by a test keeps its generated secrets here, not in ./var.
peal.config.DEV_SECRETS_FILE = _TMP / "dev-secrets.json"
from peal.jobs import set_runtime, wait_for_jobs  # noqa: E402
from peal.main import create_app  # noqa: E402
from peal.realtime.hub import RealtimeHub  # noqa: E402
from peal.settings.models import UserSettings  # noqa: E402
from peal.users.models import User  # noqa: E402
from tests.transaction import rolled_back  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TEST_PASSWORD = "Correct-Horse-Battery-9"


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    return config


def _reset_postgres(url: str) -> None:
    """Start from an empty schema: the suite builds it from the migrations."""

    async def reset(conn: Any) -> None:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")

    run_on_postgres(url, reset)


@pytest.fixture(scope="session")
def migrated_database_url() -> str:
    url = Settings().database_url
    if TARGET == "postgres":
        _reset_postgres(url)
    command.upgrade(alembic_config(url), "head")
    return url


@pytest.fixture(scope="session")
def database_url(migrated_database_url: str) -> str:
    """The test database (a test may parametrize this name with another URL)."""
    return migrated_database_url


def _test_settings(database_url: str, directory: Path) -> Settings:
    return Settings(
        database_url=database_url,
        email_file_path=directory / "mail",
        storage_local_path=directory / "uploads",
        external_image_hosts=["cdn.example.com"],  # the tests' stand-in for a trusted CDN
    )


def _committing(request: pytest.FixtureRequest) -> bool:
    return request.node.get_closest_marker("committing") is not None


@pytest.fixture(scope="session")
def shared_settings(migrated_database_url: str) -> Settings:
    """The settings of the worker's shared app; its mail and upload directories are emptied
    after every test."""
    return _test_settings(migrated_database_url, _TMP / "shared")


@pytest.fixture
def settings(
    request: pytest.FixtureRequest, shared_settings: Settings, tmp_path: Path
) -> Iterator[Settings]:
    if _committing(request):
        yield _test_settings(shared_settings.database_url, tmp_path)
        return
    try:
        yield shared_settings
    finally:
        for directory in (shared_settings.email_file_path, shared_settings.storage_local_path):
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def make_settings(settings: Settings) -> Callable[..., Settings]:
    """Settings with some values changed (e.g. `rate_limit_enabled=True`)."""

    def make(**changes: Any) -> Settings:
        return settings.model_copy(update=changes)

    return make


async def _truncate_all(app: FastAPI) -> None:
    """Empty every table, children first. DELETE, not TRUNCATE: on PostgreSQL a TRUNCATE of
    every table costs ~0.6 s (new files per table) where DELETE of a few rows takes ~5 ms."""
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    async with app.state.db.engine.begin() as conn:
        for table in tables:
            await conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - our table names


_STATE_AT_START: dict[FastAPI, dict[str, Any]] = {}


@pytest.fixture(scope="session")
async def shared_app(shared_settings: Settings) -> AsyncIterator[FastAPI]:
    """The worker's app for every test not marked `committing` (see `app`)."""
    application = create_app(shared_settings)
    async with application.router.lifespan_context(application):
        _STATE_AT_START[application] = dict(application.state._state)
        yield application


@pytest.fixture
async def app(
    request: pytest.FixtureRequest, settings: Settings, shared_app: FastAPI
) -> AsyncIterator[FastAPI]:
    """The app under test. By default the worker's shared app, with every session it opens
    (and the test's own `app.state.db.sessionmaker()`) joined to one transaction that is rolled
    back after the test (tests/transaction.py). A test whose `settings` differ (a directory's
    conftest overrides the fixture) gets an app of its own, in the same kind of transaction. A
    test marked `@pytest.mark.committing` gets an app of its own whose commits are real, and
    every table emptied afterwards."""
    if _committing(request):
        application = create_app(settings)
        async with application.router.lifespan_context(application):
            try:
                yield application
            finally:
                await wait_for_jobs()
                await _truncate_all(application)
        return
    if settings is not shared_app.state.settings:
        application = create_app(settings)
        async with (
            application.router.lifespan_context(application),
            rolled_back(application.state.db),
        ):
            try:
                yield application
            finally:
                await wait_for_jobs()
        return
    state = shared_app.state
    db: Database = state.db
    # An app a previous test started and stopped took the process-wide hooks with it.
    set_runtime(settings, db)
    set_sink(state.realtime)
    try:
        async with rolled_back(db):
            try:
                yield shared_app
            finally:
                await wait_for_jobs()
    finally:
        await _reset_shared_app(shared_app)


async def _reset_shared_app(app: FastAPI) -> None:
    """What the shared app keeps outside the database, back to how it started: the services
    a test replaced (`app.state.storage_check = ...`), dependency overrides, the rate limiter's
    counters and the real-time hub's connections."""
    app.state._state.clear()
    app.state._state.update(_STATE_AT_START[app])
    app.dependency_overrides.clear()
    limiter: RateLimiter = app.state.rate_limiter
    await limiter.storage.reset()
    limiter._bypass_until = 0.0
    hub: RealtimeHub = app.state.realtime
    hub.sockets.clear()
    hub.online.clear()
    hub.streams.clear()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@dataclass
class AuthedUser:
    """A user created straight in the database, with a valid access token."""

    id: uuid.UUID
    email: str
    name: str
    role: str
    password: str
    token: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


_PASSWORD_HASH: dict[str, str] = {}


@pytest.fixture
async def make_user(app: FastAPI) -> Callable[..., Any]:
    """`await make_user(role="sponsor", name=..., is_public=False, ...)` → AuthedUser."""
    counter = 0

    async def make(role: str = "woman", **fields: Any) -> AuthedUser:
        nonlocal counter
        counter += 1
        if TEST_PASSWORD not in _PASSWORD_HASH:
            _PASSWORD_HASH[TEST_PASSWORD] = await app.state.passwords.hash(TEST_PASSWORD)
        email_address = fields.pop("email", f"user{counter}-{uuid.uuid4().hex[:8]}@example.com")
        name = fields.pop("name", f"Test User {counter}")
        # Test users admit everyone's messages unless a test says otherwise (the product
        # default is `following`: tests/messaging/test_requests.py checks it and the rule).
        privacy = fields.pop("message_privacy", "everyone")
        async with app.state.db.sessionmaker() as session:
            user = User(
                email=email_address.lower(),
                name=name,
                role=role,
                password_hash=_PASSWORD_HASH[TEST_PASSWORD],
                email_verified=fields.pop("email_verified", True),
                **fields,
            )
            session.add(user)
            await session.flush()
            session.add(UserSettings(user_id=user.id, message_privacy=privacy))
            await session.commit()
        token = app.state.tokens.issue(user.id, role)
        return AuthedUser(user.id, user.email, name, role, TEST_PASSWORD, token)

    return make


@pytest.fixture
async def woman(make_user: Callable[..., Any]) -> AuthedUser:
    user: AuthedUser = await make_user("woman", name="Amara Woman")
    return user


@pytest.fixture
async def sponsor(make_user: Callable[..., Any]) -> AuthedUser:
    user: AuthedUser = await make_user("sponsor", name="Sofia Sponsor")
    return user


@pytest.fixture
async def admin(make_user: Callable[..., Any]) -> AuthedUser:
    user: AuthedUser = await make_user("admin", name="Ada Admin")
    return user


class QueryCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)

    def reset(self) -> None:
        self.statements.clear()


@pytest.fixture
def count_queries(app: FastAPI) -> Iterator[QueryCounter]:
    """Counts the SQL statements the app's engine runs (SAVEPOINT/BEGIN noise excluded)."""
    counter = QueryCounter()
    sync_engine = app.state.db.engine.sync_engine

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        first = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
        if first not in {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA"}:
            counter.statements.append(statement)

    event.listen(sync_engine, "before_cursor_execute", on_execute)
    yield counter
    event.remove(sync_engine, "before_cursor_execute", on_execute)


class Mailbox:
    """The emails the development sender wrote as `.eml` files."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def messages(self) -> list[EmailMessage]:
        if not self.directory.exists():
            return []
        found = []
        for path in sorted(self.directory.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            found.append(message)
        return found

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages() if address.lower() in str(m["To"]).lower()]

    async def wait(self) -> None:
        await wait_for_jobs()


@pytest.fixture
def mailbox(settings: Settings) -> Mailbox:
    return Mailbox(settings.email_file_path)

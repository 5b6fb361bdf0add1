"""Database engine, the per-request session, and the declarative base every model shares."""

from __future__ import annotations

import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import structlog
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.interfaces import ExecutionContext
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, ORMExecuteState, Session, mapped_column
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from peal.config import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class UUIDPrimaryKey:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class CreatedAt:
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=False)


class Timestamps(CreatedAt):
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_engine(settings: Settings) -> AsyncEngine:
    if settings.is_sqlite:
        engine = create_async_engine(
            settings.database_url,
            echo=settings.database_echo,
            connect_args={"timeout": 30},
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(
        settings.database_url,
        echo=settings.database_echo,
        # A fixed pool, no overflow: an overflow connection is closed as soon as it is handed
        # back to a full pool, so a burst beyond the pool opened and closed a connection per
        # request (a server fork, every statement prepared anew). Past the pool, a request
        # waits for a connection instead; the bound on connections per process is the same.
        pool_size=settings.database_pool_size,
        max_overflow=0,
        # Every execution gets a plan made for its own values. asyncpg prepares each
        # statement once per connection, and from the sixth run PostgreSQL may switch it to a
        # generic plan, made without the values: for the signed-in feed (its sources depend
        # on the viewer's follows, likes and interests) that plan took ~280 ms where the
        # custom one takes 18 (the 100k bench). Planning the simple statements again costs
        # no measurable throughput (hot reads, same run).
        connect_args={"server_settings": {"plan_cache_mode": "force_custom_plan"}},
    )
    _survive_dead_connections(engine)
    return engine


# A pooled connection is not pinged at checkout (a round trip on every request). Its first
# statement is the check instead: when that statement finds the server gone (a restart, a
# failover, `pg_terminate_backend`), the connection is replaced and the statement runs again on
# the new one, so no request fails on it. Only the first statement of a checkout: nothing has
# run on the connection yet (its transaction, if any, was never begun or died with it), so
# running it again changes nothing. A connection lost later in a checkout fails its request,
# as it must: what ran before on it is gone.
_UNUSED_CHECKOUTS: weakref.WeakKeyDictionary[Any, ConnectionPoolEntry]
_UNUSED_CHECKOUTS = weakref.WeakKeyDictionary()
# What a statement raises when the server is gone: a connection error (class 08), an operator
# intervention (57P: shutdown, crash, not accepting connections), or asyncpg's own client state
# left broken by a backend that died under it ("cannot switch to state 11").
_GONE_SQLSTATES = ("08", "57P")


def _mark_checkout(_dbapi_connection: Any, record: ConnectionPoolEntry, proxied: Any) -> None:
    _UNUSED_CHECKOUTS[proxied] = record  # one entry per checkout, gone with it


def _server_gone(dbapi_connection: Any, error: BaseException) -> bool:
    if dbapi_connection.driver_connection.is_closed():
        return True
    if str(getattr(error, "sqlstate", None) or "").startswith(_GONE_SQLSTATES):
        return True
    return isinstance(error.__cause__, asyncpg.exceptions.InternalClientError)


def _may_run_again(context: Any) -> bool:
    """Inside a transaction any statement may: the dead connection took the transaction with
    it. In autocommit (the read sessions) only a read may: a write may have landed."""
    if context.execution_options.get("isolation_level") != "AUTOCOMMIT":
        return True
    return not (context.executemany or context.isinsert or context.isupdate or context.isdelete)


def _first_statement_survives_a_dead_connection(
    context: ExecutionContext, run: Callable[[Any], None]
) -> bool:
    """Run a checkout's first statement; on a connection the server closed, connect the same
    pool slot anew and run it again. True when it ran here; False leaves it to SQLAlchemy."""
    proxied: Any = context.root_connection.connection
    if proxied not in _UNUSED_CHECKOUTS:  # not a checkout's first statement
        return False
    record: Any = _UNUSED_CHECKOUTS.pop(proxied)
    if not _may_run_again(context):
        return False
    try:
        run(context.cursor)
    except Exception as error:
        if not _server_gone(proxied.dbapi_connection, error):
            raise
        structlog.get_logger("peal.db").warning("database_connection_replaced", reason=str(error))
        # The checkout's settings (a read session's AUTOCOMMIT) go to the new connection, and
        # their reset at checkin with them: invalidating forgets it (SQLAlchemy 2.1, pinned by
        # tests/test_db_dead_connections.py).
        resets = list(record.finalize_callback)
        record.invalidate(error)  # closes the dead connection
        replacement = record.get_connection()  # the same pool slot, connected anew
        options = context.root_connection.get_execution_options()
        dialect: Any = context.dialect  # DefaultDialect: its characteristics
        for name, characteristic in dialect.connection_characteristics.items():
            if name in options:
                characteristic.set_connection_characteristic(
                    dialect, context.root_connection, replacement, options[name]
                )
        record.finalize_callback.extend(resets)
        proxied.dbapi_connection = replacement
        context.cursor = context.create_cursor()  # on it (a server-side one if it was)
        run(context.cursor)
    return True


def _survive_dead_connections(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine
    event.listen(sync_engine.pool, "checkout", _mark_checkout)
    # Each event hands its listener the very arguments of the dialect method of the same name
    # (cursor, statement, [parameters,] context): the listener runs that method itself.
    for name in ("do_execute", "do_execute_no_params", "do_executemany"):
        event.listen(sync_engine, name, _first_statement_listener(name))


def _first_statement_listener(name: str) -> Callable[..., bool]:
    def listener(cursor: Any, statement: str, *rest: Any) -> bool:
        context = rest[-1]
        method = getattr(context.dialect, name)
        return _first_statement_survives_a_dead_connection(
            context, lambda current: method(current, statement, *rest)
        )

    return listener


class Database:
    """The engine and the session factories of one running application."""

    def __init__(self, settings: Settings) -> None:
        self.engine = create_engine(settings)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # Handlers marked `@read_only` only read: their statements run in autocommit (no
        # BEGIN and COMMIT round trips around them). Under PostgreSQL's READ COMMITTED every
        # statement takes its own snapshot even inside a transaction, so reads see exactly
        # what they saw before.
        # The same pool serves both; the isolation level is set per checkout, client side.
        self.read_sessionmaker = async_sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"),
            expire_on_commit=False,
            info={READ_ONLY: True},
        )

    async def dispose(self) -> None:
        await self.engine.dispose()


AfterCommit = Callable[[], Awaitable[None]]


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run `callback` once the session's transaction has committed (never if it rolls back).

    Jobs and real-time events go through here, so a worker never sees a row that is not
    there yet and a failed request sends nothing.
    """
    session.info.setdefault("after_commit", []).append(callback)


async def run_after_commit(session: AsyncSession) -> None:
    callbacks: list[AfterCommit] = session.info.pop("after_commit", [])
    for callback in callbacks:
        try:
            await callback()
        except Exception:  # a lost side effect must not turn a committed request into a 500
            structlog.get_logger("peal.db").exception("after_commit_failed")


async def commit(session: AsyncSession) -> None:
    """Commit, then run what was waiting for the commit. For jobs and CLI commands."""
    await session.commit()
    await run_after_commit(session)


READ_ONLY = "read_only"
_READ_ONLY_ENDPOINTS: set[Callable[..., Any]] = set()

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def read_only(endpoint: Endpoint) -> Endpoint:
    """Mark a GET handler that only reads: its request session runs without a transaction.

    Put it under the route decorator. Only for handlers that never write: their session
    refuses any INSERT, UPDATE, DELETE or flush (a GET that expires an overdue request on
    read, say, must keep its transaction and must not carry this mark).
    """
    _READ_ONLY_ENDPOINTS.add(endpoint)
    return endpoint


@event.listens_for(Session, "before_flush")
def _refuse_flush_in_read_session(session: Session, _context: Any, _instances: Any) -> None:
    if session.info.get(READ_ONLY) and (session.new or session.dirty or session.deleted):
        raise RuntimeError("a read-only request must not write")


@event.listens_for(Session, "do_orm_execute")
def _refuse_write_in_read_session(state: ORMExecuteState) -> None:
    if state.session.info.get(READ_ONLY) and (
        state.is_insert or state.is_update or state.is_delete
    ):
        raise RuntimeError("a read-only request must not write")


@event.listens_for(Session, "after_flush")
def _mark_unsaved_writes(session: Session, _context: Any) -> None:
    session.info["unsaved_writes"] = True


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _clear_unsaved_writes(session: Session) -> None:
    session.info.pop("unsaved_writes", None)


async def release_connection(session: AsyncSession) -> None:
    """Give the session's pooled connection back before a long wait.

    A request must never hold a database connection while it waits on a client, a password
    hash, an image re-encode or another service: a burst of such requests would empty the pool
    for everyone. Call this after the reads and before the wait; the next query checks a
    connection out again. Only reads may come before it (ending a read-only transaction early
    is harmless, committing half of a write is not), so it refuses a session with writes.
    Objects already loaded stay usable (the sessionmaker does not expire on commit).
    """
    if session.new or session.dirty or session.deleted or session.info.get("unsaved_writes"):
        raise RuntimeError("release_connection() must come before any write in the session")
    if session.in_transaction():
        await session.commit()


def is_read_only_request(method: str, route: object) -> bool:
    """Whether a request runs a handler marked `@read_only` (GET or HEAD only)."""
    endpoint = getattr(route, "endpoint", None)
    return method in ("GET", "HEAD") and endpoint in _READ_ONLY_ENDPOINTS


@asynccontextmanager
async def request_session(
    database: Database, *, reading: bool = False
) -> AsyncIterator[AsyncSession]:
    """One session per request: committed when the handler returns, rolled back if it raises
    (the request's dependency is `peal.deps.SessionDep`). A `reading` request (a handler
    marked `@read_only`) gets a read session (`Database.read_sessionmaker`): the same flow,
    without the transaction."""
    factory = database.read_sessionmaker if reading else database.sessionmaker
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            session.info.pop("after_commit", None)
            await session.rollback()
            raise
        await run_after_commit(session)

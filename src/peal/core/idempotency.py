"""`Idempotency-Key` on the POST routes that move money: the first answer is kept and replayed.

API.md: the same key with the same body replays the first response; the same key with a
different body (or on another route) is 409 `idempotency_conflict`; keys live at least 24 h.

How: the key row is inserted FIRST, in the request's own transaction, under a unique
constraint on (user, key), with `ON CONFLICT DO NOTHING`. A concurrent duplicate therefore
waits on that row until the first request commits (PostgreSQL blocks the second insert; SQLite
serialises writers), then finds the stored answer and replays it: the two never both execute.
The answer is written into the row before the transaction commits, so a committed key always
carries its answer; a request that fails rolls back its key with everything else, and may be
retried with the same key.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from peal.core.errors import Conflict, ValidationFailed
from peal.core.sql import NO_SYNC, insert_ignoring_duplicates, rowcount
from peal.db import Base, UUIDPrimaryKey, utcnow

KEY_HEADER = "Idempotency-Key"
KEY_MAX = 255
REPLAYED_HEADER = "Idempotent-Replayed"

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=KEY_HEADER,
        description=(
            "A unique value (e.g. a UUID) per intended operation: a retry with the same key "
            "and body replays the first answer instead of moving money twice"
        ),
        examples=["5f0c9a52-3b6e-4d3f-9f0e-2c1f1f1a7b10"],
    ),
]


class IdempotencyKey(UUIDPrimaryKey, Base):
    """One key a user sent, the request it was first used for, and the answer it got."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        # The purge job deletes by age.
        Index("ix_idempotency_keys_created", "created_at"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(KEY_MAX))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]
    response_body: Mapped[Any | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def _valid_key(key: str) -> str:
    if not 1 <= len(key) <= KEY_MAX or not key.isprintable() or not key.isascii():
        raise ValidationFailed(KEY_HEADER, f"must be 1 to {KEY_MAX} printable ASCII characters")
    return key


def request_hash(payload: Any) -> str:
    """A fingerprint of the parsed body: key order and spacing do not change it."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _insert_key(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Insert the key row unless (user, key) exists; True if this request owns the key."""
    result = await session.execute(
        insert_ignoring_duplicates(session, IdempotencyKey, ["user_id", "key"]).values(**values)
    )
    return rowcount(result) == 1


async def _existing(session: AsyncSession, user_id: uuid.UUID, key: str) -> IdempotencyKey | None:
    found: IdempotencyKey | None = await session.scalar(
        select(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        .execution_options(populate_existing=True)
    )
    return found


def _replay(row: IdempotencyKey) -> JSONResponse:
    assert row.status_code is not None
    return JSONResponse(
        row.response_body, status_code=row.status_code, headers={REPLAYED_HEADER: "true"}
    )


async def run_idempotent(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    key: str | None,
    method: str,
    path: str,
    payload: Any,
    ttl_seconds: int,
    status_code: int,
    action: Callable[[], Awaitable[BaseModel]],
) -> JSONResponse:
    """Run `action` once per (user, key) and answer its result; a retry gets the same answer.

    Without a key the action simply runs. `payload` is the parsed body (JSON-able).
    """
    if key is None:
        result = await action()
        return JSONResponse(result.model_dump(mode="json", by_alias=True), status_code=status_code)
    key = _valid_key(key)
    fingerprint = request_hash(payload)
    values = {
        "id": uuid.uuid4(),
        "user_id": user_id,
        "key": key,
        "method": method,
        "path": path[:500],
        "request_hash": fingerprint,
        "created_at": utcnow(),
    }
    for _attempt in range(2):
        if await _insert_key(session, values):
            break
        row = await _existing(session, user_id, key)
        if row is None:
            continue  # purged between the two statements: claim it again
        if row.created_at < utcnow() - timedelta(seconds=ttl_seconds):
            # Past its lifetime: the key may be used afresh.
            await session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == row.id))
            continue
        if (row.method, row.path, row.request_hash) != (method, values["path"], fingerprint):
            raise Conflict(
                "This Idempotency-Key was already used with a different request",
                code="idempotency_conflict",
            )
        if row.status_code is None:
            raise Conflict(
                "A request with this Idempotency-Key is still in progress",
                code="idempotency_in_progress",
            )
        return _replay(row)
    else:
        raise Conflict(
            "A request with this Idempotency-Key is still in progress",
            code="idempotency_in_progress",
        )
    result = await action()
    body = result.model_dump(mode="json", by_alias=True)
    row = await _existing(session, user_id, key)
    assert row is not None  # inserted above, in this transaction
    row.status_code = status_code
    row.response_body = body
    await session.flush()
    return JSONResponse(body, status_code=status_code)


async def idempotent_response(
    http_request: Request,
    session: AsyncSession,
    *,
    ttl_seconds: int,
    user_id: uuid.UUID,
    key: str | None,
    payload: Any,
    status_code: int,
    action: Callable[[], Awaitable[BaseModel]],
) -> JSONResponse:
    """`run_idempotent` for a route: the method and path come from the request."""
    return await run_idempotent(
        session,
        user_id=user_id,
        key=key,
        method=http_request.method,
        path=http_request.url.path,
        payload=payload,
        ttl_seconds=ttl_seconds,
        status_code=status_code,
        action=action,
    )


async def purge_expired_keys(session: AsyncSession, ttl_seconds: int) -> int:
    """Delete keys older than their lifetime; returns how many went."""
    result = await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.created_at < utcnow() - timedelta(seconds=ttl_seconds)
        ),
        execution_options=NO_SYNC,
    )
    return rowcount(result)

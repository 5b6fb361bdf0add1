"""camelCase models, the list envelope, page/limit parameters and opaque keyset cursors."""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
)
from pydantic.alias_generators import to_camel

from peal.core.errors import ValidationFailed


def _iso_utc(value: datetime) -> str:
    """ISO 8601 in UTC with a `Z` suffix, as API.md asks."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


UTCTimestamp = Annotated[datetime, PlainSerializer(_iso_utc, return_type=str, when_used="json")]


def _representable_in_utc(value: datetime) -> datetime:
    """An input time must exist in UTC: `9999-12-31T23:59:59-01:00` does not (year 10000)."""
    try:
        value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("is out of the supported date range") from exc
    return value


# A time the client sends: zone required, and convertible to UTC (where it is stored).
InputDateTime = Annotated[AwareDatetime, AfterValidator(_representable_in_utc)]


def input_date(value: Any) -> Any:
    """Before-validator of a date field that, as API.md says, accepts a date or a datetime;
    a datetime counts by its UTC day. What is not a valid date is left for pydantic to explain."""
    if isinstance(value, str) and len(value) > 10:
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.date()
        try:
            return value.astimezone(UTC).date()
        except OverflowError as exc:  # its UTC day is before year 1 or after 9999
            raise ValueError("is out of the supported date range") from exc
    return value


def contains_nul(value: Any) -> bool:
    """True when a string, or any string inside nested lists/tuples/dicts, contains U+0000.

    Iterative, so hostile deeply nested JSON cannot exhaust the recursion limit here.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, list | tuple | set | frozenset):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
    return False


class CamelModel(BaseModel):
    """Base of every request and response body: camelCase on the wire, snake_case in Python.

    Inputs accept either spelling; unknown input fields are ignored (never assigned), which is
    how mass assignment is ruled out: only the fields a model declares reach a service.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        from_attributes=True,
        str_strip_whitespace=True,
        ser_json_inf_nan="null",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul_characters(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold U+0000: refused here (422) for every field, list item
        # and mapping key, instead of failing as a database error (500) later on.
        if contains_nul(value):
            raise ValueError("must not contain NUL (\\u0000) characters")
        return value


class Pagination(CamelModel):
    page: int = Field(examples=[1])
    limit: int = Field(examples=[20])
    total: int = Field(examples=[137])
    total_pages: int = Field(examples=[7])
    has_more: bool = Field(examples=[True])
    next_cursor: str | None = Field(default=None, examples=[None])


T = TypeVar("T")


class Page(CamelModel, Generic[T]):
    """The list envelope: `{"data": [...], "pagination": {...}}`."""

    data: list[T]
    pagination: Pagination


class PageParams:
    """`page` (>= 1) and `limit` (1..100) query parameters, validated: out of range is 422."""

    def __init__(
        self,
        page: Annotated[int, Query(ge=1, le=100_000, description="Page number, from 1")] = 1,
        limit: Annotated[int, Query(ge=1, le=100, description="Items per page (1..100)")] = 20,
    ) -> None:
        self.page = page
        self.limit = limit

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit

    def pagination(self, total: int, next_cursor: str | None = None) -> Pagination:
        total_pages = math.ceil(total / self.limit) if total else 0
        has_more = next_cursor is not None or self.page < total_pages
        return Pagination(
            page=self.page,
            limit=self.limit,
            total=total,
            total_pages=total_pages,
            has_more=has_more,
            next_cursor=next_cursor,
        )


class CursorParams(PageParams):
    """Page parameters plus an opaque keyset `cursor` for time-ordered streams."""

    def __init__(
        self,
        page: Annotated[int, Query(ge=1, le=100_000, description="Page number, from 1")] = 1,
        limit: Annotated[int, Query(ge=1, le=100, description="Items per page (1..100)")] = 20,
        cursor: Annotated[
            str | None, Query(max_length=200, description="Opaque cursor from `nextCursor`")
        ] = None,
    ) -> None:
        super().__init__(page, limit)
        self.cursor = decode_cursor(cursor) if cursor else None

    def pagination(self, total: int, next_cursor: str | None = None) -> Pagination:
        result = super().pagination(total, next_cursor)
        if self.cursor is not None:
            # Following a cursor, the page number means nothing: more exist iff a next cursor.
            result.has_more = next_cursor is not None
        return result


class Cursor(BaseModel):
    """Position after the last item of a page ordered by (created_at DESC, id DESC)."""

    created_at: datetime
    id: uuid.UUID


def encode_cursor(created_at: datetime, item_id: uuid.UUID) -> str:
    raw = json.dumps({"c": _iso_utc(created_at), "i": str(item_id)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(value: str) -> Cursor:
    try:
        padded = value + "=" * (-len(value) % 4)
        data: Any = json.loads(base64.urlsafe_b64decode(padded.encode()))
        created_at = datetime.fromisoformat(data["c"])
        if created_at.tzinfo is None:  # a hand-made cursor: naive times are not comparable
            created_at = created_at.replace(tzinfo=UTC)
        # In UTC, as stored: a hand-made time past year 9999 in UTC is refused here
        # (OverflowError) rather than when it is bound to the query.
        created_at = created_at.astimezone(UTC)
        item_id = data["i"]
        if not isinstance(item_id, str):  # uuid.UUID(1) is an AttributeError, not a ValueError
            raise TypeError("cursor id must be a string")
        return Cursor(created_at=created_at, id=uuid.UUID(item_id))
    except (
        ValueError,
        KeyError,
        TypeError,
        OverflowError,
        binascii.Error,
        json.JSONDecodeError,
    ) as exc:
        raise ValidationFailed("cursor", "Invalid cursor") from exc


def date_only(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


class FieldError(BaseModel):
    field: str = Field(examples=["goalAmount"])
    message: str = Field(examples=["Input should be greater than or equal to 100"])


class ErrorBody(BaseModel):
    """Every error answer: `{"error", "code", "details"?}`."""

    error: str = Field(examples=["Validation failed"])
    code: str = Field(examples=["validation_error"])
    details: list[FieldError] | dict[str, Any] | None = None


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the given error statuses (422 is always listed)."""
    descriptions = {
        400: "Bad request",
        401: "Not authenticated, or the token is invalid or expired",
        403: "Authenticated but not allowed",
        404: "Not found, or not visible to you",
        409: "Conflict with the current state",
        413: "Body too large",
        422: "Validation failed (`details` lists each field)",
        429: "Rate limited (see `Retry-After`)",
    }
    return {
        status: {"model": ErrorBody, "description": descriptions.get(status, "Error")}
        for status in sorted({*statuses, 422})
    }

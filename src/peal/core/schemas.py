"""camelCase models, the list envelope, page/limit parameters and opaque keyset cursors."""

from __future__ import annotations

import base64
import binascii
import json
import math
import types
import uuid
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar, Union, get_args, get_origin

from fastapi import Query
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    PlainSerializer,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

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


NULL_REFUSED = "must not be null"


def refuse_null(value: Any) -> Any:
    """Leaving a field out of a partial update keeps it; sending null is a 422 naming it."""
    if value is None:
        raise ValueError(NULL_REFUSED)
    return value


def refuse_explicit_null(*fields: str) -> Any:
    """The one "explicit null refused on a partial update" validator, for the named fields
    (`"*"` for all). Validators do not run on defaults, so it sees only a null actually sent;
    the model's JSON schema drops `null` from those fields (see `CamelModel`)."""
    return field_validator(*fields, mode="before")(refuse_null)


def _accepted_types(annotation: Any) -> set[Any]:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _accepted_types(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return set().union(*(_accepted_types(arg) for arg in get_args(annotation)))
    if origin is Literal:
        return {type(arg) for arg in get_args(annotation)}
    if origin is not None:
        return {origin}
    return {annotation}


def _json_type_error(value: Any, annotation: Any) -> str | None:
    """Why a JSON scalar may not stand for this field, or None. Pydantic's lax mode would turn
    `0` into `false`, `false` into `0`, `"1"` into `1` and `0` into 1970-01-01: a client
    sending the wrong JSON type gets a 422 instead of a surprise."""
    accepted = _accepted_types(annotation)
    classes = tuple(kind for kind in accepted if isinstance(kind, type))
    if len(classes) != len(accepted) or object in classes:
        return None  # Any, a TypeVar, a forward reference...: not ours to judge

    def accepts(*kinds: type) -> bool:
        # bool is an int to Python, never to JSON.
        return any(issubclass(kind, kinds) and kind is not bool for kind in classes)

    if isinstance(value, bool):
        return None if bool in classes else "Input should not be a boolean"
    if isinstance(value, int | float):
        if accepts(int, float, Decimal):
            return None
        return "Input should not be a number" if bool in classes or accepts(date, time) else None
    if isinstance(value, str) and not accepts(str, Decimal, date, time, uuid.UUID):
        return "Input should not be a string" if bool in classes or accepts(int, float) else None
    return None


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
    def _no_nul_characters(cls, value: Any, info: ValidationInfo) -> Any:
        # PostgreSQL text cannot hold U+0000: refused here (422) for every field, list item
        # and mapping key, instead of failing as a database error (500) later on.
        if contains_nul(value):
            raise ValueError("must not contain NUL (\\u0000) characters")
        if info.field_name is not None:
            field = cls.model_fields.get(info.field_name)
            error = field is not None and _json_type_error(value, field.annotation)
            if error:
                raise ValueError(error)
        return value

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        refused = _null_refused_fields(cls)
        if refused:
            properties = handler.resolve_ref_schema(schema).get("properties", {})
            for name in refused:
                field = cls.model_fields[name]
                prop = properties.get(field.alias or name)
                if prop and "anyOf" in prop:
                    prop["anyOf"] = [item for item in prop["anyOf"] if item != {"type": "null"}]
                    if len(prop["anyOf"]) == 1:
                        prop.update(prop.pop("anyOf")[0])
                    if prop.get("default", ...) is None:
                        del prop["default"]
        return schema


def _null_refused_fields(model: type[BaseModel]) -> list[str]:
    names: list[str] = []
    for decorator in model.__pydantic_decorators__.field_validators.values():
        if getattr(decorator.func, "__func__", decorator.func) is not refuse_null:
            continue
        fields = decorator.info.fields
        names.extend(model.model_fields if "*" in fields else fields)
    return names


class Pagination(CamelModel):
    page: int = Field(examples=[1])
    limit: int = Field(examples=[20])
    total: int = Field(examples=[137])
    total_pages: int = Field(examples=[7])
    has_more: bool = Field(examples=[True])
    next_cursor: str | None = Field(default=None, examples=[None])

    @classmethod
    def of(
        cls,
        *,
        page: int,
        limit: int,
        total: int,
        next_cursor: str | None = None,
        by_cursor: bool = False,
    ) -> Pagination:
        """The envelope of page `page` of `total` items. A list walked by cursor (`by_cursor`)
        has more iff there is a next cursor: its page number means nothing there."""
        total_pages = math.ceil(total / limit) if total else 0
        return cls(
            page=page,
            limit=limit,
            total=total,
            total_pages=total_pages,
            has_more=next_cursor is not None or (not by_cursor and page < total_pages),
            next_cursor=next_cursor,
        )


T = TypeVar("T")


class Page(CamelModel, Generic[T]):
    """The list envelope: `{"data": [...], "pagination": {...}}`."""

    data: list[T]
    pagination: Pagination


PageNumber = Annotated[int, Query(ge=1, le=100_000, description="Page number, from 1")]
PageLimit = Annotated[int, Query(ge=1, le=100, description="Items per page (1..100)")]
PageCursor = Annotated[
    str | None, Query(max_length=200, description="Opaque cursor from `nextCursor`")
]


class PageParams:
    """`page` (>= 1) and `limit` (1..100) query parameters, validated: out of range is 422.

    Routes take it as `Annotated[PageParams, Depends(page_params)]`, not `Depends()`: FastAPI
    calls a class (a sync callable) in a worker thread, a thread hand-off per request."""

    def __init__(self, page: int = 1, limit: int = 20) -> None:
        self.page = page
        self.limit = limit

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit

    def pagination(self, total: int, next_cursor: str | None = None) -> Pagination:
        return Pagination.of(page=self.page, limit=self.limit, total=total, next_cursor=next_cursor)


class CursorParams(PageParams):
    """Page parameters plus an opaque keyset `cursor` for time-ordered streams
    (`Depends(cursor_params)`)."""

    def __init__(self, page: int = 1, limit: int = 20, cursor: str | None = None) -> None:
        super().__init__(page, limit)
        self.cursor = decode_cursor(cursor) if cursor else None

    def pagination(self, total: int, next_cursor: str | None = None) -> Pagination:
        return Pagination.of(
            page=self.page,
            limit=self.limit,
            total=total,
            next_cursor=next_cursor,
            by_cursor=self.cursor is not None,
        )


async def page_params(page: PageNumber = 1, limit: PageLimit = 20) -> PageParams:
    return PageParams(page, limit)


async def cursor_params(
    page: PageNumber = 1, limit: PageLimit = 20, cursor: PageCursor = None
) -> CursorParams:
    return CursorParams(page, limit, cursor)


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


ERROR_DESCRIPTIONS = {
    400: "Bad request (malformed JSON, or a request the server cannot act on)",
    401: "Not authenticated, or the token is invalid or expired",
    403: "Authenticated but not allowed (or a cookie session without its CSRF header)",
    404: "Not found, or not visible to you",
    409: "Conflict with the current state",
    413: "Body too large",
    415: "Body not sent as `application/json`",
    422: "Validation failed (`details` lists each field)",
    429: "Rate limited (see `Retry-After`)",
    502: "The payment provider failed",
    503: "Not configured on this server, or a service it needs is down",
}


def error_cases(description: str, **cases: str) -> dict[str, Any]:
    """An OpenAPI `responses` entry for one status that a route answers with several codes:
    `error_cases("...", token_used="This link was already used...")`, one example per code."""
    examples = {
        code: {"summary": code, "value": {"error": message, "code": code}}
        for code, message in cases.items()
    }
    return {
        "model": ErrorBody,
        "description": description,
        "content": {"application/json": {"examples": examples}},
    }


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for a route's own domain errors (403, 404, 409, 503...).

    The answers every route shares (400/413/415 for a body, 401/403 for auth, 404 for a path
    naming a resource, 422, 429) are added for every route by `peal.core.openapi`.
    """
    return {
        status: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS.get(status, "Error")}
        for status in sorted({*statuses, 422})
    }

"""JSON request bodies, checked once before any route parses them: nesting depth and numbers.

- Nesting: Python's parser (and any recursive walk after it) fails with RecursionError, a
  500, on a body nested ~1,000 deep. A linear scan refuses anything deeper than
  MAX_JSON_DEPTH with 400 `malformed_json` before a parser sees it.
- Numbers: FastAPI parses JSON numbers as floats, so `5.0000000000000000000000001` would
  become 5. The body is parsed once more with decimals, and a number that a float does not
  hold exactly (more than ~17 significant digits) is a 422 naming its field; every number
  that reaches a route therefore has its exact decimal value (money converts it losslessly).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from peal.core.errors import BadRequest, error_response

MAX_JSON_DEPTH = 32

_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"?')  # an unclosed string runs to the end
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOO_DEEP_MESSAGE = f"Malformed JSON body (unbalanced, or nested deeper than {MAX_JSON_DEPTH})"


def too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the brackets of `body` (outside strings) nest deeper than about `limit`, or do
    not balance. Linear: each round deletes every innermost pair, in C."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        inner = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if inner == brackets:
            break
        brackets = inner
    return bool(brackets)


def load_json(body: bytes) -> Any:
    """The parsed body (None when empty); BadRequest when malformed or too deep."""
    if not body.strip():
        return None
    if too_deep(body):
        raise BadRequest(TOO_DEEP_MESSAGE, code="malformed_json")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("Malformed JSON body", code="malformed_json") from exc


def _inexact_number(value: Any, path: tuple[str, ...] = ()) -> str | None:
    """The dotted path of the first number a float cannot hold exactly, if any."""
    if isinstance(value, Decimal):
        exact = value.is_finite() and Decimal(repr(float(value))) == value
        return None if exact else ".".join(path) or "body"
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _inexact_number(item, (*path, str(key)))
        if found:
            return found
    return None


def _is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return True  # FastAPI parses a body without a content type as JSON too


class JsonBodyGuardMiddleware:
    """Reads a JSON body, refuses it when too deep (400) or carrying a number that would lose
    precision (422), else hands the same bytes on. Sits inside the body size limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in _BODY_METHODS
            or not _is_json(scope.get("headers", []))
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        refusal = self._refusal(body)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    def _refusal(body: bytes) -> Any:
        if too_deep(body):
            return error_response(400, TOO_DEEP_MESSAGE, "malformed_json")
        try:
            parsed = json.loads(body, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            return None  # the route answers its usual 400 malformed_json
        field = _inexact_number(parsed)
        if field is None:
            return None
        message = "must be a number of at most 15 significant digits"
        return error_response(
            422, "Validation failed", "validation_error", [{"field": field, "message": message}]
        )

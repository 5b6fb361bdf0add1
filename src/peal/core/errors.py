"""Domain errors and the single place that turns every failure into the API error shape."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match, Route

from peal.core.text import NOT_BLANK

log = structlog.get_logger("peal.errors")


class AppError(Exception):
    """A failure the client caused or may act on; carries its HTTP status and a stable code."""

    status_code = 400
    code = "bad_request"
    message = "Bad request"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.details = details
        self.headers = headers
        super().__init__(self.message)


class BadRequest(AppError):
    pass


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"
    message = "Authentication required"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    message = "You are not allowed to do this"


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    message = "Not found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    message = "Conflict"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"
    message = "Request body too large"


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"
    message = "Unsupported content type"


class ValidationFailed(AppError):
    status_code = 422
    code = "validation_error"
    message = "Validation failed"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, details=[{"field": field, "message": message}])


class RateLimited(AppError):
    status_code = 429
    code = "rate_limited"
    message = "Too many requests"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"
    message = "Service temporarily unavailable"


def error_body(message: str, code: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": message, "code": code}
    if details is not None:
        body["details"] = details
    return body


def error_response(
    status: int, message: str, code: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(message, code, details), status_code=status, headers=headers)


_HTTP_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "You are not allowed to do this"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("payload_too_large", "Request body too large"),
    415: ("unsupported_media_type", "Unsupported content type"),
    429: ("rate_limited", "Too many requests"),
}


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or "body"


def validation_details(errors: list[Any]) -> list[dict[str, str]]:
    details = []
    for err in errors:
        message = str(err.get("msg", "Invalid value"))
        message = message.removeprefix("Value error, ")
        pattern = (err.get("ctx") or {}).get("pattern")
        if err.get("type") == "string_pattern_mismatch" and pattern == NOT_BLANK:
            message = "must not be empty"
        details.append({"field": _field_name(tuple(err.get("loc", ()))), "message": message})
    return details


async def _app_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return error_response(exc.status_code, exc.message, exc.code, exc.details, exc.headers)


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(err.get("type") == "json_invalid" for err in errors):
        return error_response(400, "Malformed JSON body", "malformed_json")
    content_type = request.headers.get("content-type", "")
    body_errors = any(tuple(err.get("loc", ()))[:1] == ("body",) for err in errors)
    if body_errors and content_type and not _is_json(content_type):
        # FastAPI does not parse a JSON body sent under another type; say so instead of
        # listing every field as missing.
        return error_response(415, "Send the body as application/json", "unsupported_media_type")
    return error_response(422, "Validation failed", "validation_error", validation_details(errors))


def _specificity(path: str) -> tuple[int, int]:
    """Fewer parameters, then more literal text: `/uploads/complete` beats `/uploads/{key}`."""
    literal = re.sub(r"{[^}]*}", "", path)
    return (-path.count("{"), len(literal))


def http_routes(routes: Iterable[BaseRoute]) -> Iterator[Route]:
    """Every route that answers HTTP methods, those of included routers too.

    Read from the routers themselves, not from FastAPI's route contexts: walking those builds
    every included route's state again (about half a second for this app), on each app made.
    Our routers carry their own prefix and are included without one.
    """
    for route in routes:
        if isinstance(route, Route):
            yield route
        included = getattr(route, "original_router", None)  # FastAPI's included-router entry
        if isinstance(included, APIRouter):
            yield from http_routes(included.routes)


def _allowed_methods(request: Request) -> str:
    """The methods of the resource at this path (its routes may be declared separately).

    Where several templates match (`/api/uploads/complete` and `/api/uploads/{key}`), the
    resource is the most specific one: a literal path segment is its own resource, not a
    value of a neighbour's parameter. HEAD is listed only where a route really serves it (a
    Starlette route adds it to its methods; a FastAPI GET route answers HEAD with 405).
    """
    by_path: dict[str, set[str]] = {}
    probe = {**request.scope, "method": "__none__"}
    for route in http_routes(request.app.router.routes):
        if route.endpoint is _method_not_allowed:
            continue
        match, _ = route.matches(probe)
        if match != Match.NONE:
            by_path.setdefault(route.path, set()).update(route.methods or ())
    if not by_path:
        return ""
    return ", ".join(sorted(by_path[max(by_path, key=_specificity)]))


async def _method_not_allowed(_request: Request) -> None:
    raise StarletteHTTPException(405)


def refuse_shadowed_methods(app: FastAPI) -> None:
    """A literal path (`/api/videos/trending`) is a resource of its own: a method it lacks
    answers 405 with its `Allow`, instead of reaching a neighbour's `{videoId}` route as an
    id ("trending") and failing there with 422. Call once every router is included."""
    routes = [route for route in http_routes(app.router.routes) if route.methods]
    own: dict[str, set[str]] = {}
    for route in routes:
        own.setdefault(route.path, set()).update(route.methods or ())
    for literal, methods in own.items():
        # A templated path is probed with a stand-in value; only a catch-all `{...:path}`
        # route can shadow it (`DELETE /api/uploads/{key:path}` over the local upload PUT).
        templated = "{" in literal
        path = re.sub(r"\{[^}]+\}", "x", literal)
        probe = {"type": "http", "path": path, "root_path": "", "method": "__none__"}
        shadowed: set[str] = set()
        for route in routes:
            other = route.path
            if other == literal or "{" not in other or (templated and ":path}" not in other):
                continue
            if route.matches(probe)[0] != Match.NONE:
                shadowed |= set(route.methods or ())
        if shadowed - methods:
            refusal = Route(literal, _method_not_allowed, methods=sorted(shadowed - methods))
            app.router.routes.insert(0, refusal)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
    code, default_message = _HTTP_CODES.get(exc.status_code, ("error", "Request failed"))
    message = exc.detail if isinstance(exc.detail, str) and exc.detail else default_message
    if exc.status_code == 404 and message == "Not Found":
        message = "Route not found"
    if exc.status_code == 405 and message == "Method Not Allowed":
        message = default_message
    return error_response(exc.status_code, message, code, headers=headers)


async def _unhandled_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception(
        "unhandled_error",
        path=request.url.path,
        method=request.method,
        error_type=type(exc).__name__,
    )
    return error_response(500, "Internal server error", "internal_error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unhandled_error)

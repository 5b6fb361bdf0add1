"""The OpenAPI document says exactly what the server does, decided in one place.

For every route it derives, from what the route itself declares (its auth dependency, body,
path parameters), the security requirement and the error answers the shared machinery can
give: optional auth is optional (`[{}, {"bearer": []}]`), required auth is required; 400
(malformed JSON), 413 and 415 wherever a body is read; 401 wherever a token is read (a bad one is
refused even where auth is optional), 403 where a cookie session needs its CSRF header; 404
wherever a path names a resource; 422 wherever there is input; 429 wherever the rate limit
applies. A route lists only its own domain answers (403/404/409/503...) through
`error_responses`; everything else is added here, so a new route is described truthfully
without repeating anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_flat_params
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from peal.core.ratelimit import is_rate_limit_exempt
from peal.core.schemas import ERROR_DESCRIPTIONS, ErrorBody
from peal.core.text import NOT_BLANK

AUTH_SCHEME = "bearer"
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ERROR_SCHEMA_REF = {"$ref": "#/components/schemas/ErrorBody"}
# No text anywhere may hold U+0000 (CamelModel and NulQueryGuardMiddleware refuse it).
NO_NUL = r"^[^\x00]*$"
NOT_BLANK_NO_NUL = r"^[^\x00]*[^\s\x00][^\x00]*$"


def _refuse_nul_in_strings(node: Any) -> None:
    """Say in every plain string schema that NUL is refused (a pattern of its own, or the
    not-blank pattern made NUL-free)."""
    pending = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        if item.get("type") == "string" and not ({"format", "enum", "const"} & item.keys()):
            if "pattern" not in item:
                item["pattern"] = NO_NUL
            elif item["pattern"] == NOT_BLANK:
                item["pattern"] = NOT_BLANK_NO_NUL
        pending.extend(item.values())


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    """Every dependency callable a route runs, however deeply nested."""
    pending = [dependant]
    while pending:
        current = pending.pop()
        if current.call is not None:
            yield current.call
        pending.extend(current.dependencies)


def _has_body(route: APIRoute) -> bool:
    return route.body_field is not None or "requestBody" in (route.openapi_extra or {})


def _has_inputs(route: APIRoute) -> bool:
    return _has_body(route) or bool(get_flat_params(route.dependant))


def route_statuses(route: APIRoute, path: str, auth: str | None) -> set[int]:
    """The error statuses the shared machinery may answer on this route."""
    statuses: set[int] = set()
    if _has_body(route):
        statuses |= {400, 413, 415}
    if auth is not None:
        statuses.add(401)
        if (route.methods or set()) & _UNSAFE_METHODS:
            statuses.add(403)  # a cookie session without its CSRF header
    if "{" in path:
        statuses.add(404)
    if _has_inputs(route):
        statuses.add(422)
    if not is_rate_limit_exempt(path):
        statuses.add(429)
    return statuses


def _auth_of(
    route: APIRoute, required: Callable[..., Any], optional: Callable[..., Any]
) -> str | None:
    calls = set(_calls(route.dependant))
    if required in calls:
        return "required"
    if optional in calls:
        return "optional"
    return None


def _security(auth: str | None) -> list[dict[str, list[str]]] | None:
    if auth == "required":
        return [{AUTH_SCHEME: []}]
    if auth == "optional":
        return [{}, {AUTH_SCHEME: []}]
    return None


def build_openapi(
    app: FastAPI, *, required_auth: Callable[..., Any], optional_auth: Callable[..., Any]
) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    error_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in {**error_schema.pop("$defs", {}), "ErrorBody": error_schema}.items():
        schemas.setdefault(name, definition)
    _refuse_nul_in_strings(schemas)
    _refuse_nul_in_strings(schema.get("paths", {}))
    components["securitySchemes"] = {
        AUTH_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "Access token from login or register (or the `peal_access` "
            "cookie with the `X-CSRF-Token` header)",
        }
    }
    for context in iter_route_contexts(app.router.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        path = str(context.path_format)
        auth = _auth_of(route, required_auth, optional_auth)
        for method in context.methods or ():
            operation = schema["paths"].get(path, {}).get(method.lower())
            if operation is None:
                continue
            security = _security(auth)
            if security is None:
                operation.pop("security", None)
            else:
                operation["security"] = security
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if status[0] in "45" and "content" not in response:
                    response["content"] = {"application/json": {"schema": _ERROR_SCHEMA_REF}}
            for status in sorted(route_statuses(route, path, auth)):
                responses.setdefault(
                    str(status),
                    {
                        "description": ERROR_DESCRIPTIONS.get(status, "Error"),
                        "content": {"application/json": {"schema": _ERROR_SCHEMA_REF}},
                    },
                )
            operation["responses"] = dict(sorted(responses.items()))
    return schema


def install_openapi(
    app: FastAPI, *, required_auth: Callable[..., Any], optional_auth: Callable[..., Any]
) -> None:
    """Serve the document built by `build_openapi` (computed once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(
                app, required_auth=required_auth, optional_auth=optional_auth
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

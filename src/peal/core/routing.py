"""One handler under several methods or routers, declared once.

The web client updates with PUT or PATCH (both change only the fields sent), and reaches some
routes under two prefixes (`/api/messages` beside `/api/conversations`). Each pair is one
handler registered twice: same summary, responses and parameters, and FastAPI's operationId
(name, path, method) stays distinct per registration.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Path

Handler = TypeVar("Handler", bound=Callable[..., Any])

ALIAS_SUFFIX = " (alias)"


def put_and_patch(router: APIRouter, path: str, **options: Any) -> Callable[[Handler], Handler]:
    """Register the handler for PUT and PATCH on `path` (the options of `router.put`)."""

    def register(handler: Handler) -> Handler:
        router.api_route(path, methods=["PATCH"], **options)(handler)
        router.api_route(path, methods=["PUT"], **options)(handler)
        return handler

    return register


def with_alias(
    router: APIRouter, alias: APIRouter, method: str, path: str, *, summary: str, **options: Any
) -> Callable[[Handler], Handler]:
    """Register the handler on `router` and on the `alias` router, whose summary says so."""

    def register(handler: Handler) -> Handler:
        alias.api_route(path, methods=[method], summary=summary + ALIAS_SUFFIX, **options)(handler)
        router.api_route(path, methods=[method], summary=summary, **options)(handler)
        return handler

    return register


def path_id(name: str, what: str, *, example: int = 1) -> Any:
    """The `Path` of an id in the URL: `name` is its camelCase name in the path template (as
    on the wire), while the handler's argument stays snake_case.

    Use as `VideoId = Annotated[uuid.UUID, path_id("videoId", "video")]`.
    """
    return Path(alias=name, description=f"The {what}'s id", examples=[uuid.UUID(int=example)])

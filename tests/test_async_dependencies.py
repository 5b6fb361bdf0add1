"""Every route and every dependency of the app is async.

FastAPI runs a plain `def` (or a class used as `Depends()`) in a worker thread: a thread
hand-off, a GIL round trip and a capacity-limiter wait per call, on every request. A profile
of the hot reads found three such hand-offs per request (the `FromApp` services and
`Depends(PageParams)`), about 6% of the event loop's busy time."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from peal.config import Settings
from peal.main import create_app
from tests.helpers import sub_dependants


def _is_async(call: object) -> bool:
    """FastAPI's own rule: a class is called in a thread; a routine or an object's `__call__`
    runs on the event loop when it is `async def` (a coroutine or an async generator)."""
    if inspect.isclass(call):
        return False
    target = call if inspect.isroutine(call) else getattr(call, "__call__", None)  # noqa: B004
    return inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)


def _sync_calls(dependant: Dependant, where: str) -> Iterator[str]:
    for sub in sub_dependants(dependant):
        if sub.call is not None and not _is_async(sub.call):
            yield f"{where}: {getattr(sub.call, '__qualname__', type(sub.call).__qualname__)}"


def sync_calls(app: FastAPI) -> list[str]:
    found = []
    for context in iter_route_contexts(app.router.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        where = f"{','.join(sorted(route.methods))} {context.path_format}"
        if not _is_async(route.endpoint):
            found.append(f"{where}: the handler {route.endpoint.__qualname__}")
        found.extend(_sync_calls(route.dependant, where))
    return sorted(set(found))


def test_no_route_or_dependency_runs_in_a_thread(settings: Settings) -> None:
    found = sync_calls(create_app(settings))
    assert not found, "make these `async def` (they would run in a worker thread):\n" + (
        "\n".join(found)
    )


class _Params:
    def __init__(self, page: int = 1) -> None:
        self.page = page


class _Service:
    def __call__(self) -> int:
        return 1


def _sync_handler(params: Annotated[_Params, Depends()]) -> dict[str, str]:
    return {}


async def _async_handler(value: Annotated[int, Depends(_Service())]) -> dict[str, str]:
    return {}


def test_the_check_finds_sync_handlers_classes_and_callables() -> None:
    app = FastAPI()
    app.get("/sync")(_sync_handler)
    app.get("/async")(_async_handler)
    assert sync_calls(app) == [
        "GET /async: _Service",
        "GET /sync: _Params",
        "GET /sync: the handler _sync_handler",
    ]

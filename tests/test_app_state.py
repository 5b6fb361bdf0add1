"""The app's services are reached through the typed dependencies of `peal/deps.py`
(`SettingsDep`, `StorageDep`, ...): no other module reads or writes `app.state`."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from peal.auth.dependencies import optional_user
from peal.config import Settings
from peal.deps import FromApp, get_session, install
from peal.main import create_app
from tests.helpers import sub_dependants

SRC = Path(__file__).resolve().parent.parent / "src" / "peal"
ALLOWED = {SRC / "deps.py"}


def _app_state_uses(source: str) -> list[int]:
    """Lines of `app.state`, `request.app.state`, `self.app.state`... in `source`."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Attribute) and node.attr == "state"):
            continue
        owner = node.value
        name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
        if name.endswith("app"):
            lines.append(node.lineno)
    return lines


def test_only_deps_touches_app_state() -> None:
    found = [
        f"{path.relative_to(SRC.parent)}:{line}"
        for path in sorted(SRC.rglob("*.py"))
        if path not in ALLOWED
        for line in _app_state_uses(path.read_text(encoding="utf-8"))
    ]
    assert not found, "use a typed dependency from peal.deps instead of app.state:\n" + "\n".join(
        found
    )


def test_the_check_sees_every_way_to_the_app_state() -> None:
    source = (
        "def f(request, app, scope):\n"
        "    a = request.app.state.settings\n"
        "    app.state.db = 1\n"
        "    b = getattr(request.app.state, 'x')\n"
        "    c = request.state.user_id\n"  # the request's own state is not the app's
    )
    assert _app_state_uses(source) == [2, 3, 4]


def test_install_refuses_an_app_without_a_service_a_dependency_asks_for() -> None:
    FromApp[int]("no_such_service")
    try:
        with pytest.raises(ValueError, match="no_such_service"):
            install(FastAPI(), SimpleNamespace(settings=None))
    finally:
        FromApp.wanted.discard("no_such_service")


def test_the_session_and_the_caller_read_their_services_without_dependencies(
    settings: Settings,
) -> None:
    """Every request runs `get_session` and most run `optional_user`: each sub-dependency FastAPI
    solves costs ~15 µs a request, so these two read their services (`FromApp.of`)."""
    seen = 0
    for route in create_app(settings).routes:
        if not isinstance(route, APIRoute):
            continue
        for hot in sub_dependants(route.dependant):
            if hot.call not in (get_session, optional_user):
                continue
            seen += 1
            services = [sub.call for sub in sub_dependants(hot) if isinstance(sub.call, FromApp)]
            assert not services, f"{route.path}: {hot.call} solves {services}"
    assert seen > 100  # the walk reached the routes' dependencies

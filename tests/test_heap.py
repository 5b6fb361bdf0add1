"""`peal serve` freezes its start-up objects out of the collector's full passes; tests don't."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from peal import cli, main
from peal.config import Settings
from peal.core.heap import freeze_startup_heap


def test_freezing_puts_the_live_objects_out_of_the_collectors_reach() -> None:
    kept = [object() for _ in range(10)]  # alive across the freeze
    before = gc.get_freeze_count()
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() >= before + len(kept)
    finally:
        gc.unfreeze()  # a test process must free what it builds


def test_serve_runs_the_app_that_freezes_its_heap(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    seen: list[tuple[Any, ...]] = []
    monkeypatch.setenv("PORT", "3000")  # `serve --port` sets it: restored after the test
    monkeypatch.setattr(uvicorn, "run", lambda *args, **_kwargs: seen.append(args))
    assert cli.main(["serve", "--port", "3998", "--workers", "1"]) == 0
    assert seen == [("peal.main:create_served_app",)]


@pytest.mark.committing  # its own apps, started
@pytest.mark.parametrize(("factory", "freezes"), [("create_served_app", 1), ("create_app", 0)])
async def test_only_the_served_app_freezes_once_started(
    factory: str,
    freezes: int,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen: list[None] = []
    monkeypatch.setattr(main, "freeze_startup_heap", lambda: frozen.append(None))
    app: FastAPI = getattr(main, factory)(make_settings())
    assert frozen == []  # not while the app is built: start-up is not done
    async with app.router.lifespan_context(app):
        assert len(frozen) == freezes

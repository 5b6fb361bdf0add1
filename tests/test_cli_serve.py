"""`peal serve --workers`: one process per core when Redis shares their state, else one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from peal import cli
from peal.config import Settings


def test_default_workers_follow_the_cores_only_with_redis(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli.os, "cpu_count", lambda: 4)
    assert cli.default_workers(make_settings(redis_url="redis://127.0.0.1:6379/0")) == 4
    assert cli.default_workers(make_settings(redis_url=None)) == 1


def test_serve_passes_the_workers_to_uvicorn(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setenv("PORT", "3000")  # `serve --port` sets it: restored after the test
    monkeypatch.setattr(uvicorn, "run", lambda *_args, **kwargs: seen.update(kwargs))
    monkeypatch.setattr(cli.os, "cpu_count", lambda: 3)

    def settings() -> Settings:
        return make_settings(redis_url="redis://127.0.0.1:6379/0")

    settings.cache_clear = lambda: None  # type: ignore[attr-defined]
    monkeypatch.setattr(cli, "get_settings", settings)
    assert cli.main(["serve", "--port", "3999"]) == 0
    assert seen["workers"] == 3 and seen["port"] == 3999
    assert cli.main(["serve", "--workers", "2"]) == 0
    assert seen["workers"] == 2

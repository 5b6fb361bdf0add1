"""Log lines below the configured level cost nothing but the level check."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import structlog

from peal.config import Settings
from peal.core.logging import configure_logging


def test_a_line_below_the_level_runs_no_processor(settings: Settings) -> None:
    configure_logging(settings.model_copy(update={"log_level": "WARNING"}))
    reached: list[str] = []

    def spy(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> Any:
        reached.append(event["event"])
        return event

    processors = structlog.get_config()["processors"]
    structlog.configure(processors=[processors[0], spy, *processors[1:]])
    try:
        log = structlog.get_logger("peal.test_logging")
        log.info("not_written")
        log.warning("written")
        assert reached == ["written"]
    finally:
        configure_logging(settings)

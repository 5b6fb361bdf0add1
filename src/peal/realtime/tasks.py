"""The job worker's real-time wiring: with Redis, what its jobs raise reaches live sockets and
SSE streams held by the API processes (in the web app, the app wires its own hub)."""

from __future__ import annotations

from taskiq import TaskiqEvents, TaskiqState

from peal.config import get_settings
from peal.core.realtime import get_sink, set_sink
from peal.jobs import broker, is_in_process
from peal.realtime.hub import ExternalPublisher


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def _publish_from_worker(_state: TaskiqState) -> None:
    settings = get_settings()
    if is_in_process() or not settings.redis_url or get_sink() is not None:
        return
    set_sink(ExternalPublisher(settings.redis_url))


@broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
async def _stop_publishing(_state: TaskiqState) -> None:
    sink = get_sink()
    if isinstance(sink, ExternalPublisher):
        set_sink(None)
        await sink.close()

"""Operational endpoints: /health and /metrics."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request, Response
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from peal.deps import DatabaseDep, RedisDep, StorageCheckDep
from peal.ops import service
from peal.ops.schemas import HealthResponse

router = APIRouter(tags=["Operations"])

_NO_STORE = "no-store"


@router.head("/health", include_in_schema=False)
@router.get(
    "/health",
    response_model=HealthResponse,
    response_model_exclude_none=True,
    summary="Service health",
    description="Probes the database, the file storage and (when configured) Redis, each "
    "with a short timeout. 200 when all are up, 503 with `degraded` otherwise.",
    responses={
        503: {
            "model": HealthResponse,
            "description": "A service is down (`degraded`)",
            "content": {
                "application/json": {
                    "example": {
                        "status": "degraded",
                        "timestamp": "2026-11-25T14:00:00Z",
                        "services": {"database": "down", "storage": "up", "redis": "up"},
                    }
                }
            },
        }
    },
)
async def health(
    response: Response, db: DatabaseDep, storage_check: StorageCheckDep, redis: RedisDep
) -> HealthResponse:
    result = await service.health(db, storage_check, redis)
    response.headers["Cache-Control"] = _NO_STORE
    if result.status != "healthy":
        response.status_code = 503
    return result


def _registry() -> CollectorRegistry:
    # Several uvicorn workers each count their own requests: with PROMETHEUS_MULTIPROC_DIR set,
    # prometheus-client aggregates them from its files, else this process's registry is all.
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="Request counts and latencies (`peal_http_requests_total`, "
    "`peal_http_request_duration_seconds`) and process metrics, in the Prometheus text format "
    "(OpenMetrics when the `Accept` header asks for it).",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition",
            "content": {
                "text/plain": {
                    "example": "# HELP peal_http_requests_total HTTP requests\n"
                    "# TYPE peal_http_requests_total counter\n"
                    'peal_http_requests_total{method="GET",route="/health",status="200"} 3.0\n'
                }
            },
        }
    },
)
async def metrics(request: Request) -> Response:
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(
        encoder(_registry()), media_type=content_type, headers={"Cache-Control": _NO_STORE}
    )

"""Bodies of the operational endpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from peal.core.schemas import CamelModel, UTCTimestamp

ServiceState = Literal["up", "down"]
HealthStatus = Literal["healthy", "degraded"]


class HealthServices(CamelModel):
    database: ServiceState = Field(examples=["up"])
    storage: ServiceState = Field(examples=["up"])
    redis: ServiceState | None = Field(
        default=None, description="Present only when REDIS_URL is set", examples=["up"]
    )


class HealthResponse(CamelModel):
    """`healthy` (200) when every service answers, else `degraded` (503)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "healthy",
                    "timestamp": "2026-11-25T14:00:00Z",
                    "services": {"database": "up", "storage": "up", "redis": "up"},
                }
            ]
        }
    )

    status: HealthStatus = Field(examples=["healthy"])
    timestamp: UTCTimestamp = Field(examples=["2026-11-25T14:00:00Z"])
    services: HealthServices

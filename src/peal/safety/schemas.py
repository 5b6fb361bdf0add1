"""Wire shapes of blocks, mutes and data exports (API.md "Safety")."""

from __future__ import annotations

import uuid

from pydantic import Field

from peal.core.schemas import CamelModel, UTCTimestamp


class ShutOutPerson(CamelModel):
    """Someone I blocked or muted, and since when."""

    id: uuid.UUID
    name: str = Field(examples=["Someone"])
    avatar_url: str | None = None
    created_at: UTCTimestamp = Field(description="When I blocked (or muted) them")


class BlockOut(CamelModel):
    blocked: bool = Field(examples=[True])


class MuteOut(CamelModel):
    muted: bool = Field(examples=[True])


class ExportRequested(CamelModel):
    id: uuid.UUID
    status: str = Field(examples=["pending"])
    requested_at: UTCTimestamp


class ExportOut(ExportRequested):
    """The latest export: `downloadUrl` only while ready (valid until `expiresAt`)."""

    status: str = Field(examples=["ready"], description="pending | ready | failed | expired")
    ready_at: UTCTimestamp | None = None
    download_url: str | None = None
    expires_at: UTCTimestamp | None = None


class ExportRequestedEnvelope(CamelModel):
    export: ExportRequested


class ExportEnvelope(CamelModel):
    export: ExportOut

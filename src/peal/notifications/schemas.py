"""The Notification resource as the API shows it, and the inbox answers."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field, field_validator

from peal.core.schemas import CamelModel, Page, UTCTimestamp


class NotificationOut(CamelModel):
    id: uuid.UUID = Field(examples=["3f0c5a9e-8a63-4b8a-9a55-1c1f4b6f0d2e"])
    type: str = Field(
        examples=["donation"],
        description="like, comment, reply, follow, donation, request_funded, celebration, "
        "mentor_request, mentor_accepted, mentor_rejected, message, message_request, "
        "video_ready, video_upload",
    )
    title: str = Field(examples=["New donation"])
    message: str = Field(examples=["Sofia donated $25.00 to “Sewing studio”"])
    data: dict[str, Any] = Field(
        default_factory=dict,
        examples=[{"requestId": "8c1d2f0e-5b7a-4c3e-9f61-2a4b6c8d0e1f", "amount": 25}],
        description="Ids and values the client needs to link the notification",
    )
    is_read: bool = Field(examples=[False])
    created_at: UTCTimestamp = Field(examples=["2026-11-25T14:00:00Z"])

    @field_validator("data", mode="before")
    @classmethod
    def _no_null_data(cls, value: object) -> object:
        return {} if value is None else value


class NotificationEnvelope(CamelModel):
    notification: NotificationOut


class NotificationPage(Page[NotificationOut]):
    """The inbox page, plus the count of unread notifications (all of them, not this page's)."""

    unread_count: int = Field(examples=[3])


class ReadAllOut(CamelModel):
    updated: int = Field(examples=[3], description="How many notifications were unread")
    unread_count: int = Field(examples=[0])

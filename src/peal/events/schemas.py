"""The Event resource as the API shows it, and the event request bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from peal.core.schemas import (
    CamelModel,
    InputDateTime,
    Pagination,
    UTCTimestamp,
    refuse_explicit_null,
)
from peal.core.text import HttpUrlText, PlainText, TextBounds, plain_text
from peal.db import utcnow

TITLE_MAX = 255
DESCRIPTION_MAX = 10_000
LOCATION_MAX = 255

EventCategory = Literal["workshop", "webinar", "networking", "conference", "mentorship"]
EventStatus = Literal["upcoming", "ongoing", "completed", "cancelled"]


def _title(value: str) -> str:
    # Checked after HTML stripping: "<b></b>" is an empty title.
    if not value:
        raise ValueError("Title is required")
    if len(value) > TITLE_MAX:
        raise ValueError(f"Title must be at most {TITLE_MAX} characters")
    return value


def _max_length(limit: int) -> Any:
    def check(value: str | None) -> str | None:
        if value is not None and len(value) > limit:
            raise ValueError(f"Must be at most {limit} characters")
        return value or None

    return check


Title = Annotated[PlainText, TextBounds(TITLE_MAX, required=True), AfterValidator(_title)]
Description = Annotated[
    str | None,
    plain_text(DESCRIPTION_MAX),
    AfterValidator(_max_length(DESCRIPTION_MAX)),
    Field(json_schema_extra={"maxLength": DESCRIPTION_MAX}),
]
Location = Annotated[
    str | None,
    plain_text(LOCATION_MAX),
    AfterValidator(_max_length(LOCATION_MAX)),
    Field(json_schema_extra={"maxLength": LOCATION_MAX}),
]


# --- responses ------------------------------------------------------------------------------


class EventHost(CamelModel):
    id: uuid.UUID
    name: str = Field(examples=["Amara Okafor"])
    avatar_url: str | None = Field(default=None, examples=["https://cdn.peal.app/a/amara.jpg"])


class EventOut(CamelModel):
    """An event as the caller sees it: `meetingUrl` only for the host, admins and attendees."""

    id: uuid.UUID
    host_id: uuid.UUID
    host: EventHost
    title: str = Field(examples=["Pricing your handmade products"])
    description: str | None = Field(default=None, examples=["A hands-on workshop"])
    cover_image: str | None = Field(default=None, examples=["https://cdn.peal.app/e/cover.jpg"])
    event_date: UTCTimestamp = Field(examples=["2026-12-10T17:00:00Z"])
    end_date: UTCTimestamp | None = Field(default=None, examples=["2026-12-10T19:00:00Z"])
    location: str | None = Field(default=None, examples=["Online"])
    is_virtual: bool = Field(examples=[True])
    meeting_url: str | None = Field(default=None, examples=["https://meet.example.com/peal-42"])
    category: EventCategory = Field(examples=["workshop"])
    max_attendees: int | None = Field(default=None, examples=[50])
    attendee_count: int = Field(examples=[12])
    status: EventStatus = Field(examples=["upcoming"])
    is_registered: bool = Field(examples=[False])
    created_at: UTCTimestamp
    updated_at: UTCTimestamp


class EventResponse(CamelModel):
    event: EventOut


class EventsResponse(CamelModel):
    events: list[EventOut]
    pagination: Pagination


class RegistrationResponse(CamelModel):
    registered: bool = Field(examples=[True])
    attendee_count: int = Field(examples=[13])


# --- requests -------------------------------------------------------------------------------


class EventCreate(CamelModel):
    """A new event. Times need a timezone (`Z` for UTC); `eventDate` must be in the future."""

    title: Title = Field(examples=["Pricing your handmade products"])
    description: Description = Field(default=None, examples=["A hands-on workshop"])
    cover_image: HttpUrlText = Field(default=None, examples=["https://cdn.peal.app/e/cover.jpg"])
    event_date: InputDateTime = Field(examples=["2026-12-10T17:00:00Z"])
    end_date: InputDateTime | None = Field(default=None, examples=["2026-12-10T19:00:00Z"])
    location: Location = Field(default=None, examples=["Online"])
    is_virtual: bool = Field(default=False, examples=[True])
    meeting_url: HttpUrlText = Field(default=None, examples=["https://meet.example.com/peal-42"])
    category: EventCategory = Field(examples=["workshop"])
    max_attendees: int | None = Field(
        default=None, ge=1, le=1_000_000, examples=[50], description="null = unlimited"
    )

    @field_validator("event_date")
    @classmethod
    def _in_the_future(cls, value: datetime) -> datetime:
        if value <= utcnow():
            raise ValueError("eventDate must be in the future")
        return value

    @field_validator("end_date")
    @classmethod
    def _end_after_start(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("event_date")
        if value is not None and start is not None and value < start:
            raise ValueError("endDate must not be before eventDate")
        return value


class EventUpdate(CamelModel):
    """Only the fields sent change. `status: "cancelled"` cancels the event (attendees are
    notified); the other statuses follow the dates and are accepted but change nothing."""

    title: Title | None = Field(default=None, examples=["Pricing your handmade products"])
    description: Description = Field(default=None, examples=["A hands-on workshop"])
    cover_image: HttpUrlText = Field(default=None, examples=["https://cdn.peal.app/e/cover.jpg"])
    event_date: InputDateTime | None = Field(default=None, examples=["2026-12-10T17:00:00Z"])
    end_date: InputDateTime | None = Field(default=None, examples=["2026-12-10T19:00:00Z"])
    location: Location = Field(default=None, examples=["Online"])
    is_virtual: bool | None = Field(default=None, examples=[True])
    meeting_url: HttpUrlText = Field(default=None, examples=["https://meet.example.com/peal-42"])
    category: EventCategory | None = Field(default=None, examples=["workshop"])
    max_attendees: int | None = Field(
        default=None, ge=1, le=1_000_000, examples=[50], description="null = unlimited"
    )
    status: EventStatus | None = Field(default=None, examples=["cancelled"])

    _required = refuse_explicit_null("title", "event_date", "is_virtual", "category", "status")

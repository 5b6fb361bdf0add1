"""The SuccessStory resource as the API shows it, and the story bodies."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field

from peal.core.schemas import CamelModel, UTCTimestamp, refuse_explicit_null
from peal.core.text import bounded_text, optional_url
from peal.users.schemas import UserSummary

TITLE_MAX = 255
DESCRIPTION_MAX = 10_000
IMPACT_MAX = 5000


Title = Annotated[
    str, bounded_text(TITLE_MAX, required=True), Field(examples=["My bakery is open!"])
]
Description = Annotated[
    str,
    bounded_text(DESCRIPTION_MAX, required=True),
    Field(examples=["Thanks to 31 supporters, the oven arrived in March."]),
]
Impact = Annotated[
    str | None,
    bounded_text(IMPACT_MAX, required=False),
    Field(examples=["Three neighbours now work with me; we bake 400 loaves a day."]),
]
ImageUrl = Annotated[
    str | None,
    optional_url(),
    Field(examples=["https://cdn.peal.app/uploads/2f1c.../after.jpg"]),
]


class StoryCreate(CamelModel):
    """A new story. `requestId` names one of your own funding requests (its donors are told);
    `isFeatured` is taken from admins only and ignored for everyone else."""

    title: Title
    description: Description
    before_image_url: ImageUrl = None
    after_image_url: ImageUrl = None
    impact_description: Impact = None
    request_id: uuid.UUID | None = Field(default=None, examples=[uuid.UUID(int=3)])
    is_featured: bool | None = Field(default=None, examples=[False])


class StoryUpdate(CamelModel):
    """Only the fields sent change; `title` and `description` cannot be null."""

    title: Title | None = None
    description: Description | None = None
    before_image_url: ImageUrl = None
    after_image_url: ImageUrl = None
    impact_description: Impact = None
    request_id: uuid.UUID | None = Field(default=None, examples=[uuid.UUID(int=3)])
    is_featured: bool | None = Field(default=None, examples=[True])

    _no_null = refuse_explicit_null("title", "description")


class StoryOut(CamelModel):
    id: uuid.UUID
    title: str = Field(examples=["My bakery is open!"])
    description: str
    before_image_url: str | None = None
    after_image_url: str | None = None
    impact_description: str | None = None
    author_id: uuid.UUID
    author: UserSummary
    request_id: uuid.UUID | None = None
    celebrations_count: int = Field(examples=[42])
    celebrated_by_me: bool = False
    is_featured: bool = False
    created_at: UTCTimestamp
    updated_at: UTCTimestamp


class StoryEnvelope(CamelModel):
    story: StoryOut


class CelebrationOut(CamelModel):
    celebrated: bool = Field(examples=[True])
    celebrations_count: int = Field(examples=[43])

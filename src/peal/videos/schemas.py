"""The Video and Comment resources as the API shows them, and the videos request bodies."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from peal.core.schemas import CamelModel, UTCTimestamp, refuse_explicit_null
from peal.core.text import URL_MAX, TextBounds, optional_url, strip_html
from peal.users.schemas import UserSummary

TITLE_MAX = 255
DESCRIPTION_MAX = 5000
CATEGORY_MAX = 100
TAG_MAX = 30
TAGS_MAX = 10
COMMENT_MAX = 2000

_SPACES = re.compile(r"\s+")


def normalize_tag(value: str) -> str:
    """`  #Small Business ` → `small business`: plain text, no leading `#`, single spaces,
    lower case (in Python, so matching is case-insensitive on every database)."""
    return _SPACES.sub(" ", strip_html(value, CATEGORY_MAX)).strip().lstrip("#").strip().lower()


def _tags(values: list[str]) -> list[str]:
    tags: list[str] = []
    for value in values:
        tag = normalize_tag(value)
        if not tag:
            continue
        if len(tag) > TAG_MAX:
            raise ValueError(f"each tag must be at most {TAG_MAX} characters")
        if tag not in tags:
            tags.append(tag)
    if len(tags) > TAGS_MAX:
        raise ValueError(f"at most {TAGS_MAX} tags")
    return tags


def _title(value: str) -> str:
    title = strip_html(value, TITLE_MAX)
    if not title:
        raise ValueError("must not be empty")
    return title


def _description(value: str | None) -> str | None:
    if value is None:
        return None
    text = strip_html(value, DESCRIPTION_MAX)
    return text or None


def _category(value: str | None) -> str | None:
    if value is None:
        return None
    category = normalize_tag(value)
    if len(category) > CATEGORY_MAX:
        raise ValueError(f"must be at most {CATEGORY_MAX} characters")
    return category or None


def _comment(value: str) -> str:
    text = strip_html(value, COMMENT_MAX)
    if not text:
        raise ValueError("must not be empty")
    return text


Title = Annotated[str, TextBounds(TITLE_MAX, required=True), AfterValidator(_title)]
Description = Annotated[str | None, AfterValidator(_description)]
Category = Annotated[str | None, AfterValidator(_category)]
Tags = Annotated[
    list[Annotated[str, Field(max_length=200)]], Field(max_length=50), AfterValidator(_tags)
]
CommentText = Annotated[str, TextBounds(COMMENT_MAX, required=True), AfterValidator(_comment)]
FileUrl = Annotated[str | None, optional_url()]

VideoStatus = Literal["processing", "ready", "failed"]


class VideoAuthor(UserSummary):
    """A video's author as the video modal shows her: the summary and her location."""

    location: str | None = Field(default=None, examples=["Lagos, Nigeria"])


class VideoOut(CamelModel):
    """A video as the caller sees it (`likedByMe` is the caller's)."""

    id: uuid.UUID
    title: str = Field(examples=["How I opened my bakery"])
    description: str | None = Field(default=None, examples=["Three years, two ovens, one dream."])
    thumbnail_url: str | None = Field(
        default=None, examples=["https://api.peal.app/media/u/3f1c.../a1b2.jpg"]
    )
    video_url: str = Field(examples=["https://api.peal.app/media/u/3f1c.../9b2e.mp4"])
    video_duration: int | None = Field(default=None, examples=[42], description="Seconds")
    category: str | None = Field(default=None, examples=["entrepreneurship"])
    tags: list[str] = Field(default_factory=list, examples=[["baking", "small business"]])
    status: VideoStatus = Field(examples=["ready"])
    author_id: uuid.UUID
    author: VideoAuthor
    views_count: int = Field(examples=[1520])
    likes_count: int = Field(examples=[312])
    comments_count: int = Field(examples=[27])
    shares_count: int = Field(examples=[9])
    is_trending: bool = Field(examples=[False])
    liked_by_me: bool = Field(examples=[False])
    created_at: UTCTimestamp
    updated_at: UTCTimestamp


class VideoEnvelope(CamelModel):
    """`{"video": {...}}`."""

    video: VideoOut


class VideoCreate(CamelModel):
    """A new video from one of your completed uploads (`url` from `/api/uploads/complete`)."""

    video_url: str = Field(
        min_length=1,
        max_length=URL_MAX,
        examples=["https://api.peal.app/media/u/3f1c2a4e-0b7d-4c55-9a41-0d7f5e6b8c21/9b2e.mp4"],
    )
    title: Title = Field(examples=["How I opened my bakery"])
    description: Description = Field(default=None, examples=["Three years, two ovens."])
    category: Category = Field(default=None, examples=["entrepreneurship"])
    tags: Tags = Field(default_factory=list, examples=[["baking", "#SmallBusiness"]])
    thumbnail_url: FileUrl = Field(
        default=None,
        description="One of your completed image uploads; made from a frame when omitted.",
        examples=[None],
    )


class VideoUpdate(CamelModel):
    """The fields an author may change; any other field sent is ignored. Only the fields
    present change; `description`, `category` and `thumbnailUrl` are cleared by null."""

    title: Title | None = Field(default=None, examples=["How I opened my bakery (update)"])
    description: Description = Field(default=None, examples=["Now with three ovens."])
    category: Category = Field(default=None, examples=["entrepreneurship"])
    tags: Tags | None = Field(default=None, examples=[["baking"]])
    thumbnail_url: FileUrl = Field(default=None, examples=[None])

    _no_null = refuse_explicit_null("title", "tags")


class LikeOut(CamelModel):
    liked: bool = Field(examples=[True])
    likes_count: int = Field(examples=[313])


class ViewOut(CamelModel):
    """`counted` is false when this viewer's view was already counted this hour."""

    counted: bool = Field(examples=[True])
    views_count: int = Field(examples=[1521])


class ShareOut(CamelModel):
    shares_count: int = Field(examples=[10])


class CommentOut(CamelModel):
    id: uuid.UUID
    video_id: uuid.UUID
    user_id: uuid.UUID
    user: UserSummary
    content: str = Field(examples=["This is so inspiring!"])
    parent_id: uuid.UUID | None = Field(default=None, examples=[None])
    replies_count: int = Field(examples=[2])
    created_at: UTCTimestamp


class CommentEnvelope(CamelModel):
    """`{"comment": {...}}`."""

    comment: CommentOut


class CommentCreate(CamelModel):
    content: CommentText = Field(examples=["This is so inspiring!"])
    parent_id: uuid.UUID | None = Field(
        default=None, description="Reply to this comment (of the same video)", examples=[None]
    )

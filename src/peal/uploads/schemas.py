"""Request and response bodies of the uploads API."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from peal.core.schemas import CamelModel, UTCTimestamp
from peal.storage.media import (
    CONTENT_TYPE_ALIASES,
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    kind_of,
    normalize_content_type,
)

FILE_NAME_MAX = 255
KEY_MAX = 255


def _accepted_type(value: str) -> str:
    content_type = normalize_content_type(value)
    if kind_of(content_type) is None:
        raise ValueError(
            "must be one of image/jpeg, image/png, image/gif, image/webp, video/mp4, "
            "video/webm, video/quicktime"
        )
    return content_type


def _file_name(value: str | None) -> str | None:
    """Kept as a label only (never a path): the last path segment, printable, bounded."""
    if value is None:
        return None
    name = value.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if char.isprintable()).strip()
    return name[:FILE_NAME_MAX] or None


def _content_type_pattern() -> str:
    """The accepted types (and their aliases), any case, optional parameters: what
    `_accepted_type` admits, said in the schema."""
    names = sorted({*IMAGE_EXTENSIONS, *VIDEO_EXTENSIONS, *CONTENT_TYPE_ALIASES})
    spelled = "|".join(
        "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in name)
        for name in names
    )
    return rf"^\s*({spelled})\s*(;.*)?$"


AcceptedContentType = Annotated[
    str, StringConstraints(pattern=_content_type_pattern()), AfterValidator(_accepted_type)
]
FileName = Annotated[str | None, AfterValidator(_file_name)]


class PresignRequest(CamelModel):
    file_name: FileName = Field(default=None, max_length=1024, examples=["my-pitch.mp4"])
    content_type: AcceptedContentType = Field(max_length=100, examples=["video/mp4"])


class PresignResponse(CamelModel):
    """PUT the bytes to `uploadUrl` with the `headers` given, then call `complete`."""

    upload_url: str = Field(
        examples=["https://api.peal.app/api/uploads/local/u/3f1c.../9b2e....mp4?expires=..."]
    )
    file_url: str = Field(
        examples=["https://api.peal.app/media/u/3f1c2a4e-0b7d-4c55-9a41-0d7f5e6b8c21/9b2e.mp4"]
    )
    key: str = Field(examples=["u/3f1c2a4e-0b7d-4c55-9a41-0d7f5e6b8c21/9b2e4f.mp4"])
    max_size: int = Field(examples=[524288000])
    method: str = Field(default="PUT", examples=["PUT"])
    headers: dict[str, str] = Field(examples=[{"Content-Type": "video/mp4"}])
    expires_at: UTCTimestamp


class CompleteRequest(CamelModel):
    key: str = Field(min_length=1, max_length=KEY_MAX, examples=["u/3f1c.../9b2e4f.mp4"])
    file_name: FileName = Field(default=None, max_length=1024, examples=["my-pitch.mp4"])
    content_type: str | None = Field(default=None, max_length=100, examples=["video/mp4"])


class CompleteResponse(CamelModel):
    """The checked file: `url` is what to put in `videoUrl`, `thumbnailUrl`, `avatarUrl`..."""

    url: str = Field(examples=["https://api.peal.app/media/u/3f1c.../9b2e4f.mp4"])
    key: str = Field(examples=["u/3f1c2a4e-0b7d-4c55-9a41-0d7f5e6b8c21/9b2e4f.mp4"])
    content_type: str = Field(examples=["video/mp4"])
    size: int = Field(examples=[18345012])


class LocalUploadResponse(CamelModel):
    key: str = Field(examples=["u/3f1c2a4e-0b7d-4c55-9a41-0d7f5e6b8c21/9b2e4f.mp4"])
    size: int = Field(examples=[18345012])

"""The User resource as the API shows it, and the user-domain request bodies."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from pydantic import (
    AfterValidator,
    EmailStr,
    Field,
    TypeAdapter,
    ValidationError,
)

from peal.core.schemas import CamelModel, UTCTimestamp, refuse_explicit_null
from peal.core.text import HttpUrlText, TextBounds, strip_html

NAME_MAX = 100
BIO_MAX = 2000
LOCATION_MAX = 255
LABEL_MAX = 50
LABELS_MAX = 20
EMAIL_MAX = 254  # RFC 5321's limit on a path, which the email validator enforces

EmailAddress = Annotated[EmailStr, Field(max_length=EMAIL_MAX)]
_EMAIL_ADDRESS: TypeAdapter[str] = TypeAdapter(EmailAddress)


def check_email_address(value: str) -> str:
    """The registration validator on its own: a new address is checked this way, while the
    account's current one (the settings page sends it back) is taken as it is, since it
    may predate the validator (an admin made by the CLI, a Google address)."""
    try:
        return _EMAIL_ADDRESS.validate_python(value)
    except ValidationError as exc:
        raise ValueError(exc.errors()[0]["msg"]) from None


_SPACES = re.compile(r"\s+")


def normalize_label(value: str) -> str:
    """The stored form of a skill or interest: plain text, single spaces, lower case.

    Lower-casing in Python (not SQL `lower()`, which is ASCII-only on SQLite) makes the unique
    constraint and the exact-match filters case-insensitive on every database.
    """
    return _SPACES.sub(" ", strip_html(value, LABEL_MAX)).strip().lower()


def _label(value: str) -> str:
    label = normalize_label(value)
    if not label:
        raise ValueError("must not be empty")
    if len(label) > LABEL_MAX:
        raise ValueError(f"must be at most {LABEL_MAX} characters")
    return label


def _unique(values: list[str]) -> list[str]:
    """Drop repeats (already lower-cased, so case-insensitively), keeping the first."""
    return list(dict.fromkeys(values))


Label = Annotated[str, TextBounds(LABEL_MAX, required=True), AfterValidator(_label)]
LabelList = Annotated[list[Label], Field(max_length=LABELS_MAX), AfterValidator(_unique)]
"""Skills or interests as accepted on input: at most 20, each 1..50 characters, de-duplicated."""


def _name(value: str) -> str:
    name = strip_html(value, NAME_MAX)
    if not name:
        raise ValueError("must not be empty")
    return name


def _optional_text(limit: int) -> AfterValidator:
    """Plain text, with an empty string meaning "clear the field"."""

    def check(value: str | None) -> str | None:
        if value is None:
            return None
        return strip_html(value, limit) or None

    return AfterValidator(check)


# Bounded on the raw input (cleaning only ever shortens the text), so the schema says it.
ProfileName = Annotated[str, TextBounds(NAME_MAX, required=True), AfterValidator(_name)]
Bio = Annotated[str | None, TextBounds(BIO_MAX), _optional_text(BIO_MAX)]
Location = Annotated[str | None, TextBounds(LOCATION_MAX), _optional_text(LOCATION_MAX)]


class UserOut(CamelModel):
    """A user as the caller may see it: `email` and `emailVerified` only for the owner/admins."""

    id: uuid.UUID
    name: str = Field(examples=["Amara Okafor"])
    email: str | None = Field(default=None, examples=["amara@example.com"])
    avatar_url: str | None = Field(default=None, examples=["https://cdn.peal.app/a/amara.jpg"])
    role: str = Field(examples=["woman"])
    bio: str | None = Field(default=None, examples=["Baker and founder of a small bakery."])
    location: str | None = Field(default=None, examples=["Lagos, Nigeria"])
    is_public: bool = True
    email_verified: bool | None = None
    pending_email: str | None = Field(
        default=None,
        description="Owner and admins, on a single profile: the new address waiting for "
        "confirmation through the link emailed to it (null when no change is pending)",
        examples=[None],
    )
    skills: list[str] = Field(default_factory=list, examples=[["baking", "marketing"]])
    interests: list[str] = Field(default_factory=list, examples=[["entrepreneurship"]])
    followers_count: int = Field(default=0, examples=[12])
    following_count: int = Field(default=0, examples=[3])
    is_following: bool = False
    created_at: UTCTimestamp


class UserSummary(CamelModel):
    """The small embedded form: `author`, `user`, `donor`, participants."""

    id: uuid.UUID
    name: str
    avatar_url: str | None = None


class UserEnvelope(CamelModel):
    """`{"user": {...}}`."""

    user: UserOut


class UserUpdate(CamelModel):
    """The profile fields a user may change (and `email`, through a confirmation link); any
    other field sent is ignored.

    Only the fields present in the body change. `name` and `isPublic` cannot be null (their
    declared types refuse it); `bio`, `location` and `avatarUrl` are cleared by null or "".
    """

    name: ProfileName | None = Field(default=None, examples=["Amara Okafor"])
    bio: Bio = Field(default=None, examples=["Baker and founder of a small bakery."])
    location: Location = Field(default=None, examples=["Lagos, Nigeria"])
    avatar_url: HttpUrlText = Field(default=None, examples=["https://cdn.peal.app/a/amara.jpg"])
    is_public: bool | None = Field(default=None, examples=[True])
    email: str | None = Field(
        default=None,
        max_length=EMAIL_MAX,
        json_schema_extra={"format": "email"},
        description="The current address is accepted and changes nothing (the settings page "
        "always sends it). Another address starts a verified change: a confirmation link is "
        "emailed to it and `pendingEmail` shows it until the link is opened "
        "(`POST /api/auth/confirm-email-change`)",
        examples=["amara@example.com"],
    )

    _no_null = refuse_explicit_null("name", "is_public", "email")


class SkillsBody(CamelModel):
    skills: LabelList = Field(examples=[["baking", "marketing"]])


class SkillsOut(CamelModel):
    """`{"skills": [...]}`, lower-cased and sorted."""

    skills: list[str] = Field(examples=[["baking", "marketing"]])


class InterestsBody(CamelModel):
    interests: LabelList = Field(examples=[["entrepreneurship", "finance"]])


class InterestsOut(CamelModel):
    """`{"interests": [...]}`, lower-cased and sorted."""

    interests: list[str] = Field(examples=[["entrepreneurship", "finance"]])


class FollowOut(CamelModel):
    """Whether the caller now follows the user, and the user's follower count."""

    following: bool = Field(examples=[True])
    followers_count: int = Field(examples=[13])

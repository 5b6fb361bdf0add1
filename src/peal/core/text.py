"""User text is stored as plain text: HTML tags are stripped on input."""

from __future__ import annotations

import html
from typing import Annotated

import nh3
from pydantic import AfterValidator


def strip_html(value: str) -> str:
    """Remove every tag (keeping the text between them) and undo entity escaping.

    The result is plain text: clients escape it when they render it, so `<` typed by a user
    stays `<` rather than becoming `&lt;` twice.
    """
    cleaned = nh3.clean(value, tags=set(), attributes={}, strip_comments=True)
    return html.unescape(cleaned).strip()


def _plain(value: str) -> str:
    return strip_html(value)


def _plain_optional(value: str | None) -> str | None:
    if value is None:
        return None
    return strip_html(value)


PlainText = Annotated[str, AfterValidator(_plain)]
OptionalPlainText = Annotated[str | None, AfterValidator(_plain_optional)]


def bounded_text(limit: int, *, required: bool) -> AfterValidator:
    """Plain text (tags stripped) of at most `limit` characters; empty means absent unless
    `required`, when it is refused."""

    def check(value: str | None) -> str | None:
        if value is None:
            return None
        cleaned = strip_html(value)
        if required and not cleaned:
            raise ValueError("must not be empty")
        if len(cleaned) > limit:
            raise ValueError(f"must be at most {limit} characters")
        return cleaned or None

    return AfterValidator(check)


def optional_url(limit: int) -> AfterValidator:
    """A URL of at most `limit` characters; empty means absent. Whose file it may point to is
    the service's business (uploads.resolve_owned_upload)."""

    def check(value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if len(value) > limit:
            raise ValueError(f"must be at most {limit} characters")
        return value

    return AfterValidator(check)

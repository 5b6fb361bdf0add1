"""User text is stored as plain text: HTML tags are stripped on input."""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Annotated, Any

import nh3
from annotated_types import GroupedMetadata, MaxLen, MinLen
from pydantic import AfterValidator, StringConstraints

# "Has a character that is not white space": the schema's way of saying "not blank", so a
# client (or a fuzzer) knows that "   " is refused. Its error reads "must not be empty".
NOT_BLANK = r"\S"
# An absolute http(s) URL with a host, no spaces or control characters, or "" (= clear it):
# what the URL validators accept, said in the schema.
HTTP_URL_PATTERN = (
    r"^$|^[hH][tT][tT][pP][sS]?://[^\x00-\x20/?#@:\[\]\\]+(:[0-9]{1,5})?([/?#][^\x00-\x20]*)?$"
)


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


class TextBounds(GroupedMetadata):
    """The bounds of a text field, enforced on the raw input (before any cleaning) and
    published in the OpenAPI schema (`maxLength`, and `minLength` + a not-blank `pattern`
    when required), so that a schema-valid value is never refused for its length."""

    def __init__(self, limit: int, *more: Any, required: bool = False) -> None:
        self.limit = limit
        self.required = required
        self.more = more

    def __iter__(self) -> Iterator[Any]:
        yield MaxLen(self.limit)
        if self.required:
            yield MinLen(1)
            yield StringConstraints(pattern=NOT_BLANK)
        yield from self.more


def bounded_text(limit: int, *, required: bool) -> TextBounds:
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

    return TextBounds(limit, AfterValidator(check), required=required)


def optional_url(limit: int) -> TextBounds:
    """A URL of at most `limit` characters; empty means absent. Whose file it may point to is
    the service's business (uploads.resolve_owned_upload)."""

    def check(value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if len(value) > limit:
            raise ValueError(f"must be at most {limit} characters")
        return value

    return TextBounds(limit, AfterValidator(check))

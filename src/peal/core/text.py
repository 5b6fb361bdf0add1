"""User text is stored as plain text: its raw length is bounded, then HTML tags are stripped.

Every text field goes through `strip_html(value, limit)` (directly or through the validators
below), so one rule holds everywhere:

- the RAW input is refused (ValueError, a 422 in a request body) when it is longer than the
  field could hold with some markup around it, before any cleaning runs;
- cleaning is linear in the input: one regular expression whose every alternative, once
  started, always matches (no backtracking across the text), instead of an HTML tree builder
  (nh3/html5ever took ~9 s on 50,000 nested `<div>`: each open element walked the stack);
- the result never holds markup, whatever its encoding: tags are removed, entities decoded,
  and that repeats until nothing changes, so `&lt;img onerror=...&gt;` or its double-encoded
  form cannot come back as a live `<img>`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Annotated, Any
from urllib.parse import urlsplit

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

URL_MAX = 2048
"""The longest URL any field holds."""

TEXT_MAX = 10_000
"""The longest plain text any field holds; the bound of a caller that names none."""

RAW_FACTOR = 4
RAW_SLACK = 64
MAX_ROUNDS = 5
"""Strip/decode rounds: enough for triple-encoded entities; anything deeper is flattened."""

_MARKUP = re.compile(
    r"<!--.*?(?:--!?>|\Z)"  # a comment, closed or not
    r"|<(script|style)\b[^>]*+(?:>.*?(?:</\1\b[^>]*+(?:>|\Z)|\Z)|\Z)"  # with its content
    r"|</?[A-Za-z][^>]*+(?:>|\Z)"  # a start or end tag, closed or not
    r"|<[!?/][^>]*+(?:>|\Z)",  # doctype, processing instruction, bogus comment
    re.DOTALL | re.IGNORECASE,
)


def raw_limit(limit: int) -> int:
    """How long the raw input of a field of `limit` characters may be: room for some tags
    and entities around the text, but never enough to make cleaning costly."""
    return limit * RAW_FACTOR + RAW_SLACK


def remove_markup(text: str) -> str:
    """One linear pass: tags, comments and script/style blocks removed, entities decoded."""
    try:
        return html.unescape(_MARKUP.sub("", text))
    except ValueError:  # a numeric entity of thousands of digits: not text anyone typed
        return _MARKUP.sub("", text).replace("&", "")


def strip_html(value: str, limit: int = TEXT_MAX) -> str:
    """The plain text of `value`, stripped of surrounding spaces.

    Raises ValueError when the raw value is longer than `raw_limit(limit)` (checked before any
    cleaning) or the plain text longer than `limit`. Clients escape the result when they render
    it, so a `<` typed by a user stays `<` rather than becoming `&lt;` twice.
    """
    if len(value) > raw_limit(limit):
        raise ValueError(f"must be at most {limit} characters")
    text = value
    if "<" in text or "&" in text:
        for _ in range(MAX_ROUNDS):
            cleaned = remove_markup(text)
            if cleaned == text:
                break
            text = cleaned
        else:
            # Still decoding into something new: drop what could start markup or an entity.
            text = remove_markup(text).replace("<", "").replace("&", "")
    text = text.strip()
    if len(text) > limit:
        raise ValueError(f"must be at most {limit} characters")
    return text


def plain_text(limit: int) -> AfterValidator:
    """Plain text of at most `limit` characters (raw input bounded first); may be empty."""

    def check(value: str | None) -> str | None:
        return None if value is None else strip_html(value, limit)

    return AfterValidator(check)


PlainText = Annotated[str, plain_text(TEXT_MAX)]
OptionalPlainText = Annotated[str | None, plain_text(TEXT_MAX)]


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
        cleaned = strip_html(value, limit)
        if required and not cleaned:
            raise ValueError("must not be empty")
        return cleaned or None

    return TextBounds(limit, AfterValidator(check), required=required)


def optional_url(limit: int = URL_MAX) -> TextBounds:
    """A URL of at most `limit` characters; empty means absent. Whose file it may point to is
    the service's business (uploads.resolve_owned_upload)."""

    def check(value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if len(value) > limit:
            raise ValueError(f"must be at most {limit} characters")
        return value

    return TextBounds(limit, AfterValidator(check))


HTTP_URL_REFUSED = "must be an http(s) URL"


def _http_url(value: str | None) -> str | None:
    """An absolute http(s) URL with a host, kept as written (no normalisation surprises for
    the client); empty means absent. Its length is bounded before (`HttpUrlText`)."""
    if value is None or value == "":
        return None
    if any(char.isspace() or ord(char) < 32 for char in value):
        raise ValueError(HTTP_URL_REFUSED)
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise ValueError(HTTP_URL_REFUSED) from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(HTTP_URL_REFUSED)
    return value


HttpUrlText = Annotated[
    str | None,
    MaxLen(URL_MAX),
    StringConstraints(pattern=HTTP_URL_PATTERN),
    AfterValidator(_http_url),
]
"""A link anyone may follow (an avatar, a meeting room): an absolute http(s) URL, or empty
(= clear it). A file of ours is an `optional_url`, resolved by the uploads service."""

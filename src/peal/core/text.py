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

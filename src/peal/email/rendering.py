"""Renders an email from `templates/<language>/<name>.{subject,txt,html}` (English fallback).

HTML templates autoescape, so user text (a name, a comment) can never inject markup; in the
subject and the text part user text goes through the `quoted` filter (one line, bounded,
between quotation marks), so it can never read as our own words.
"""

from __future__ import annotations

import unicodedata
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context

from peal.settings.models import LANGUAGES

TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_LANGUAGE = "en"
PARTS = ("subject", "txt", "html")


# Quotation marks of each language (the rest use “ ”).
_QUOTES = {"fr": ("« ", " »"), "es": ("«", "»"), "ar": ("«", "»")}


def bounded(value: object, limit: int = 80) -> str:
    """Text on one line, without control or direction-changing characters (a reversed
    subject), cut to at most `limit` characters."""
    text = "".join(
        char
        for char in str(value)
        if char.isspace() or unicodedata.category(char) not in ("Cc", "Cf")
    )
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


@pass_context
def quoted(context: Context, value: object, limit: int = 60) -> str:
    """User text (a donor's name, a message) as a bounded one-line quotation, so it can never
    pass for words of ours in a subject or a text part."""
    opening, closing = _QUOTES.get(str(context.get("language")), ("“", "”"))
    return f"{opening}{bounded(value, limit)}{closing}"


def build_environment(*directories: Path) -> Environment:
    """Templates looked up in `directories` in order (tests add their own in front)."""
    env = Environment(
        loader=FileSystemLoader(list(directories)),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["quoted"] = quoted
    env.filters["bounded"] = bounded
    return env


@lru_cache
def environment() -> Environment:
    return build_environment(TEMPLATES)


def resolve_language(language: str | None) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def _load(env: Environment, name: str, language: str) -> dict[str, Template] | None:
    try:
        return {part: env.get_template(f"{language}/{name}.{part}") for part in PARTS}
    except TemplateNotFound:
        return None


def templates_for(name: str, language: str | None) -> tuple[str, dict[str, Template]]:
    """The language actually used and its three templates.

    A language is used whole or not at all: an email never mixes a translated subject with an
    English body, and an English fallback is never marked right-to-left.
    """
    env = environment()
    wanted = resolve_language(language)
    for lang in dict.fromkeys((wanted, DEFAULT_LANGUAGE)):
        found = _load(env, name, lang)
        if found is not None:
            return lang, found
    raise TemplateNotFound(f"{DEFAULT_LANGUAGE}/{name}")


def render_email(
    *,
    sender: str,
    to: str,
    template: str,
    language: str | None,
    context: dict[str, Any],
    app_url: str = "",
    message_id: str | None = None,
) -> EmailMessage:
    """Build the message. `app_url` (the web client's address) is offered to every template;
    a `message_id` chosen when the email was queued keeps a retried email the same email."""
    lang, parts = templates_for(template, language)
    values = {"app_url": app_url.rstrip("/"), **context, "language": lang}
    # Headers cannot hold line breaks: a subject built from user text is folded to one line.
    subject = " ".join(parts["subject"].render(values).split())
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = formataddr(("PEAL", sender))
    message["To"] = to
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id or new_message_id(sender)
    message.set_content(parts["txt"].render(values))
    message.add_alternative(parts["html"].render(values), subtype="html")
    # After the parts: making the alternative moves every Content-* header into the first part.
    message["Content-Language"] = lang
    return message


def new_message_id(sender: str, key: str | None = None) -> str:
    """A Message-ID on the sender's domain. A `key` chosen when the email was queued gives
    every retry of that email the same id (receivers may deduplicate on it)."""
    domain = sender.rsplit("@", 1)[-1]
    return f"<{key}@{domain}>" if key else make_msgid(domain=domain)

"""Email templates: one per language with an English fallback, autoescaped HTML, right-to-left."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest
from jinja2 import TemplateNotFound

from peal.email import rendering
from peal.email.rendering import TEMPLATES, build_environment, render_email

CONTEXT = {"name": "Amara", "type": "donation", "title": "New donation", "message": "Thanks"}

# What each translation says, in the subject and the greeting.
GREETINGS = {
    "en": ("New on PEAL: New donation", "Hi Amara,"),
    "es": ("Novedades en PEAL: New donation", "Hola, Amara:"),
    "fr": ("Du nouveau sur PEAL : New donation", "Bonjour Amara,"),
    "pt": ("Novidades no PEAL: New donation", "Olá, Amara!"),
    "ar": ("جديد على PEAL: New donation", "مرحبًا Amara،"),
}


def render(language: str | None, template: str = "notification", **context: str) -> EmailMessage:
    return render_email(
        sender="noreply@peal.app",
        to="amara@example.com",
        template=template,
        language=language,
        context={**CONTEXT, **context},
        app_url="https://peal.example/",
    )


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


@pytest.mark.parametrize("language", list(GREETINGS))
def test_each_language_has_its_own_translation(language: str) -> None:
    message = render(language)
    text, html = parts(message)
    subject, greeting = GREETINGS[language]

    assert message["Subject"] == subject
    assert message["Content-Language"] == language
    assert greeting in text
    assert greeting in html
    assert f'<html lang="{language}"' in html
    assert ('dir="rtl"' in html) is (language == "ar")
    assert "https://peal.example/notifications" in text
    assert 'href="https://peal.example/settings"' in html
    assert message["From"] == "PEAL <noreply@peal.app>"
    assert message["To"] == "amara@example.com"
    assert message["Message-ID"].endswith("@peal.app>")
    assert message["Date"]


@pytest.mark.parametrize("language", ["de", "", None, "../en", "EN"])
def test_an_unknown_language_falls_back_to_english(language: str | None) -> None:
    message = render(language)
    assert message["Subject"] == GREETINGS["en"][0]
    assert message["Content-Language"] == "en"


def test_a_template_missing_in_a_language_is_sent_whole_in_english(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A template that exists in English only, and one translated to Arabic in part only.
    (tmp_path / "en").mkdir()
    (tmp_path / "ar").mkdir()
    for name in ("only_en", "half_ar"):
        (tmp_path / "en" / f"{name}.subject").write_text("Hello {{ name }}")
        (tmp_path / "en" / f"{name}.txt").write_text("Hello {{ name }}")
        (tmp_path / "en" / f"{name}.html").write_text(
            '{% extends "en/base.html" %}{% block content %}Hello {{ name }}{% endblock %}'
        )
    (tmp_path / "ar" / "half_ar.subject").write_text("مرحبًا {{ name }}")
    monkeypatch.setattr(rendering, "environment", lambda: build_environment(tmp_path, TEMPLATES))

    for template in ("only_en", "half_ar"):
        message = render("ar", template)
        text, html = parts(message)
        assert message["Subject"] == "Hello Amara"
        assert message["Content-Language"] == "en"
        assert text.strip() == "Hello Amara"
        assert '<html lang="en">' in html
        assert 'dir="rtl"' not in html  # English text is never laid out right-to-left


def test_an_unknown_template_is_an_error() -> None:
    with pytest.raises(TemplateNotFound):
        render("en", "no_such_template")


def test_user_text_is_escaped_in_html_and_left_plain_in_text() -> None:
    hostile = '<script>alert("x")</script>'
    message = render("en", name=hostile, title="Tom & Jerry", message='<img src=x onerror="y">')
    text, html = parts(message)

    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "<img" not in html
    assert "Tom &amp; Jerry" in html
    assert hostile in text  # the plain-text part is not HTML: nothing to escape
    assert "Tom & Jerry" in message["Subject"]


def test_a_subject_never_spans_lines() -> None:
    message = render("en", title="Line one\r\nBcc: victim@example.com")
    assert message["Subject"] == "New on PEAL: Line one Bcc: victim@example.com"
    assert message["Bcc"] is None


def test_every_language_has_the_notification_template() -> None:
    for language in GREETINGS:
        for part in rendering.PARTS:
            assert (TEMPLATES / language / f"notification.{part}").is_file()


@pytest.mark.parametrize("language", list(GREETINGS))
@pytest.mark.parametrize(
    ("template", "context"),
    [
        ("confirm_email_change", {"link": "https://peal.example/confirm-email-change?token=t0k"}),
        ("email_changed", {"new_email": "gr***@example.com", "support_email": "help@peal.app"}),
    ],
)
def test_email_change_templates_exist_in_every_language(
    language: str, template: str, context: dict[str, str]
) -> None:
    message = render(language, template, name="<b>Amara</b>", expires_hours="24", **context)
    text, html = parts(message)

    assert message["Content-Language"] == language  # translated, not the English fallback
    assert GREETINGS[language][1].replace("Amara", "<b>Amara</b>") in text
    assert "<b>Amara</b>" not in html and "&lt;b&gt;Amara&lt;/b&gt;" in html
    for value in context.values():
        assert value in text

"""The Settings resource and the bodies that change it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from peal.core.schemas import CamelModel, refuse_explicit_null

Language = Literal["en", "es", "fr", "pt", "ar"]
Theme = Literal["light", "dark", "system"]
MessagePrivacy = Literal["everyone", "following", "connections"]


class SettingsOut(CamelModel):
    """A user's preferences."""

    email_notifications: bool = Field(examples=[True])
    push_notifications: bool = Field(examples=[True])
    mentor_messages_notifications: bool = Field(examples=[True])
    supporter_updates_notifications: bool = Field(examples=[True])
    weekly_digest: bool = Field(examples=[False])
    language: Language = Field(examples=["en"])
    theme: Theme = Field(examples=["system"])
    message_privacy: MessagePrivacy = Field(
        examples=["following"],
        description="Who may message me without a message request: `everyone`, people I "
        "follow (`following`), or only `connections` (accepted mentor connections and people "
        "I already talk with; admins always may)",
    )


class SettingsEnvelope(CamelModel):
    """`{"settings": {...}}`."""

    settings: SettingsOut


class NotificationSettingsUpdate(CamelModel):
    """Any subset of the notification switches; the others stay as they are."""

    email_notifications: bool | None = Field(default=None, examples=[True])
    push_notifications: bool | None = Field(default=None, examples=[False])
    mentor_messages_notifications: bool | None = Field(default=None, examples=[True])
    supporter_updates_notifications: bool | None = Field(default=None, examples=[True])
    weekly_digest: bool | None = Field(default=None, examples=[False])

    # Validators do not run on defaults, so this sees only values actually sent.
    _no_null = refuse_explicit_null("*")


class SettingsUpdate(NotificationSettingsUpdate):
    """Any subset of the settings; unknown fields are ignored."""

    language: Language | None = Field(default=None, examples=["fr"])
    theme: Theme | None = Field(default=None, examples=["dark"])
    message_privacy: MessagePrivacy | None = Field(default=None, examples=["connections"])

    _no_null_choice = refuse_explicit_null("language", "theme", "message_privacy")


class LanguageUpdate(CamelModel):
    language: Language = Field(examples=["es"])


class ThemeUpdate(CamelModel):
    theme: Theme = Field(examples=["dark"])

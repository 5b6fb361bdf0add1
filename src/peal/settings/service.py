"""The rules of user settings: defaults at registration, validated updates, reads for others."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from peal.core.errors import ValidationFailed
from peal.core.export import row_dict
from peal.core.sql import NO_SYNC, insert_ignoring_duplicates
from peal.settings.models import LANGUAGES, MESSAGE_PRIVACY, THEMES, UserSettings

DEFAULTS: dict[str, Any] = {
    "email_notifications": True,
    "push_notifications": True,
    "mentor_messages_notifications": True,
    "supporter_updates_notifications": True,
    "weekly_digest": False,
    "language": "en",
    "theme": "system",
    "message_privacy": "following",
}
SETTING_FIELDS = frozenset(DEFAULTS)


def default_settings(user_id: uuid.UUID) -> UserSettings:
    """An unsaved row holding the defaults (column defaults only apply on insert)."""
    return UserSettings(user_id=user_id, **DEFAULTS)


async def create_default_settings(
    session: AsyncSession, user_id: uuid.UUID, language: str = "en"
) -> UserSettings:
    """The settings row of a new user; an unsupported language falls back to English."""
    settings = default_settings(user_id)
    settings.language = language if language in LANGUAGES else "en"
    session.add(settings)
    await session.flush()
    return settings


async def _find(session: AsyncSession, user_id: uuid.UUID) -> UserSettings | None:
    result = await session.execute(select(UserSettings).where(UserSettings.user_id == user_id))
    return result.scalar_one_or_none()


async def get_settings_for(session: AsyncSession, user_id: uuid.UUID) -> UserSettings:
    """A user's settings, creating the defaults row if it is missing.

    Users created before settings existed have no row; two requests may both find none, so
    the row is inserted with ON CONFLICT DO NOTHING and read back.
    """
    settings = await _find(session, user_id)
    if settings is not None:
        return settings
    await session.execute(
        insert_ignoring_duplicates(session, UserSettings, ["user_id"]).values(
            id=uuid.uuid4(), user_id=user_id, **DEFAULTS
        )
    )
    settings = await _find(session, user_id)
    assert settings is not None  # inserted just now, or by a concurrent request
    return settings


async def get_settings_for_many(
    session: AsyncSession, user_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, UserSettings]:
    """Settings of many users in one query; a user with no row gets unsaved defaults."""
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return {}
    result = await session.scalars(select(UserSettings).where(UserSettings.user_id.in_(ids)))
    found = {settings.user_id: settings for settings in result.all()}
    return {user_id: found.get(user_id) or default_settings(user_id) for user_id in ids}


async def update_settings(
    session: AsyncSession, user_id: uuid.UUID, changes: dict[str, Any]
) -> UserSettings:
    """Apply validated changes; only known settings are written, the others stay as they are."""
    settings = await get_settings_for(session, user_id)
    for field, value in changes.items():
        if field not in SETTING_FIELDS:
            continue
        if field == "language" and value not in LANGUAGES:
            raise ValidationFailed("language", f"Unsupported language: {value}")
        if field == "theme" and value not in THEMES:
            raise ValidationFailed("theme", f"Unsupported theme: {value}")
        if field == "message_privacy" and value not in MESSAGE_PRIVACY:
            raise ValidationFailed("message_privacy", f"Unsupported choice: {value}")
        setattr(settings, field, value)
    await session.flush()
    return settings


async def message_privacy_of(session: AsyncSession, user_id: uuid.UUID) -> str:
    """Who may message this user (`everyone` | `following` | `connections`); one query."""
    found = await session.scalar(
        select(UserSettings.message_privacy).where(UserSettings.user_id == user_id)
    )
    return found or str(DEFAULTS["message_privacy"])


async def delete_settings(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Drop a user's settings (account deletion)."""
    await session.execute(
        delete(UserSettings).where(UserSettings.user_id == user_id),
        execution_options=NO_SYNC,
    )


# --- account deletion and export -----------------------------------------------------------

purge_user = delete_settings


async def export_user(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    found = await _find(session, user_id)
    return {"settings": row_dict(found, exclude={"id", "user_id"}) if found else None}

"""HTTP routes of the settings domain: parse, call the service, shape the answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession

from peal.auth.dependencies import CurrentUser
from peal.core.routing import put_and_patch
from peal.core.schemas import error_responses
from peal.deps import SessionDep
from peal.settings import service
from peal.settings.models import UserSettings
from peal.settings.schemas import (
    LanguageUpdate,
    NotificationSettingsUpdate,
    SettingsEnvelope,
    SettingsOut,
    SettingsUpdate,
    ThemeUpdate,
)
from peal.users.models import User

router = APIRouter(prefix="/api/settings", tags=["Settings"], responses=error_responses(401))


def _envelope(settings: UserSettings) -> SettingsEnvelope:
    return SettingsEnvelope(settings=SettingsOut.model_validate(settings))


async def _apply(session: AsyncSession, user: User, changes: dict[str, Any]) -> SettingsEnvelope:
    return _envelope(await service.update_settings(session, user.id, changes))


@router.get("", response_model=SettingsEnvelope, summary="Get my settings")
async def get_settings(session: SessionDep, user: CurrentUser) -> SettingsEnvelope:
    """The caller's settings; a user without a settings row gets the defaults saved."""
    return _envelope(await service.get_settings_for(session, user.id))


@put_and_patch(router, "", response_model=SettingsEnvelope, summary="Update my settings")
async def update_settings(
    body: SettingsUpdate, session: SessionDep, user: CurrentUser
) -> SettingsEnvelope:
    """Only the fields sent change (PUT and PATCH alike); unknown fields are ignored."""
    return await _apply(session, user, body.model_dump(exclude_unset=True))


@put_and_patch(router, "/language", response_model=SettingsEnvelope, summary="Set my language")
async def update_language(
    body: LanguageUpdate, session: SessionDep, user: CurrentUser
) -> SettingsEnvelope:
    """`{"language": "en"|"es"|"fr"|"pt"|"ar"}`."""
    return await _apply(session, user, {"language": body.language})


@put_and_patch(router, "/theme", response_model=SettingsEnvelope, summary="Set my theme")
async def update_theme(
    body: ThemeUpdate, session: SessionDep, user: CurrentUser
) -> SettingsEnvelope:
    """`{"theme": "light"|"dark"|"system"}`."""
    return await _apply(session, user, {"theme": body.theme})


@put_and_patch(
    router, "/notifications", response_model=SettingsEnvelope, summary="Set my notifications"
)
async def update_notifications(
    body: NotificationSettingsUpdate, session: SessionDep, user: CurrentUser
) -> SettingsEnvelope:
    """Any subset of the notification switches; the others stay as they are."""
    return await _apply(session, user, body.model_dump(exclude_unset=True))

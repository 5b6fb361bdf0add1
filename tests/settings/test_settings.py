"""Settings: defaults, partial updates, validation, and the sub-routes with PUT and PATCH."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, func, select

from peal.settings.models import UserSettings
from peal.settings.service import get_settings_for, get_settings_for_many
from tests.conftest import AuthedUser
from tests.helpers import ok

DEFAULTS = {
    "emailNotifications": True,
    "pushNotifications": True,
    "mentorMessagesNotifications": True,
    "supporterUpdatesNotifications": True,
    "weeklyDigest": False,
    "language": "en",
    "theme": "system",
    "messagePrivacy": "following",
}
NOTIFICATION_FIELDS = [
    "emailNotifications",
    "pushNotifications",
    "mentorMessagesNotifications",
    "supporterUpdatesNotifications",
    "weeklyDigest",
]
METHODS = ["PUT", "PATCH"]


async def _settings(client: httpx.AsyncClient, user: AuthedUser) -> dict[str, Any]:
    response = await client.get("/api/settings", headers=user.headers)
    assert response.status_code == 200
    settings: dict[str, Any] = response.json()["settings"]
    return settings


async def _count_rows(app: FastAPI, user_id: uuid.UUID) -> int:
    async with app.state.db.sessionmaker() as session:
        statement = select(func.count()).where(UserSettings.user_id == user_id)
        return int((await session.execute(statement)).scalar_one())


@pytest.fixture
async def woman(make_user: Callable[..., Any]) -> AuthedUser:
    """With the product's defaults: test users otherwise admit everyone's messages
    (tests/conftest.py `make_user`)."""
    user: AuthedUser = await make_user("woman", name="Amara Woman", message_privacy="following")
    return user


@pytest.fixture
async def sponsor(make_user: Callable[..., Any]) -> AuthedUser:
    user: AuthedUser = await make_user("sponsor", name="Sofia Sponsor", message_privacy="following")
    return user


async def test_defaults(client: httpx.AsyncClient, woman: AuthedUser) -> None:
    response = await client.get("/api/settings", headers=woman.headers)
    assert response.status_code == 200
    assert response.json() == {"settings": DEFAULTS}


async def test_missing_row_is_created_with_defaults(
    app: FastAPI, client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    async with app.state.db.sessionmaker() as session:
        await session.execute(delete(UserSettings).where(UserSettings.user_id == woman.id))
        await session.commit()
    assert await _settings(client, woman) == DEFAULTS
    assert await _count_rows(app, woman.id) == 1
    assert await _settings(client, woman) == DEFAULTS
    assert await _count_rows(app, woman.id) == 1


async def test_updating_a_user_without_a_row_works(
    app: FastAPI, client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    async with app.state.db.sessionmaker() as session:
        await session.execute(delete(UserSettings).where(UserSettings.user_id == woman.id))
        await session.commit()
    response = await client.patch("/api/settings", headers=woman.headers, json={"theme": "dark"})
    assert response.json()["settings"] == {**DEFAULTS, "theme": "dark"}


@pytest.mark.parametrize("path", ["", "/language", "/theme", "/notifications"])
@pytest.mark.parametrize("method", ["GET", *METHODS])
async def test_authentication_required(client: httpx.AsyncClient, path: str, method: str) -> None:
    if method == "GET" and path:
        return
    response = await client.request(method, f"/api/settings{path}", json={})
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


@pytest.mark.parametrize("method", METHODS)
async def test_partial_update_changes_only_fields_sent(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser, method: str
) -> None:
    response = await client.request(
        method,
        "/api/settings",
        headers=woman.headers,
        json={"language": "fr", "weeklyDigest": True, "unknown": 1, "userId": str(sponsor.id)},
    )
    assert response.status_code == 200, response.text
    expected = {**DEFAULTS, "language": "fr", "weeklyDigest": True}
    assert response.json() == {"settings": expected}
    second = await client.request(
        method, "/api/settings", headers=woman.headers, json={"theme": "dark"}
    )
    assert second.json()["settings"] == {**expected, "theme": "dark"}
    nothing = await client.request(method, "/api/settings", headers=woman.headers, json={})
    assert nothing.json()["settings"] == {**expected, "theme": "dark"}
    assert await _settings(client, woman) == {**expected, "theme": "dark"}
    # Another user's settings are untouched.
    assert await _settings(client, sponsor) == DEFAULTS


async def test_snake_case_input_is_accepted(client: httpx.AsyncClient, woman: AuthedUser) -> None:
    response = await client.put(
        "/api/settings", headers=woman.headers, json={"push_notifications": False}
    )
    assert response.json()["settings"]["pushNotifications"] is False


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"language": "de"}, ["language"]),
        ({"language": "EN"}, ["language"]),
        ({"theme": "blue"}, ["theme"]),
        ({"language": None}, ["language"]),
        ({"theme": None}, ["theme"]),
        ({"emailNotifications": "sometimes"}, ["emailNotifications"]),
        ({"weeklyDigest": None}, ["weeklyDigest"]),
        ({"weeklyDigest": [True]}, ["weeklyDigest"]),
        ({"theme": "blue", "language": "xx"}, ["language", "theme"]),
    ],
)
async def test_invalid_values_are_422_naming_the_fields(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    method: str,
    body: dict[str, Any],
    fields: list[str],
) -> None:
    response = await client.request(method, "/api/settings", headers=woman.headers, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert sorted(detail["field"] for detail in response.json()["details"]) == fields
    assert await _settings(client, woman) == DEFAULTS


@pytest.mark.parametrize("method", METHODS)
async def test_body_must_be_an_object(
    client: httpx.AsyncClient, woman: AuthedUser, method: str
) -> None:
    response = await client.request(method, "/api/settings", headers=woman.headers, json=[1])
    assert response.status_code == 422
    malformed = await client.request(
        method,
        "/api/settings",
        headers={**woman.headers, "Content-Type": "application/json"},
        content=b"{",
    )
    assert malformed.status_code == 400


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("language", ["en", "es", "fr", "pt", "ar"])
async def test_language_route(
    client: httpx.AsyncClient, woman: AuthedUser, method: str, language: str
) -> None:
    response = await client.request(
        method, "/api/settings/language", headers=woman.headers, json={"language": language}
    )
    assert response.status_code == 200
    assert response.json() == {"settings": {**DEFAULTS, "language": language}}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("theme", ["light", "dark", "system"])
async def test_theme_route(
    client: httpx.AsyncClient, woman: AuthedUser, method: str, theme: str
) -> None:
    response = await client.request(
        method, "/api/settings/theme", headers=woman.headers, json={"theme": theme}
    )
    assert response.status_code == 200
    assert response.json() == {"settings": {**DEFAULTS, "theme": theme}}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/language", {}, "language"),
        ("/language", {"language": "klingon"}, "language"),
        ("/language", {"language": None}, "language"),
        ("/language", {"theme": "dark"}, "language"),
        ("/theme", {}, "theme"),
        ("/theme", {"theme": "neon"}, "theme"),
        ("/notifications", {"pushNotifications": "loud"}, "pushNotifications"),
        ("/notifications", {"weeklyDigest": None}, "weeklyDigest"),
    ],
)
async def test_sub_route_validation(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    method: str,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    response = await client.request(
        method, f"/api/settings{path}", headers=woman.headers, json=body
    )
    assert response.status_code == 422, response.text
    assert [detail["field"] for detail in response.json()["details"]] == [field]
    assert await _settings(client, woman) == DEFAULTS


@pytest.mark.parametrize("method", METHODS)
async def test_sub_routes_change_only_their_own_fields(
    client: httpx.AsyncClient, woman: AuthedUser, method: str
) -> None:
    response = await client.request(
        method,
        "/api/settings/language",
        headers=woman.headers,
        json={"language": "pt", "theme": "dark", "weeklyDigest": True},
    )
    assert response.json()["settings"] == {**DEFAULTS, "language": "pt"}
    response = await client.request(
        method,
        "/api/settings/theme",
        headers=woman.headers,
        json={"theme": "light", "language": "ar"},
    )
    assert response.json()["settings"] == {**DEFAULTS, "language": "pt", "theme": "light"}
    response = await client.request(
        method,
        "/api/settings/notifications",
        headers=woman.headers,
        json={"language": "es", "theme": "dark"},
    )
    assert response.json()["settings"] == {**DEFAULTS, "language": "pt", "theme": "light"}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("field", NOTIFICATION_FIELDS)
async def test_notifications_route_is_partial(
    client: httpx.AsyncClient, woman: AuthedUser, method: str, field: str
) -> None:
    flipped = not DEFAULTS[field]
    response = await client.request(
        method, "/api/settings/notifications", headers=woman.headers, json={field: flipped}
    )
    assert response.status_code == 200
    assert response.json() == {"settings": {**DEFAULTS, field: flipped}}


async def test_notifications_route_sets_several_at_once(
    client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    body = {field: not DEFAULTS[field] for field in NOTIFICATION_FIELDS}
    response = await client.put("/api/settings/notifications", headers=woman.headers, json=body)
    assert response.json()["settings"] == {**DEFAULTS, **body}


async def test_service_reads_for_other_domains(
    app: FastAPI, client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    await ok(
        client.patch("/api/settings", headers=woman.headers, json={"pushNotifications": False})
    )
    stranger = uuid.uuid4()
    async with app.state.db.sessionmaker() as session:
        many = await get_settings_for_many(session, [woman.id, sponsor.id, stranger, woman.id])
        assert set(many) == {woman.id, sponsor.id, stranger}
        assert many[woman.id].push_notifications is False
        assert many[sponsor.id].push_notifications is True
        # No row: unsaved defaults, not written.
        assert many[stranger].push_notifications is True
        assert many[stranger].language == "en"
        assert await get_settings_for_many(session, []) == {}
        one = await get_settings_for(session, woman.id)
        assert one.push_notifications is False
        assert len(session.new) == 0

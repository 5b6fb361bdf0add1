"""POST /api/auth/register: shape, normalisation, uniqueness, roles, mass assignment, passwords."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import select

from peal.settings.models import UserSettings
from peal.users.models import User
from tests.auth.conftest import STRONG_PASSWORD, Register, Sql, bearer, new_email


def _field_errors(response: httpx.Response) -> list[str]:
    body = response.json()
    assert body["code"] == "validation_error"
    return [detail["field"] for detail in body["details"]]


async def test_register_answers_201_with_user_and_tokens(
    client: httpx.AsyncClient, register: Register
) -> None:
    email = new_email()
    response = await register(
        email=email,
        name="Amara Okafor",
        bio="Baker in Lagos",
        location="Lagos, Nigeria",
        skills=["baking", "marketing"],
    )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"user", "accessToken", "refreshToken", "expiresIn"}
    assert body["expiresIn"] == 900
    user = body["user"]
    assert user["email"] == email
    assert user["name"] == "Amara Okafor"
    assert user["role"] == "woman"
    assert user["emailVerified"] is False
    assert user["bio"] == "Baker in Lagos"
    assert user["location"] == "Lagos, Nigeria"
    assert user["skills"] == ["baking", "marketing"]
    assert user["createdAt"].endswith("Z")
    text = response.text
    assert "passwordHash" not in text and "password_hash" not in text
    assert STRONG_PASSWORD not in text
    assert not {"accessToken", "refreshToken", "password"} & set(user)
    assert response.headers["cache-control"] == "no-store"

    me = await client.get("/api/auth/me", headers=bearer(body["accessToken"]))
    assert me.status_code == 200
    assert me.json()["user"]["id"] == user["id"]


async def test_register_creates_default_settings(register: Register, sql: Sql) -> None:
    response = await register()
    user_id = response.json()["user"]["id"]

    settings = await sql.scalar(
        select(UserSettings).where(UserSettings.user_id == uuid.UUID(user_id))
    )
    assert settings is not None
    assert settings.language == "en"
    assert settings.theme == "system"


async def test_register_takes_the_language_from_accept_language(
    register: Register, sql: Sql
) -> None:
    response = await register(headers={"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.8"})
    email = response.json()["user"]["email"]

    language = await sql.scalar(
        select(UserSettings.language)
        .join(User, User.id == UserSettings.user_id)
        .where(User.email == email)
    )
    assert language == "fr"


async def test_email_is_trimmed_and_lower_cased(register: Register) -> None:
    response = await register(email="  Amara.Okafor@Example.COM ")

    assert response.status_code == 201
    assert response.json()["user"]["email"] == "amara.okafor@example.com"


async def test_duplicate_email_in_any_case_is_409(register: Register) -> None:
    assert (await register(email="grace@example.com")).status_code == 201

    again = await register(email="GRACE@Example.com")

    assert again.status_code == 409
    assert again.json()["code"] == "email_taken"


@pytest.mark.committing  # its requests race each other
async def test_simultaneous_registrations_of_one_email_give_one_account(
    register: Register, sql: Sql
) -> None:
    email = new_email()

    responses = await asyncio.gather(register(email=email), register(email=email.upper()))

    assert sorted(r.status_code for r in responses) == [201, 409]
    count = await sql.scalars(select(User.id).where(User.email == email))
    assert len(count) == 1


async def test_invalid_email_is_422(register: Register) -> None:
    response = await register(email="not-an-email")

    assert response.status_code == 422
    assert _field_errors(response) == ["email"]


async def test_sponsor_role_is_accepted(register: Register) -> None:
    response = await register(role="sponsor")

    assert response.status_code == 201
    assert response.json()["user"]["role"] == "sponsor"


async def test_admin_role_is_never_self_assigned(register: Register) -> None:
    for role in ("admin", "ADMIN", "moderator", ""):
        response = await register(role=role)
        assert response.status_code == 422, role
        assert _field_errors(response) == ["role"]


async def test_fields_the_client_may_not_set_are_ignored(register: Register, sql: Sql) -> None:
    email = new_email()
    response = await register(
        email=email,
        emailVerified=True,
        email_verified=True,
        isBanned=True,
        is_banned=True,
        followersCount=1000,
        followingCount=50,
        passwordHash="$argon2id$v=19$m=8,t=1,p=1$forged",
        id="00000000-0000-0000-0000-000000000001",
        createdAt="2001-01-01T00:00:00Z",
    )

    assert response.status_code == 201
    user = response.json()["user"]
    assert user["emailVerified"] is False
    assert user["followersCount"] == 0
    assert user["followingCount"] == 0
    assert user["id"] != "00000000-0000-0000-0000-000000000001"
    assert not user["createdAt"].startswith("2001")
    stored = await sql.scalar(select(User).where(User.email == email))
    assert stored.is_banned is False
    assert stored.password_hash.startswith("$argon2id$")
    assert "forged" not in stored.password_hash


async def test_password_hash_is_argon2id(register: Register, sql: Sql) -> None:
    email = new_email()
    await register(email=email)

    stored = await sql.scalar(select(User.password_hash).where(User.email == email))

    assert stored.startswith("$argon2id$")
    assert STRONG_PASSWORD not in stored


async def test_weak_passwords_are_422_on_the_password_field(register: Register) -> None:
    email = new_email()
    for password in (
        "Sh0rt!x",  # 7 characters
        "x" * 129,  # too long
        "password123",  # among the most common
        "PassWord123",  # the same, whatever the case
        "iloveyou",
        "qwertyuiop",
        email,  # the email address itself
        "",
    ):
        response = await register(email=email, password=password)
        assert response.status_code == 422, password
        assert _field_errors(response) == ["password"], password


async def test_password_limits_are_inclusive_and_spaces_are_kept(
    client: httpx.AsyncClient, register: Register
) -> None:
    assert (await register(password="Kq7#vLp2")).status_code == 201  # 8 characters
    assert (await register(password="Zx9!" * 32)).status_code == 201  # 128 characters

    email = new_email()
    spaced = "  my quiet garden  "
    assert (await register(email=email, password=spaced)).status_code == 201
    ok = await client.post("/api/auth/login", json={"email": email, "password": spaced})
    trimmed = await client.post(
        "/api/auth/login", json={"email": email, "password": spaced.strip()}
    )
    assert ok.status_code == 200
    assert trimmed.status_code == 401


async def test_name_is_plain_text_of_1_to_100_characters(register: Register) -> None:
    response = await register(name="<b>Amara</b> <script>alert(1)</script>Okafor")
    assert response.status_code == 201
    assert response.json()["user"]["name"] == "Amara Okafor"

    for name in ("", "   ", "<b></b>", "a" * 101):
        bad = await register(name=name)
        assert bad.status_code == 422, name
        assert _field_errors(bad) == ["name"], name
    assert (await register(name="a" * 100)).status_code == 201


async def test_bio_and_location_are_stripped_of_html(register: Register) -> None:
    response = await register(bio="<img src=x onerror=alert(1)>I bake", location="<i>Lagos</i>")

    user = response.json()["user"]
    assert user["bio"] == "I bake"
    assert user["location"] == "Lagos"


async def test_skills_are_normalised_and_deduplicated(register: Register) -> None:
    response = await register(skills=[" Baking ", "baking", "BAKING", "Digital  Marketing"])

    assert response.status_code == 201
    assert sorted(response.json()["user"]["skills"]) == ["baking", "digital marketing"]
    assert (await register(skills=["baking", "  "])).status_code == 422


async def test_skills_are_limited_in_number_and_length(register: Register) -> None:
    twenty = [f"skill {n}" for n in range(20)]
    assert (await register(skills=twenty)).status_code == 201
    assert (await register(skills=[*twenty, "skill 20"])).status_code == 422
    assert (await register(skills=["s" * 50])).status_code == 201
    too_long = await register(skills=["s" * 51])
    assert too_long.status_code == 422
    assert _field_errors(too_long) == ["skills.0"]


async def test_missing_fields_are_422(register: Register, client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/register", json={"email": new_email()})

    assert response.status_code == 422
    assert set(_field_errors(response)) == {"password", "name"}

"""Hostile input carrying NUL (U+0000): PostgreSQL text cannot hold it, so it is refused with
a 422 everywhere (query strings and JSON bodies) rather than failing in the database (500)."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import AuthedUser

NUL_MESSAGE = "must not contain NUL (\\u0000) characters"


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/api/users", "search"),
        ("/api/users", "location"),
        ("/api/videos", "search"),
        ("/api/requests", "search"),
        ("/api/requests", "category"),
        ("/api/stories", "search"),
        ("/api/search", "q"),
    ],
)
@pytest.mark.parametrize("value", ["a\x00b", "\x00"])
async def test_nul_in_a_query_parameter_is_a_validation_error(
    client: httpx.AsyncClient, woman: AuthedUser, path: str, param: str, value: str
) -> None:
    response = await client.get(path, params={param: value}, headers=woman.headers)

    assert response.status_code == 422, response.text
    assert response.json() == {
        "error": "Validation failed",
        "code": "validation_error",
        "details": [{"field": param, "message": NUL_MESSAGE}],
    }


async def test_a_query_without_nul_is_untouched(
    client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    # `%2500` is a literal "%00" typed by the user, not a NUL.
    response = await client.get("/api/users?search=%2500&location=x", headers=woman.headers)

    assert response.status_code == 200, response.text


async def test_nul_in_a_json_string_field_is_a_validation_error(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/auth/login", json={"email": "a\x00b@example.com", "password": "x" * 12}
    )

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_error"
    assert {"field": "email", "message": NUL_MESSAGE} in body["details"]


async def test_nul_inside_a_json_list_is_a_validation_error(
    client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    response = await client.put(
        f"/api/users/{woman.id}/skills",
        json={"skills": ["baking", "a\x00b"]},
        headers=woman.headers,
    )

    assert response.status_code == 422, response.text
    assert {"field": "skills", "message": NUL_MESSAGE} in response.json()["details"]


async def test_deeply_nested_json_is_never_a_server_error(
    client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    nested = "[" * 900 + "]" * 900
    response = await client.put(
        f"/api/users/{woman.id}/skills",
        content=f'{{"skills": {nested}}}',
        headers={**woman.headers, "Content-Type": "application/json"},
    )

    assert 400 <= response.status_code < 500, response.text

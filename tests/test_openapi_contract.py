"""The OpenAPI document tells the truth: security as each route checks it, every status the
shared machinery can answer, the bounds the validators enforce, and `Allow` per resource."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

OPTIONAL = [{}, {"bearer": []}]
REQUIRED = [{"bearer": []}]


@pytest.fixture
async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/events"),
        ("GET", "/api/search"),
        ("GET", "/api/users/{userId}"),
        ("GET", "/api/stories"),
        ("GET", "/api/requests"),
        ("GET", "/api/videos"),
    ],
)
async def test_anonymous_routes_declare_optional_auth(
    spec: dict[str, Any], client: httpx.AsyncClient, method: str, path: str
) -> None:
    assert spec["paths"][path][method.lower()]["security"] == OPTIONAL
    url = path + "?q=bakery" if path == "/api/search" else path
    if "{" not in path:
        assert (await client.request(method, url)).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/auth/me"),
        ("GET", "/api/settings"),
        ("GET", "/api/notifications"),
        ("POST", "/api/videos"),
        ("POST", "/api/requests"),
    ],
)
async def test_signed_in_routes_declare_required_auth(
    spec: dict[str, Any], client: httpx.AsyncClient, method: str, path: str
) -> None:
    assert spec["paths"][path][method.lower()]["security"] == REQUIRED
    assert (await client.request(method, path, json={})).status_code == 401


async def test_routes_without_auth_declare_none(spec: dict[str, Any]) -> None:
    for path in ("/api/auth/login", "/api/auth/logout", "/api/payments/webhook", "/health"):
        for operation in spec["paths"][path].values():
            assert "security" not in operation, path
    assert spec["components"]["securitySchemes"] == {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": spec["components"]["securitySchemes"]["bearer"]["description"],
        }
    }


async def test_every_operation_documents_the_shared_answers(spec: dict[str, Any]) -> None:
    for method, path, operation in operations(spec):
        statuses = set(operation["responses"])
        label = f"{method} {path}"
        if "requestBody" in operation:
            assert {"400", "413", "415", "422"} <= statuses, label
        if "security" in operation:
            assert "401" in statuses, label
            if method in {"POST", "PUT", "PATCH", "DELETE"}:
                assert "403" in statuses, label  # a cookie session without its CSRF header
        if "{" in path:
            assert "404" in statuses, label
        if path.startswith("/api/") and path != "/api/payments/webhook":
            assert "429" in statuses, label
        # Successes and redirects (the export download's 302 to storage) carry no error body.
        for status in statuses - {"200", "201", "202", "204", "206", "302", "307"}:
            content = operation["responses"][status].get("content", {})
            assert "application/json" in content, (label, status)


async def test_unconfigured_google_and_webhook_document_503(spec: dict[str, Any]) -> None:
    assert "503" in spec["paths"]["/api/auth/google"]["post"]["responses"]
    assert "503" in spec["paths"]["/api/payments/webhook"]["post"]["responses"]


def _schema(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(spec["components"]["schemas"][name]["properties"])


async def test_enforced_bounds_are_in_the_schema(
    spec: dict[str, Any], client: httpx.AsyncClient
) -> None:
    register = _schema(spec, "RegisterRequest")
    assert register["email"]["maxLength"] == 254
    assert register["name"]["maxLength"] == 100
    assert register["name"]["minLength"] == 1
    assert register["bio"]["anyOf"][0]["maxLength"] == 2000
    assert _schema(spec, "ForgotPasswordRequest")["email"]["maxLength"] == 254

    local = "a" * 64
    domain = ".".join(["b" * 63, "c" * 63, "d" * 63])  # 64 + 1 + 191 = 256 characters
    too_long = f"{local}@{domain}"
    response = await client.post("/api/auth/forgot-password", json={"email": too_long})
    assert response.status_code == 422


async def test_partial_updates_do_not_offer_null_where_null_is_refused(
    spec: dict[str, Any], woman: Any, client: httpx.AsyncClient
) -> None:
    update = _schema(spec, "UserUpdate")
    assert update["isPublic"]["type"] == "boolean"
    assert "anyOf" not in update["isPublic"]
    settings = _schema(spec, "SettingsUpdate")
    assert "anyOf" not in settings["weeklyDigest"]

    response = await client.patch(
        "/api/settings", json={"weeklyDigest": None}, headers=woman.headers
    )
    assert response.status_code == 422
    assert response.json()["details"] == [{"field": "weeklyDigest", "message": "must not be null"}]


@pytest.mark.parametrize(
    "body", [{"weeklyDigest": 0}, {"weeklyDigest": "true"}, {"emailNotifications": 1}]
)
async def test_a_json_value_of_the_wrong_type_is_refused(
    client: httpx.AsyncClient, woman: Any, body: dict[str, Any]
) -> None:
    response = await client.patch("/api/settings", json=body, headers=woman.headers)
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/api/uploads/complete", "POST"),
        ("DELETE", "/api/uploads/complete", "POST"),
        ("OPTIONS", "/api/uploads/presigned-url", "POST"),
        ("DELETE", "/api/notifications/read-all", "PATCH, PUT"),
        ("PUT", "/api/videos/trending", "GET"),
        ("OPTIONS", "/api/uploads/local/u/x/y.jpg", "PUT"),
        ("OPTIONS", "/api/videos/00000000-0000-0000-0000-000000000001", "DELETE, GET, PUT"),
    ],
)
async def test_allow_lists_only_the_methods_of_that_resource(
    client: httpx.AsyncClient, woman: Any, method: str, path: str, allow: str
) -> None:
    response = await client.request(method, path, headers=woman.headers)

    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json()["code"] == "method_not_allowed"


CAMEL_CASE = re.compile(r"[a-z][a-zA-Z0-9]*")


async def test_path_parameters_are_camel_case(spec: dict[str, Any]) -> None:
    """`{videoId}`, never `{video_id}`: the path template speaks the wire's camelCase, and
    names the same parameters the operation declares."""
    wrong = []
    for method, path, operation in operations(spec):
        in_template = re.findall(r"\{([^}]+)\}", path)
        declared = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
        wrong += [
            f"{method} {path}: {name}" for name in in_template if not CAMEL_CASE.fullmatch(name)
        ]
        if sorted(in_template) != sorted(declared):
            wrong.append(f"{method} {path}: template {in_template} but declares {declared}")
    assert not wrong, "path parameters not in camelCase:\n" + "\n".join(wrong)


async def test_operation_ids_are_unique(spec: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _method, _path, operation in operations(spec)]
    assert len(ids) == len(set(ids))


async def test_put_and_patch_of_a_path_are_described_alike(spec: dict[str, Any]) -> None:
    """One handler serves both (`core.routing.put_and_patch`): one summary, one set of answers."""
    pairs = [item for item in spec["paths"].values() if {"put", "patch"} <= item.keys()]
    assert len(pairs) >= 12
    for item in pairs:
        put, patch = item["put"], item["patch"]
        assert put["summary"] == patch["summary"]
        assert put["responses"] == patch["responses"]
        assert put.get("requestBody") == patch.get("requestBody")


async def test_message_aliases_are_described_like_their_conversation_routes(
    spec: dict[str, Any],
) -> None:
    aliased = [
        (path, method)
        for path, item in spec["paths"].items()
        if path.startswith("/api/conversations")
        for method in item
        if path.replace("/api/conversations", "/api/messages") in spec["paths"]
        and method in spec["paths"][path.replace("/api/conversations", "/api/messages")]
        # POST /api/messages is a route of its own (a message to a person), not an alias.
        and (path, method) != ("/api/conversations", "post")
    ]
    assert len(aliased) == 7  # list, one, its messages, send, mark read, accept, decline
    for path, method in aliased:
        own = spec["paths"][path][method]
        alias = spec["paths"][path.replace("/api/conversations", "/api/messages")][method]
        assert alias["summary"] == own["summary"] + " (alias)"
        assert alias["responses"] == own["responses"]
        assert alias["operationId"] != own["operationId"]

"""The application shell: every failure has the API.md error shape."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from pydantic import Field, ValidationError

from peal.config import DEV_JWT_SECRET, DEV_REFRESH_SECRET, Settings
from peal.core.schemas import CamelModel
from peal.main import create_app

MakeSettings = Callable[..., Settings]
BODY_LIMIT = 256
STRONG_SECRET = "s" * 40
STRONG_REFRESH_SECRET = "r" * 40


class NewItem(CamelModel):
    name: str = Field(min_length=1, max_length=200)
    goal_amount: int = Field(ge=100)


def _shell_router() -> APIRouter:
    """Test-only routes: the same path declared per method, a JSON body, a crash."""
    router = APIRouter(prefix="/api/shell-test")

    @router.get("/items")
    async def list_items() -> dict[str, list[str]]:
        return {"data": []}

    @router.post("/items", status_code=201)
    async def create_item(item: NewItem) -> NewItem:
        return item

    @router.get("/crash")
    async def crash() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    return router


ITEMS = "/api/shell-test/items"


@asynccontextmanager
async def shell_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    app.include_router(_shell_router())
    async with app.router.lifespan_context(app):
        # The 500 test needs the answer the client sees, not the exception re-raised to the server.
        transport = httpx.ASGITransport(
            app=app, client=("203.0.113.30", 50000), raise_app_exceptions=False
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@pytest.fixture
async def shell(make_settings: MakeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with shell_client(make_settings(max_body_bytes=BODY_LIMIT)) as http:
        yield http


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert isinstance(body["error"], str) and body["error"]
    return body


async def test_unknown_route_is_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/nope")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert response.headers["x-request-id"]


async def test_unknown_route_has_the_error_shape(shell: httpx.AsyncClient) -> None:
    for method in ("GET", "POST", "DELETE"):
        body = assert_error(await shell.request(method, "/api/nothing/here"), 404, "not_found")
        assert set(body) == {"error", "code"}


async def test_wrong_method_is_405_with_allow_listing_the_paths_methods(
    shell: httpx.AsyncClient,
) -> None:
    response = await shell.patch(ITEMS, json={})
    assert_error(response, 405, "method_not_allowed")
    # GET and POST are declared as two routes; Allow lists both.
    assert response.headers["Allow"] == "GET, POST"
    health = await shell.delete("/health")
    assert_error(health, 405, "method_not_allowed")
    assert health.headers["Allow"] == "GET, HEAD"


async def test_malformed_json_is_400(shell: httpx.AsyncClient) -> None:
    response = await shell.post(
        ITEMS, content=b'{"name": "x",', headers={"Content-Type": "application/json"}
    )
    body = assert_error(response, 400, "malformed_json")
    assert "details" not in body


async def test_validation_failure_is_422_with_field_details(shell: httpx.AsyncClient) -> None:
    response = await shell.post(ITEMS, json={"name": "", "goalAmount": 5})
    body = assert_error(response, 422, "validation_error")
    details: list[dict[str, str]] = body["details"]
    assert all(set(item) == {"field", "message"} for item in details)
    by_field = {item["field"]: item["message"] for item in details}
    # Field names are the camelCase names the client sent.
    assert set(by_field) == {"name", "goalAmount"}
    assert "100" in by_field["goalAmount"]
    missing = assert_error(await shell.post(ITEMS, json={}), 422, "validation_error")
    assert {item["field"] for item in missing["details"]} == {"name", "goalAmount"}


async def test_valid_body_passes(shell: httpx.AsyncClient) -> None:
    response = await shell.post(ITEMS, json={"name": "Bakery", "goalAmount": 500})
    assert response.status_code == 201
    assert response.json() == {"name": "Bakery", "goalAmount": 500}


async def test_body_over_the_limit_with_content_length_is_413(shell: httpx.AsyncClient) -> None:
    payload = {"name": "x" * BODY_LIMIT, "goalAmount": 500}
    response = await shell.post(ITEMS, json=payload)
    assert int(response.request.headers["Content-Length"]) > BODY_LIMIT
    assert_error(response, 413, "payload_too_large")


async def test_chunked_body_over_the_limit_is_413(shell: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(BODY_LIMIT // 16 + 2):
            yield b"x" * 16
        yield b'", "goalAmount": 500}'

    response = await shell.post(
        ITEMS, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "Content-Length" not in response.request.headers
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert_error(response, 413, "payload_too_large")


async def test_chunked_body_under_the_limit_passes(shell: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "Bakery",'
        yield b' "goalAmount": 500}'

    response = await shell.post(
        ITEMS, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201


async def test_unhandled_exception_is_a_bare_500(shell: httpx.AsyncClient) -> None:
    response = await shell.get("/api/shell-test/crash")
    assert response.status_code == 500
    assert response.json() == {"error": "Internal server error", "code": "internal_error"}
    for leak in ("secret", "hunter2", "Traceback", "RuntimeError", "File "):
        assert leak not in response.text
    # Even this answer carries its request id (to find the log line) and the security headers.
    assert len(response.headers["X-Request-ID"]) >= 16
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_json_body_with_another_content_type_is_415(shell: httpx.AsyncClient) -> None:
    response = await shell.post(
        ITEMS,
        content=b'{"name": "Bakery", "goalAmount": 5}',
        headers={"Content-Type": "text/plain"},
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


async def test_head_on_health_for_load_balancers(client: httpx.AsyncClient) -> None:
    response = await client.head("/health")
    assert response.status_code == 200


async def test_security_headers_without_hsts_in_development(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/health"), await client.get("/api/nope")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert "Strict-Transport-Security" not in response.headers


async def test_hsts_outside_development(make_settings: MakeSettings) -> None:
    settings = make_settings(
        environment="production",
        jwt_secret=STRONG_SECRET,
        jwt_refresh_secret=STRONG_REFRESH_SECRET,
    )
    async with shell_client(settings) as http:
        response = await http.get(ITEMS)
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


async def test_cors_preflight_from_the_frontend_is_allowed(
    shell: httpx.AsyncClient, settings: Settings
) -> None:
    response = await shell.options(
        ITEMS,
        headers={
            "Origin": settings.frontend_url,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization, x-csrf-token",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == settings.frontend_url
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed_headers = response.headers["Access-Control-Allow-Headers"].lower()
    assert {"authorization", "content-type", "x-csrf-token"} <= {
        header.strip() for header in allowed_headers.split(",")
    }
    # A real request from the frontend can read the answer (and the id and rate limit headers).
    simple = await shell.get(ITEMS, headers={"Origin": settings.frontend_url})
    assert simple.headers["Access-Control-Allow-Origin"] == settings.frontend_url
    assert "x-request-id" in simple.headers["Access-Control-Expose-Headers"].lower()


async def test_cors_refuses_a_foreign_origin(shell: httpx.AsyncClient) -> None:
    foreign = "https://evil.example"
    preflight = await shell.options(
        ITEMS, headers={"Origin": foreign, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 400
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert preflight.headers["Content-Type"] == "application/json"
    assert preflight.json() == {"error": "Disallowed CORS origin", "code": "cors_refused"}
    simple = await shell.get(ITEMS, headers={"Origin": foreign})
    # Without Allow-Origin the browser keeps the answer from the foreign page.
    assert "Access-Control-Allow-Origin" not in simple.headers


async def test_request_id_is_echoed_when_well_formed(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "client-id_1.2"})
    assert response.headers["X-Request-ID"] == "client-id_1.2"


@pytest.mark.parametrize(
    "sent",
    ["", "has spaces", "x" * 65, "semi;colon", "new\tline"],
    ids=["empty", "spaces", "too-long", "semicolon", "tab"],
)
async def test_request_id_is_generated_otherwise(client: httpx.AsyncClient, sent: str) -> None:
    response = await client.get("/health", headers={"X-Request-ID": sent})
    generated = response.headers["X-Request-ID"]
    assert generated != sent
    assert re.fullmatch(r"[0-9a-f]{32}", generated)


async def test_request_id_is_generated_when_absent(client: httpx.AsyncClient) -> None:
    first = (await client.get("/health")).headers["X-Request-ID"]
    second = (await client.get("/health")).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


@pytest.mark.parametrize(
    ("jwt_secret", "refresh_secret"),
    [
        (None, None),
        (DEV_JWT_SECRET, STRONG_REFRESH_SECRET),
        (STRONG_SECRET, DEV_REFRESH_SECRET),
        ("too-short-secret", STRONG_REFRESH_SECRET),
    ],
    ids=["missing", "default-jwt", "default-refresh", "short"],
)
def test_production_settings_refuse_default_secrets(
    monkeypatch: pytest.MonkeyPatch, jwt_secret: str | None, refresh_secret: str | None
) -> None:
    monkeypatch.setenv("NODE_ENV", "production")
    for name, value in (("JWT_SECRET", jwt_secret), ("JWT_REFRESH_SECRET", refresh_secret)):
        monkeypatch.delenv(f"PEAL_{name}", raising=False)
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(_env_file=None)


def test_production_settings_accept_strong_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NODE_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", STRONG_SECRET)
    monkeypatch.setenv("JWT_REFRESH_SECRET", STRONG_REFRESH_SECRET)
    settings = Settings(_env_file=None)
    assert settings.is_production
    assert settings.jwt_secret == STRONG_SECRET


async def test_openapi_lists_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "get" in paths["/health"]
    assert "get" in paths["/metrics"]


async def test_docs_are_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()


async def test_personal_answers_are_never_cached(
    client: httpx.AsyncClient, make_user: Callable[..., Any]
) -> None:
    user = await make_user()
    for path in ("/api/auth/me", "/api/notifications", "/api/settings", f"/api/users/{user.id}"):
        response = await client.get(path, headers=user.headers)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path
    # An anonymous answer may be cached (the route decides); a route's own choice is kept.
    anonymous = await client.get(f"/api/users/{user.id}")
    assert "no-store" not in anonymous.headers.get("Cache-Control", "")


async def test_a_catch_all_route_does_not_answer_for_the_local_upload_path(
    client: Any,
) -> None:
    """`DELETE /api/uploads/{key:path}` must not swallow another method on the local upload
    PUT's own path: that path has PUT only, so DELETE is 405 with `Allow: PUT`."""
    answer = await client.delete("/api/uploads/local/0?expires=0")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "PUT"


@pytest.mark.committing
async def test_making_the_app_and_a_405_build_no_route_contexts(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FastAPI rebuilds an included route's whole state (dependencies, response fields) for
    each route context walked: ~0.5 s for every route of this app. Making an app, or working
    out a 405's `Allow`, reads the routers instead, so neither blocks the loop like that."""
    import fastapi.routing

    built: list[str] = []
    original = fastapi.routing._EffectiveRouteContext.from_api_route

    def counting(**kwargs: Any) -> Any:
        built.append(kwargs["original_route"].path)
        return original(**kwargs)

    monkeypatch.setattr(fastapi.routing._EffectiveRouteContext, "from_api_route", counting)
    app = create_app(settings)
    assert built == []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.30", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.delete("/api/videos/trending")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "GET"
    assert built == []


def test_routes_are_included_flat_with_their_routers_options(settings: Settings) -> None:
    """No included-router entries to walk per request (`main.include_flat`), and each route
    still carries its router's prefix, tags and dependencies (admins only, here)."""
    app = create_app(settings)
    assert not [route for route in app.router.routes if hasattr(route, "original_router")]
    admin_routes = [
        route
        for route in app.router.routes
        if isinstance(route, APIRoute) and route.path.startswith("/api/admin/")
    ]
    assert admin_routes
    for route in admin_routes:
        assert "Administration" in route.tags, route.path
        assert any(
            getattr(dependency.call, "__qualname__", "").startswith("require_role")
            for dependency in route.dependant.dependencies
        ), route.path

"""The application shell: every failure has the API.md error shape."""

from __future__ import annotations

import httpx


async def test_unknown_route_is_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/nope")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert response.headers["x-request-id"]

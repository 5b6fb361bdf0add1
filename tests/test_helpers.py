"""The setup-call check itself: a 2xx passes through, anything else fails the test loudly."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import ok


def _client() -> httpx.AsyncClient:
    def answer(request: httpx.Request) -> httpx.Response:
        status = int(request.url.path.strip("/"))
        return httpx.Response(status, json={"status": status, "error": "Nope"})

    return httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://t")


@pytest.mark.parametrize("status", [200, 201, 204])
async def test_a_2xx_answer_is_returned(status: int) -> None:
    async with _client() as client:
        response = await ok(client.post(f"/{status}"))
        assert response.status_code == status
        assert (await ok(response)) is response  # an answer already awaited works too


@pytest.mark.parametrize("status", [302, 400, 404, 409, 422, 500])
async def test_anything_else_fails_with_status_and_body(status: int) -> None:
    async with _client() as client:
        with pytest.raises(pytest.fail.Exception) as failure:
            await ok(client.put(f"/{status}", json={}))
    message = str(failure.value)
    assert f"PUT /{status} answered {status}" in message
    assert '"error":"Nope"' in message

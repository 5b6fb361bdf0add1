"""Helpers shared by the tests (importable as `tests.helpers`)."""

from __future__ import annotations

from collections.abc import Awaitable

import httpx
import pytest


async def ok(call: Awaitable[httpx.Response] | httpx.Response) -> httpx.Response:
    """`await ok(client.post(...))`: a setup call that must succeed. Fails the test, with the
    method, URL, status and body, on anything but a 2xx, so a test can't pass because its setup
    silently failed. Returns the response (`.json()` for its body)."""
    response = call if isinstance(call, httpx.Response) else await call
    if not response.is_success:
        request = response.request
        pytest.fail(
            f"setup call {request.method} {request.url.path} answered {response.status_code}: "
            f"{response.text[:2000]}",
            pytrace=False,
        )
    return response

"""Text fields: the raw input is bounded before any cleaning, cleaning is a bounded number of
linear passes, and the stored text never holds markup, whatever its encoding (issue 8: 1, 8)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from peal.core import text
from tests.auth.conftest import Register


@pytest.fixture
def cleaner_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Lengths of the texts the cleaner was given (it still cleans)."""
    calls: list[int] = []
    real: Callable[[str], str] = text.remove_markup

    def spy(value: str) -> str:
        calls.append(len(value))
        return real(value)

    monkeypatch.setattr(text, "remove_markup", spy)
    return calls


async def test_oversized_nested_markup_is_refused_before_any_cleaning(
    register: Register, cleaner_calls: list[int]
) -> None:
    response = await register(name="<div>" * 50_000)

    assert response.status_code == 422
    assert [d["field"] for d in response.json()["details"]] == ["name"]
    assert cleaner_calls == []  # refused on its raw length: the cleaner never saw it


async def test_each_field_bounds_its_raw_length_by_its_own_size(
    register: Register, cleaner_calls: list[int]
) -> None:
    # A bio may hold 2000 characters, so 1000 raw characters of markup are cleaned...
    ok = await register(bio="<b>" + "x" * 1000 + "</b>")
    assert ok.status_code == 201
    assert ok.json()["user"]["bio"] == "x" * 1000
    # ...but the 100-character name refuses the same raw length untouched.
    cleaner_calls.clear()
    bad = await register(name="<b>" + "x" * 1000 + "</b>")
    assert bad.status_code == 422
    assert cleaner_calls == []


async def test_deep_nesting_within_the_bound_takes_two_linear_passes(
    register: Register, cleaner_calls: list[int]
) -> None:
    bio = "<div>" * (2000 // 5)  # as deep as the bio's raw bound (its maxLength) allows

    response = await register(bio=bio)

    assert response.status_code == 201
    assert response.json()["user"]["bio"] is None  # nothing but tags
    # One pass strips everything, a second sees nothing change: no tree, no per-depth work.
    assert cleaner_calls == [len(bio), 0]


@pytest.mark.parametrize(
    "hostile",
    [
        "&lt;img src=x onerror=alert(1)&gt;",  # named
        "&#60;img src=x onerror=alert(1)&#62;",  # decimal
        "&#x3C;img src=x onerror=alert(1)&#x3e;",  # hex
        "&ltimg src=x onerror=alert(1)&gt",  # named without semicolons
        "&amp;lt;img src=x onerror=alert(1)&amp;gt;",  # double-encoded
        "&amp;amp;lt;img src=x onerror=alert(1)&amp;amp;gt;",  # triple-encoded
        "&lt;scr<b></b>ipt&gt;alert(1)&lt;/script&gt;",  # split by a tag
        "<!-- &lt;img src=x onerror=alert(1)&gt; -->",  # inside a comment
    ],
)
async def test_entities_never_decode_into_stored_markup(
    register: Register, client: httpx.AsyncClient, hostile: str
) -> None:
    response = await register(
        name=f"Amara {hostile}Okafor", bio=hostile + "I bake", keep_cookies=True
    )

    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()["user"]
    for value in (user["name"], user["bio"] or ""):
        assert "<" not in value and "&" not in value, value
        assert "onerror" not in value or "img" not in value
    me = await client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {response.json()['accessToken']}"}
    )
    assert me.json()["user"]["name"] == user["name"]


async def test_plain_text_with_angle_brackets_and_ampersands_is_kept(register: Register) -> None:
    response = await register(bio="1 < 2 & 3 > 2, Tom &amp; Jerry <3")

    assert response.status_code == 201
    assert response.json()["user"]["bio"] == "1 < 2 & 3 > 2, Tom & Jerry <3"

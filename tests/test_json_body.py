"""JSON bodies: nesting is bounded before parsing, numbers keep their exact value, and
money compares by value (issue 8: 11, 20)."""

from __future__ import annotations

import httpx

from tests.conftest import AuthedUser
from tests.funding.helpers import create_request, get_request


async def test_deeply_nested_json_is_refused_before_any_route_parses_it(
    client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    deep = '{"a":' * 5000 + "1" + "}" * 5000
    for method, path in (("POST", "/api/auth/register"), ("PUT", f"/api/users/{woman.id}")):
        response = await client.request(
            method,
            path,
            content=deep,
            headers={**woman.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 400, path
        assert response.json()["code"] == "malformed_json"


async def test_brackets_inside_strings_are_not_nesting(
    client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    response = await client.put(
        f"/api/users/{woman.id}", json={"bio": '[{"' * 300 + " \\ done"}, headers=woman.headers
    )
    assert response.status_code == 200, response.text


async def test_a_money_amount_with_hidden_precision_is_refused_not_rounded(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    request = await create_request(client, woman, goalAmount=1000)
    url = f"/api/requests/{request['id']}/donate"
    for raw in ("5.0000000000000000000000001", "4.99999999999999999999999", "1e400"):
        response = await client.post(
            url,
            content=f'{{"amount": {raw}}}',
            headers={**sponsor.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 422, raw
        assert response.json()["details"][0]["field"] == "amount"
    assert (await get_request(client, request["id"]))["currentAmount"] == 0


async def test_an_idempotent_retry_compares_amounts_by_value(
    client: httpx.AsyncClient, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    request = await create_request(client, woman, goalAmount=1000)
    url = f"/api/requests/{request['id']}/donate"
    headers = {**sponsor.headers, "Idempotency-Key": "ten", "Content-Type": "application/json"}
    first = await client.post(url, content='{"amount": 10}', headers=headers)
    for spelling in ("10.0", "10.00", "1e1"):
        again = await client.post(url, content=f'{{"amount": {spelling}}}', headers=headers)
        assert again.status_code == 201, (spelling, again.text)
        assert again.json() == first.json()
    assert (await get_request(client, request["id"]))["currentAmount"] == 10

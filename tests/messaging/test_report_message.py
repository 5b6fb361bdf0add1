"""A message can be reported by a participant only; a stranger gets the same 404 as reading it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.conftest import AuthedUser
from tests.messaging.conftest import Send, Start


async def test_only_a_participant_reports_a_message(
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    start: Start,
    send: Send,
) -> None:
    amara: AuthedUser = await make_user("woman", name="Amara")
    scammer: AuthedUser = await make_user("woman", name="Scammer")
    stranger: AuthedUser = await make_user("woman", name="Stranger")
    conversation = await start(amara, scammer)
    message = await send(scammer, conversation["id"], "Pay me off-site and I will double it")

    def report(who: AuthedUser) -> Any:
        return client.post(
            "/api/moderation/report",
            json={"contentType": "message", "contentId": message["id"], "reason": "scam"},
            headers=who.headers,
        )

    assert (await report(stranger)).status_code == 404
    answer = await report(amara)
    assert answer.status_code == 201, answer.text
    assert answer.json()["report"]["contentType"] == "message"
    assert (await report(scammer)).status_code == 400  # one's own message

"""One visibility rule everywhere: a private profile's id, name and avatar do not show to others
in video comments, donation lists or events she hosts (the money itself stays listed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI

from tests.conftest import AuthedUser
from tests.events.test_events import create_event
from tests.funding.helpers import create_request, donate
from tests.uploads.helpers import insert_videos


async def test_a_private_profile_does_not_show_in_comments_donations_or_events(
    client: httpx.AsyncClient,
    app: FastAPI,
    woman: AuthedUser,
    sponsor: AuthedUser,
    make_user: Callable[..., Any],
) -> None:
    private: AuthedUser = await make_user("woman", name="Private Priya", is_public=False)
    video = (await insert_videos(app, woman.id, 1))[0]
    comment = await client.post(
        f"/api/videos/{video}/comments", json={"content": "hello"}, headers=private.headers
    )
    assert comment.status_code == 201
    request = await create_request(client, woman)
    await donate(client, private, request["id"], 20)
    event = await create_event(client, private, title="Priya's circle")

    for headers in ({}, sponsor.headers):
        comments = (await client.get(f"/api/videos/{video}/comments", headers=headers)).json()
        assert comments["data"] == [] and comments["pagination"]["total"] == 0
        detail = (await client.get(f"/api/requests/{request['id']}", headers=headers)).json()
        assert detail["request"]["currentAmount"] == 20
        assert [d["donor"] for d in detail["request"]["recentDonations"]] == [None]
        for path in (
            f"/api/requests/{request['id']}/donations",
            f"/api/payments/donations/{request['id']}",
        ):
            listed = (await client.get(path, headers=headers)).json()
            rows = listed.get("data", listed.get("donations"))
            assert [d["donor"] for d in rows] == [None], path
            assert "Private Priya" not in str(listed)
        events = (await client.get("/api/events", headers=headers)).json()["events"]
        assert event["id"] not in {e["id"] for e in events}
        assert (await client.get(f"/api/events/{event['id']}", headers=headers)).status_code == 404

    # She herself, and admins, still see her everywhere.
    mine = (await client.get(f"/api/videos/{video}/comments", headers=private.headers)).json()
    assert [c["user"]["name"] for c in mine["data"]] == ["Private Priya"]
    own = (await client.get(f"/api/requests/{request['id']}", headers=private.headers)).json()
    assert own["request"]["recentDonations"][0]["donor"]["name"] == "Private Priya"
    assert (
        await client.get(f"/api/events/{event['id']}", headers=private.headers)
    ).status_code == 200

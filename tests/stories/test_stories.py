"""Success stories over HTTP: authorship, featuring by admins only, celebrations, the featured
story, lists, and the impact report sent to a request's donors."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from peal.db import utcnow
from peal.stories.models import SuccessStory
from tests.conftest import AuthedUser, QueryCounter
from tests.funding.helpers import (
    create_request,
    donate,
    notifications_of,
    upload_image,
)
from tests.helpers import ok


def story_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "My bakery is open!",
        "description": "The oven arrived in March.",
        "impactDescription": "Three neighbours work with me.",
    }
    body.update(fields)
    return body


async def create_story(client: httpx.AsyncClient, author: Any, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/stories", json=story_body(**fields), headers=author.headers)
    assert response.status_code == 201, response.text
    story: dict[str, Any] = response.json()["story"]
    return story


async def set_story(app: FastAPI, story_id: str, **values: Any) -> None:
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            update(SuccessStory).where(SuccessStory.id == uuid.UUID(story_id)).values(**values)
        )
        await session.commit()


async def test_a_woman_shares_a_story_with_her_images(
    client: httpx.AsyncClient, woman: AuthedUser
) -> None:
    before = await upload_image(client, woman)
    after = await upload_image(client, woman)
    story = await create_story(
        client,
        woman,
        title="<h1>Open</h1>",
        beforeImageUrl=before,
        afterImageUrl=after,
        isFeatured=True,
        celebrationsCount=99,
    )
    assert story["title"] == "Open"
    assert story["beforeImageUrl"] == before and story["afterImageUrl"] == after
    assert story["impactDescription"] == "Three neighbours work with me."
    assert story["author"]["id"] == str(woman.id)
    assert story["authorId"] == str(woman.id)
    assert story["celebrationsCount"] == 0
    assert story["celebratedByMe"] is False
    assert story["isFeatured"] is False  # only admins feature stories
    assert story["requestId"] is None
    assert story["createdAt"].endswith("Z") and story["updatedAt"].endswith("Z")
    fetched = await client.get(f"/api/stories/{story['id']}")
    assert fetched.json()["story"]["id"] == story["id"]


async def test_who_may_share_and_which_images(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    admin: AuthedUser,
    make_user: Callable[..., Any],
) -> None:
    assert (await client.post("/api/stories", json=story_body())).status_code == 401
    assert (
        await client.post("/api/stories", json=story_body(), headers=sponsor.headers)
    ).status_code == 403
    featured = await create_story(client, admin, isFeatured=True)
    assert featured["isFeatured"] is True
    other = await make_user("woman")
    theirs = await upload_image(client, other)
    for field in ("beforeImageUrl", "afterImageUrl"):
        for url in (theirs, "https://elsewhere.example/a.png"):
            response = await client.post(
                "/api/stories", json=story_body(**{field: url}), headers=woman.headers
            )
            assert response.status_code == 422
            assert response.json()["details"][0]["field"] == field
    for bad in ({"title": ""}, {"title": "<b></b>"}, {"description": None}):
        response = await client.post("/api/stories", json=story_body(**bad), headers=woman.headers)
        assert response.status_code == 422


async def test_only_the_author_or_an_admin_edits_and_deletes(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    admin: AuthedUser,
    make_user: Callable[..., Any],
) -> None:
    story = await create_story(client, woman)
    url = f"/api/stories/{story['id']}"
    other = await make_user("woman")
    for intruder in (other, sponsor):
        assert (
            await client.put(url, json={"title": "Stolen"}, headers=intruder.headers)
        ).status_code == 403
        assert (await client.delete(url, headers=intruder.headers)).status_code == 403
    assert (await client.put(url, json={"title": "Anon"})).status_code == 401
    assert (
        await client.put(f"/api/stories/{uuid.uuid4()}", json={"title": "x"}, headers=woman.headers)
    ).status_code == 404

    edited = await client.patch(
        url,
        json={"title": "Updated", "isFeatured": True, "authorId": str(other.id)},
        headers=woman.headers,
    )
    assert edited.status_code == 200
    assert edited.json()["story"]["title"] == "Updated"
    assert edited.json()["story"]["isFeatured"] is False
    assert edited.json()["story"]["authorId"] == str(woman.id)
    assert (await client.put(url, json={"title": None}, headers=woman.headers)).status_code == 422

    featured = await client.put(url, json={"isFeatured": True}, headers=admin.headers)
    assert featured.json()["story"]["isFeatured"] is True
    assert (await client.delete(url, headers=woman.headers)).status_code == 204
    assert (await client.get(url)).status_code == 404


async def test_celebrations_are_idempotent_and_notify_once(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    make_user: Callable[..., Any],
    app: FastAPI,
) -> None:
    story = await create_story(client, woman)
    url = f"/api/stories/{story['id']}/celebrate"
    first = await client.post(url, headers=sponsor.headers)
    assert first.json() == {"celebrated": True, "celebrationsCount": 1}
    again = await client.post(url, headers=sponsor.headers)
    assert again.json() == {"celebrated": True, "celebrationsCount": 1}
    other = await make_user("woman")
    assert (await client.post(url, headers=other.headers)).json()["celebrationsCount"] == 2
    seen = await client.get(f"/api/stories/{story['id']}", headers=sponsor.headers)
    assert seen.json()["story"]["celebratedByMe"] is True
    assert seen.json()["story"]["celebrationsCount"] == 2
    anonymous = await client.get(f"/api/stories/{story['id']}")
    assert anonymous.json()["story"]["celebratedByMe"] is False

    notes = await notifications_of(app, woman.id, "celebration")
    assert len(notes) == 2
    assert notes[0].data["storyId"] == story["id"]

    removed = await client.delete(url, headers=sponsor.headers)
    assert removed.json() == {"celebrated": False, "celebrationsCount": 1}
    removed = await client.delete(url, headers=sponsor.headers)
    assert removed.json() == {"celebrated": False, "celebrationsCount": 1}
    # Celebrating one's own story counts, but tells nobody.
    assert (await client.post(url, headers=woman.headers)).json()["celebrationsCount"] == 2
    assert len(await notifications_of(app, woman.id, "celebration")) == 2
    assert (await client.post(url)).status_code == 401
    assert (
        await client.post(f"/api/stories/{uuid.uuid4()}/celebrate", headers=sponsor.headers)
    ).status_code == 404


async def test_featured_story_rules(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    admin: AuthedUser,
    app: FastAPI,
) -> None:
    missing = await client.get("/api/stories/featured")
    assert missing.status_code == 404
    old = await create_story(client, woman, title="Old but loved")
    await ok(client.post(f"/api/stories/{old['id']}/celebrate", headers=sponsor.headers))
    await ok(client.post(f"/api/stories/{old['id']}/celebrate", headers=admin.headers))
    await set_story(app, old["id"], created_at=utcnow() - timedelta(days=90))
    quiet = await create_story(client, woman, title="Recent and quiet")
    loved = await create_story(client, woman, title="Recent and loved")
    await ok(client.post(f"/api/stories/{loved['id']}/celebrate", headers=sponsor.headers))

    # None featured: the most celebrated recent one (the old favourite is not recent).
    featured = await client.get("/api/stories/featured")
    assert featured.json()["story"]["id"] == loved["id"]
    # An admin features a story: the latest featured one wins.
    await ok(
        client.put(f"/api/stories/{quiet['id']}", json={"isFeatured": True}, headers=admin.headers)
    )
    assert (await client.get("/api/stories/featured")).json()["story"]["id"] == quiet["id"]
    await ok(
        client.put(f"/api/stories/{old['id']}", json={"isFeatured": True}, headers=admin.headers)
    )
    assert (await client.get("/api/stories/featured")).json()["story"]["id"] == quiet["id"]


async def test_list_filters_pagination_and_fixed_queries(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    sponsor: AuthedUser,
    admin: AuthedUser,
    make_user: Callable[..., Any],
    count_queries: QueryCounter,
) -> None:
    other = await make_user("woman")
    a = await create_story(client, woman, title="Bakery")
    b = await create_story(client, other, title="Salon", description="Hair 100%")
    c = await create_story(client, admin, title="Coding club", isFeatured=True)
    await ok(client.post(f"/api/stories/{b['id']}/celebrate", headers=sponsor.headers))

    async def ids(query: str, viewer: Any = None) -> list[str]:
        response = await client.get(
            f"/api/stories{query}", headers=viewer.headers if viewer else {}
        )
        assert response.status_code == 200
        return [s["id"] for s in response.json()["data"]]

    assert await ids("") == [c["id"], b["id"], a["id"]]
    assert await ids(f"?authorId={woman.id}") == [a["id"]]
    assert await ids("?featured=true") == [c["id"]]
    assert await ids("?featured=false") == [b["id"], a["id"]]
    assert await ids("?search=salon") == [b["id"]]
    assert await ids("?search=100%25") == [b["id"]]
    listed = (await client.get("/api/stories", headers=sponsor.headers)).json()["data"]
    assert [s["celebratedByMe"] for s in listed] == [False, True, False]

    page = (await client.get("/api/stories?limit=2")).json()
    assert [s["id"] for s in page["data"]] == [c["id"], b["id"]]
    cursor = page["pagination"]["nextCursor"]
    rest = (await client.get(f"/api/stories?limit=2&cursor={cursor}")).json()
    assert [s["id"] for s in rest["data"]] == [a["id"]]
    assert rest["pagination"]["hasMore"] is False

    count_queries.reset()
    await client.get("/api/stories?limit=1", headers=sponsor.headers)
    few = count_queries.count
    count_queries.reset()
    await client.get("/api/stories?limit=50", headers=sponsor.headers)
    assert count_queries.count == few


async def test_a_story_about_a_request_reaches_its_donors(
    client: httpx.AsyncClient,
    woman: AuthedUser,
    make_user: Callable[..., Any],
    app: FastAPI,
) -> None:
    request = await create_request(client, woman, goalAmount=100, title="Laptops")
    named = await make_user("sponsor")
    secret = await make_user("sponsor")
    await donate(client, named, request["id"], 60)
    await donate(client, secret, request["id"], 40, isAnonymous=True)
    others = await make_user("woman")
    foreign = await create_request(client, others)

    refused = await client.post(
        "/api/stories", json=story_body(requestId=foreign["id"]), headers=woman.headers
    )
    assert refused.status_code == 422
    assert refused.json()["details"][0]["field"] == "requestId"
    story = await create_story(client, woman, title="Laptops arrived", requestId=request["id"])
    assert story["requestId"] == request["id"]

    for donor in (named, secret):
        reports = await notifications_of(app, donor.id, "impact_story")
        assert len(reports) == 1
        assert reports[0].data == {"storyId": story["id"], "requestId": request["id"]}
        assert "Laptops arrived" in reports[0].message
    assert await notifications_of(app, woman.id, "impact_story") == []

    # Editing the story without changing its request sends nothing new.
    await ok(
        client.put(f"/api/stories/{story['id']}", json={"title": "Laptops!"}, headers=woman.headers)
    )
    assert len(await notifications_of(app, named.id, "impact_story")) == 1
    # Linking a request the author does not own is refused on update too.
    moved = await client.put(
        f"/api/stories/{story['id']}", json={"requestId": foreign["id"]}, headers=woman.headers
    )
    assert moved.status_code == 422
    # A request with a story may still not be deleted while it holds money; an empty one
    # may, and the story then simply loses the link.
    empty = await create_request(client, woman)
    linked = await create_story(client, woman, requestId=empty["id"])
    assert (
        await client.delete(f"/api/requests/{empty['id']}", headers=woman.headers)
    ).status_code == 204
    assert (await client.get(f"/api/stories/{linked['id']}")).json()["story"]["requestId"] is None

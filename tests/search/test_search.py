"""Global search over HTTP, on both databases: what matches, what is left out, the order, the
shapes (those of each kind's own endpoint), the query parameters and the query count."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from peal.db import utcnow
from peal.search.service import MAX_TERMS, search_terms
from peal.users.models import User, UserFollow
from peal.videos.models import VideoLike
from tests.conftest import AuthedUser, QueryCounter
from tests.search.conftest import Content

KINDS = ("users", "videos", "requests", "stories")


async def search(
    client: httpx.AsyncClient, q: str, viewer: AuthedUser | None = None, **params: Any
) -> dict[str, Any]:
    headers = viewer.headers if viewer else {}
    response = await client.get("/api/search", params={"q": q, **params}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert sorted(body) == sorted(KINDS)
    return body


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


def titles(items: list[dict[str, Any]]) -> list[str]:
    return [item["title"] for item in items]


# --- what matches -----------------------------------------------------------------------


async def test_people_are_found_by_name_bio_and_skill(
    client: httpx.AsyncClient, make_user: Callable[..., Any], content: Content
) -> None:
    by_name = await make_user(name="Zuriel Okafor")
    by_bio = await make_user(name="Ada One", bio="I run a zucchini farm near Accra.")
    by_skill = await make_user(name="Bea Two")
    await content.skills(by_skill.id, "zumba coaching")
    await make_user(name="Nobody Else", bio="Nothing to see.")

    assert ids((await search(client, "zuriel"))["users"]) == [str(by_name.id)]
    assert ids((await search(client, "zucchini"))["users"]) == [str(by_bio.id)]
    assert ids((await search(client, "zumba"))["users"]) == [str(by_skill.id)]
    # Several words: each must be found, in any of the fields (here the name and a skill).
    assert ids((await search(client, "bea coaching"))["users"]) == [str(by_skill.id)]
    assert (await search(client, "bea zucchini"))["users"] == []


async def test_videos_are_found_by_title_description_and_tag(
    client: httpx.AsyncClient, woman: AuthedUser, content: Content
) -> None:
    by_title = await content.video(woman.id, "Sourdough at dawn")
    by_description = await content.video(woman.id, "Morning", "Kneading quinoa bread by hand")
    by_tag = await content.video(woman.id, "Evening", tags=["pottery"])
    await content.video(woman.id, "Unrelated", "Nothing here")

    assert ids((await search(client, "sourdough"))["videos"]) == [str(by_title)]
    assert ids((await search(client, "quinoa"))["videos"]) == [str(by_description)]
    assert ids((await search(client, "pottery"))["videos"]) == [str(by_tag)]


async def test_requests_are_found_by_title_description_and_category(
    client: httpx.AsyncClient, woman: AuthedUser, content: Content
) -> None:
    by_title = await content.request(woman.id, "A kiln for the workshop")
    by_description = await content.request(woman.id, "Tools", "Two looms for weaving")
    by_category = await content.request(woman.id, "Seeds", category="agriculture")

    assert ids((await search(client, "kiln"))["requests"]) == [str(by_title)]
    assert ids((await search(client, "looms"))["requests"]) == [str(by_description)]
    assert ids((await search(client, "agriculture"))["requests"]) == [str(by_category)]


async def test_stories_are_found_by_title_description_and_impact(
    client: httpx.AsyncClient, woman: AuthedUser, content: Content
) -> None:
    by_title = await content.story(woman.id, "The tailoring shop is open")
    by_description = await content.story(woman.id, "News", "We bought a sewing machine")
    by_impact = await content.story(woman.id, "More news", impact="Nine apprentices trained")

    assert ids((await search(client, "tailoring"))["stories"]) == [str(by_title)]
    assert ids((await search(client, "sewing"))["stories"]) == [str(by_description)]
    assert ids((await search(client, "apprentices"))["stories"]) == [str(by_impact)]


async def test_matching_ignores_case_and_finds_the_start_of_words(
    client: httpx.AsyncClient, make_user: Callable[..., Any], content: Content
) -> None:
    lucia = await make_user(name="Lucía Fernández", bio="Bakery owner")
    video = await content.video(lucia.id, "BAKERY secrets", tags=["Baking"])

    for q in ("LUCÍA", "lucía", "bakery", "BaKeRy", "bak"):
        found = await search(client, q)
        assert ids(found["users"]) == [str(lucia.id)], q
    for q in ("bakery", "SECRETS", "bak"):
        assert ids((await search(client, q))["videos"]) == [str(video)], q


async def test_every_word_must_match(
    client: httpx.AsyncClient, woman: AuthedUser, content: Content
) -> None:
    both = await content.request(woman.id, "Bakery oven", "For a bakery in Lagos")
    await content.request(woman.id, "Bakery flour", "For a bakery in Accra")

    assert ids((await search(client, "bakery lagos"))["requests"]) == [str(both)]
    assert len((await search(client, "bakery"))["requests"]) == 2


async def test_query_syntax_and_wildcards_are_taken_literally(
    client: httpx.AsyncClient, woman: AuthedUser, content: Content
) -> None:
    literal = await content.story(woman.id, "A 50_50 partnership")
    await content.story(woman.id, "A 50x50 partnership")
    await content.story(woman.id, "Another partnership")

    assert ids((await search(client, "50_50"))["stories"]) == [str(literal)]
    assert len((await search(client, "partnership"))["stories"]) == 3
    # Nothing here is syntax on either database: each answers 200, matching nothing.
    for q in ("%%", "__", "a'b", "\\\\", "&|!():*", "' OR 1=1 --", "<script>", "\uff05 full width"):
        found = await search(client, q)
        assert found["stories"] == [], q


# --- what is left out -------------------------------------------------------------------


async def test_private_profiles_and_their_content_are_left_out_for_everyone(
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    admin: AuthedUser,
    content: Content,
) -> None:
    public = await make_user(name="Yara Public")
    private = await make_user(name="Yara Private", is_public=False)
    await content.skills(private.id, "yarn dyeing")
    public_items = await content.everything(public.id, "yarn")
    await content.everything(private.id, "yarn")

    for viewer in (None, admin, private):
        found = await search(client, "yarn", viewer)
        assert ids(found["users"]) == [], viewer  # Yara Public's name is not "yarn"
        for kind, item_id in public_items.items():
            assert ids(found[kind]) == [str(item_id)], (kind, viewer)
        found = await search(client, "yara", viewer)
        assert ids(found["users"]) == [str(public.id)], viewer


async def test_banned_and_deleted_people_and_their_content_are_left_out(
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    admin: AuthedUser,
    content: Content,
) -> None:
    banned = await make_user(name="Quilla Banned", is_banned=True)
    deleted = await make_user(name="Quilla Deleted", deleted_at=utcnow())
    active = await make_user(name="Quilla Active")
    for person in (banned, deleted, active):
        await content.everything(person.id, "quilla")

    found = await search(client, "quilla", admin)
    assert ids(found["users"]) == [str(active.id)]
    for kind in ("videos", "requests", "stories"):
        assert [item["authorId"] for item in found[kind]] == [str(active.id)], kind


async def test_only_ready_videos_are_found(
    client: httpx.AsyncClient, woman: AuthedUser, content: Content
) -> None:
    ready = await content.video(woman.id, "Weaving basics")
    await content.video(woman.id, "Weaving in progress", status="processing")
    await content.video(woman.id, "Weaving broken", status="failed")

    for viewer in (None, woman):  # not even their author finds them here
        assert ids((await search(client, "weaving", viewer))["videos"]) == [str(ready)]


# --- order and limits -------------------------------------------------------------------


async def test_a_title_match_ranks_above_a_description_match(
    client: httpx.AsyncClient,
    app: FastAPI,
    make_user: Callable[..., Any],
    woman: AuthedUser,
    content: Content,
) -> None:
    # The description-only matches are the newer ones: the order is not just recency.
    old, new = timedelta(days=3), timedelta(minutes=5)
    video_title = await content.video(woman.id, "Mango jam", age=old)
    video_description = await content.video(woman.id, "Jars", "Mango season", age=new)
    request_title = await content.request(woman.id, "Mango orchard", age=old)
    request_description = await content.request(woman.id, "Trees", "Mango trees", age=new)
    story_title = await content.story(woman.id, "Mango harvest", age=old)
    story_description = await content.story(woman.id, "Harvest", "Mango time", age=new)
    user_name = await make_user(name="Mango Mensah")
    user_bio = await make_user(name="Efua Boateng", bio="Mango grower")
    async with app.state.db.sessionmaker() as session:  # the name match: the older account
        await session.execute(
            update(User).where(User.id == user_name.id).values(created_at=utcnow() - old)
        )
        await session.commit()

    found = await search(client, "mango")
    assert ids(found["videos"]) == [str(video_title), str(video_description)]
    assert ids(found["requests"]) == [str(request_title), str(request_description)]
    assert ids(found["stories"]) == [str(story_title), str(story_description)]
    assert ids(found["users"]) == [str(user_name.id), str(user_bio.id)]


async def test_equal_matches_come_newest_first_up_to_the_limit(
    client: httpx.AsyncClient, woman: AuthedUser, content: Content
) -> None:
    made = [await content.story(woman.id, "Olive oil", age=timedelta(hours=h)) for h in range(8)]

    assert ids((await search(client, "olive"))["stories"]) == [str(i) for i in made[:5]]
    assert ids((await search(client, "olive", limit=2))["stories"]) == [str(i) for i in made[:2]]
    assert len((await search(client, "olive", limit=20))["stories"]) == 8


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": ""},
        {"q": "a"},
        {"q": "   a   "},
        {"q": "x" * 101},
        {"q": "ok", "limit": 0},
        {"q": "ok", "limit": 21},
        {"q": "ok", "limit": "many"},
    ],
)
async def test_bad_parameters_are_422(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    response = await client.get("/api/search", params=params)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["details"][0]["field"] in ("q", "limit")


async def test_the_query_is_trimmed_and_a_query_without_words_finds_nothing(
    client: httpx.AsyncClient, woman: AuthedUser, content: Content
) -> None:
    story = await content.story(woman.id, "Honey harvest")
    assert ids((await search(client, "   honey   "))["stories"]) == [str(story)]
    assert ids((await search(client, " " + "x" * 100 + "  "))["stories"]) == []
    assert await search(client, "!!") == {kind: [] for kind in KINDS}


def test_search_terms_are_words_without_edge_punctuation() -> None:
    assert search_terms("  Bakery, LAGOS! bakery  ") == ["bakery", "lagos"]
    assert search_terms("e-commerce 50_50 o'brien") == ["e-commerce", "50_50", "o'brien"]
    assert search_terms("&& -- !!") == []
    assert len(search_terms(" ".join(f"w{i}" for i in range(20)))) == MAX_TERMS


# --- shapes and the caller --------------------------------------------------------------


async def test_each_kind_has_the_shape_of_its_own_endpoint(
    client: httpx.AsyncClient,
    app: FastAPI,
    make_user: Callable[..., Any],
    sponsor: AuthedUser,
    content: Content,
) -> None:
    author = await make_user(name="Ximena Ruiz", bio="Ximena makes cheese")
    await content.skills(author.id, "cheesemaking")
    items = await content.everything(author.id, "ximena")
    async with app.state.db.sessionmaker() as session:
        session.add(UserFollow(follower_id=sponsor.id, following_id=author.id))
        session.add(VideoLike(video_id=items["videos"], user_id=sponsor.id))
        await session.commit()
    celebrated = await client.post(
        f"/api/stories/{items['stories']}/celebrate", headers=sponsor.headers
    )
    assert celebrated.status_code == 200, celebrated.text

    found = await search(client, "ximena", sponsor)
    user = (await client.get(f"/api/users/{author.id}", headers=sponsor.headers)).json()["user"]
    video = (await client.get(f"/api/videos/{items['videos']}", headers=sponsor.headers)).json()
    request = (
        await client.get(f"/api/requests/{items['requests']}", headers=sponsor.headers)
    ).json()["request"]
    story = (await client.get(f"/api/stories/{items['stories']}", headers=sponsor.headers)).json()
    request.pop("recentDonations")  # the detail view's extra

    assert found["users"] == [user]
    assert found["videos"] == [video["video"]]
    assert found["requests"] == [request]
    assert found["stories"] == [story["story"]]
    assert user["isFollowing"] is True
    assert video["video"]["likedByMe"] is True
    assert story["story"]["celebratedByMe"] is True

    anonymous = await search(client, "ximena")
    assert anonymous["users"][0]["isFollowing"] is False
    assert anonymous["videos"][0]["likedByMe"] is False
    assert anonymous["stories"][0]["celebratedByMe"] is False


async def test_a_bad_token_is_refused_rather_than_ignored(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/search", params={"q": "bakery"}, headers={"Authorization": "Bearer nope"}
    )
    assert response.status_code == 401


async def test_a_fixed_number_of_queries_whatever_the_number_of_results(
    client: httpx.AsyncClient,
    make_user: Callable[..., Any],
    sponsor: AuthedUser,
    content: Content,
    count_queries: QueryCounter,
) -> None:
    async def statements() -> int:
        count_queries.reset()
        await search(client, "walnut", sponsor, limit=20)
        return count_queries.count

    async def add_people_and_content(count: int) -> None:
        for _ in range(count):
            person = await make_user(name="Walnut Grower")
            await content.skills(person.id, "walnut farming", "pruning")
            await content.everything(person.id, "walnut")

    await add_people_and_content(1)
    with_one = await statements()
    await add_people_and_content(6)
    found = await search(client, "walnut", sponsor, limit=20)
    assert all(len(found[kind]) == 7 for kind in KINDS)
    assert await statements() == with_one
    # The caller, four searches, skills + interests + follows, tags + likes, celebrations,
    # and on PostgreSQL the search's statement timeout.
    assert with_one <= 12, count_queries.statements

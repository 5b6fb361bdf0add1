"""Videos over HTTP: creation rules, visibility, editing, deletion, likes, views, shares."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update

from peal.notifications.models import Notification
from peal.users.models import User
from peal.videos.models import Video, VideoShare
from tests.uploads.helpers import (
    demo_mp4,
    drain_jobs,
    insert_videos,
    jpeg_with_gps,
    presign,
    publish,
    put_bytes,
    upload,
    uploaded_url,
)


async def _set_user(app: FastAPI, user_id: Any, **values: Any) -> None:
    async with app.state.db.sessionmaker() as session:
        await session.execute(update(User).where(User.id == user_id).values(**values))
        await session.commit()


async def _notes(app: FastAPI, user_id: Any, type: str) -> list[Notification]:
    async with app.state.db.sessionmaker() as session:
        rows = await session.scalars(
            select(Notification).where(Notification.user_id == user_id, Notification.type == type)
        )
        return list(rows)


# --- creation ------------------------------------------------------------------------------


async def test_create_needs_a_user(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/videos", json={"title": "x", "videoUrl": "x"})
    assert response.status_code == 401


async def test_video_url_must_be_your_own_completed_upload(
    client: httpx.AsyncClient, woman: Any, sponsor: Any
) -> None:
    theirs = await uploaded_url(client, sponsor, demo_mp4(), "video/mp4")
    for video_url in (
        theirs,  # someone else's upload
        theirs.split("/media/")[1],  # ... even as a bare key
        "https://evil.example.com/clip.mp4",  # anywhere else
        theirs.replace(str(sponsor.id), str(woman.id)),  # a made-up key in my namespace
    ):
        response = await client.post(
            "/api/videos", json={"title": "Stolen", "videoUrl": video_url}, headers=woman.headers
        )
        assert response.status_code == 422, video_url
        assert response.json()["details"][0]["field"] == "videoUrl"

    pending = await presign(client, woman, "video/mp4")
    await put_bytes(client, pending["uploadUrl"], demo_mp4(), "video/mp4")
    response = await client.post(
        "/api/videos",
        json={"title": "Not completed", "videoUrl": pending["fileUrl"]},
        headers=woman.headers,
    )
    assert response.status_code == 422

    image = await uploaded_url(client, woman, jpeg_with_gps(), "image/jpeg")
    response = await client.post(
        "/api/videos", json={"title": "An image", "videoUrl": image}, headers=woman.headers
    )
    assert response.status_code == 422
    response = await client.post(
        "/api/videos",
        json={
            "title": "Their thumbnail",
            "videoUrl": await uploaded_url(client, woman, demo_mp4(), "video/mp4"),
            "thumbnailUrl": "https://evil.example.com/a.jpg",
        },
        headers=woman.headers,
    )
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "thumbnailUrl"


async def test_one_upload_makes_one_video(client: httpx.AsyncClient, woman: Any) -> None:
    url = await uploaded_url(client, woman, demo_mp4(), "video/mp4")
    first = await client.post(
        "/api/videos", json={"title": "A", "videoUrl": url}, headers=woman.headers
    )
    assert first.status_code == 201
    second = await client.post(
        "/api/videos", json={"title": "B", "videoUrl": url}, headers=woman.headers
    )
    assert second.status_code == 409
    # ... and the file of a video cannot be deleted on its own (once processed, that file is
    # the clean copy: the original upload is gone).
    await drain_jobs()
    video_id = first.json()["video"]["id"]
    video = (await client.get(f"/api/videos/{video_id}", headers=woman.headers)).json()["video"]
    key = video["videoUrl"].split("/media/")[1]
    assert (await client.delete(f"/api/uploads/{key}", headers=woman.headers)).status_code == 409


async def test_create_validates_fields(client: httpx.AsyncClient, woman: Any) -> None:
    url = await uploaded_url(client, woman, demo_mp4(), "video/mp4")
    cases = [
        {"title": "", "videoUrl": url},
        {"title": "<p></p>", "videoUrl": url},
        {"title": "x" * 256, "videoUrl": url},
        {"title": "ok", "videoUrl": url, "tags": [f"t{i}" for i in range(11)]},
        {"title": "ok", "videoUrl": url, "tags": ["x" * 31]},
        {"title": "ok", "videoUrl": url, "description": "d" * 5001},
    ]
    for body in cases:
        response = await client.post("/api/videos", json=body, headers=woman.headers)
        assert response.status_code == 422, body


async def test_mass_assignment_is_ignored(client: httpx.AsyncClient, woman: Any) -> None:
    video = await publish(
        client,
        woman,
        wait=False,
        likesCount=1000,
        viewsCount=5,
        status="ready",
        isTrending=True,
        authorId=str(uuid.uuid4()),
    )
    assert video["likesCount"] == 0 and video["viewsCount"] == 0
    assert video["status"] == "processing" and video["isTrending"] is False
    assert video["authorId"] == str(woman.id)


# --- visibility ----------------------------------------------------------------------------


async def test_processing_and_failed_videos_are_only_for_their_author(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any, admin: Any
) -> None:
    [video_id] = await insert_videos(app, woman.id, 1, status="processing")
    video = {"id": str(video_id)}
    path = f"/api/videos/{video['id']}"
    assert (await client.get(path, headers=woman.headers)).status_code == 200
    assert (await client.get(path, headers=admin.headers)).status_code == 200
    assert (await client.get(path, headers=sponsor.headers)).status_code == 404
    assert (await client.get(path)).status_code == 404
    listed = await client.get("/api/videos")
    assert listed.json()["data"] == []
    own = await client.get(f"/api/videos?authorId={woman.id}", headers=woman.headers)
    assert [v["id"] for v in own.json()["data"]] == [video["id"]]
    mine = await client.get(f"/api/users/{woman.id}/videos", headers=woman.headers)
    assert [v["id"] for v in mine.json()["data"]] == [video["id"]]
    theirs = await client.get(f"/api/users/{woman.id}/videos", headers=sponsor.headers)
    assert theirs.json()["data"] == []
    like = await client.post(f"{path}/like", headers=woman.headers)
    assert like.status_code == 409
    await insert_videos(app, woman.id, 1, status="failed")
    assert (await client.get("/api/videos")).json()["data"] == []
    own = await client.get(f"/api/users/{woman.id}/videos", headers=woman.headers)
    assert sorted(v["status"] for v in own.json()["data"]) == ["failed", "processing"]


async def test_private_profiles_videos_are_hidden_from_others(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any, admin: Any
) -> None:
    [video_id] = await insert_videos(app, woman.id, 1)
    await _set_user(app, woman.id, is_public=False)
    path = f"/api/videos/{video_id}"
    assert (await client.get(path)).status_code == 404
    assert (await client.get(path, headers=sponsor.headers)).status_code == 404
    assert (await client.get(path, headers=woman.headers)).status_code == 200
    assert (await client.get(path, headers=admin.headers)).status_code == 200
    assert (await client.get("/api/videos", headers=sponsor.headers)).json()["data"] == []
    assert (await client.get(f"/api/users/{woman.id}/videos")).status_code == 404
    assert (
        await client.get(f"/api/users/{woman.id}/videos", headers=woman.headers)
    ).status_code == 200
    assert (await client.post(f"{path}/view")).status_code == 404


async def test_banned_authors_videos_are_hidden(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any
) -> None:
    [video_id] = await insert_videos(app, woman.id, 1)
    await _set_user(app, woman.id, is_banned=True)
    assert (await client.get(f"/api/videos/{video_id}", headers=sponsor.headers)).status_code == 404
    assert (await client.get("/api/videos")).json()["data"] == []
    assert (await client.get(f"/api/users/{woman.id}/videos")).status_code == 404
    assert (await client.get(f"/api/users/{uuid.uuid4()}/videos")).status_code == 404


# --- lists and filters ---------------------------------------------------------------------


async def test_list_filters_and_newest_first(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any
) -> None:
    baking = await insert_videos(
        app, woman.id, 2, category="food", tags=("baking",), title="Bread at dawn"
    )
    coding = await insert_videos(
        app,
        sponsor.id,
        2,
        category="tech",
        tags=("python",),
        title="Code club",
        description="Girls who code 100%",
    )

    async def ids(query: str) -> list[str]:
        response = await client.get(f"/api/videos{query}")
        assert response.status_code == 200, response.text
        return [v["id"] for v in response.json()["data"]]

    everything = await ids("")
    assert len(everything) == 4
    created = [v["createdAt"] for v in (await client.get("/api/videos")).json()["data"]]
    assert created == sorted(created, reverse=True)
    assert set(await ids("?category=FOOD")) == {str(i) for i in baking}
    assert set(await ids("?tag=%23Python")) == {str(i) for i in coding}
    assert set(await ids(f"?authorId={woman.id}")) == {str(i) for i in baking}
    assert set(await ids("?search=bread")) == {str(i) for i in baking}
    assert set(await ids("?search=GIRLS")) == {str(i) for i in coding}
    assert set(await ids("?search=python")) == {str(i) for i in coding}
    # LIKE wildcards typed by a user are literal characters, not patterns.
    assert set(await ids("?search=100%25")) == {str(i) for i in coding}
    assert set(await ids("?search=%25")) == {str(i) for i in coding}
    assert await ids("?search=_") == []
    assert await ids("?category=none") == []


async def test_cursor_pagination_walks_every_video_once(
    client: httpx.AsyncClient, app: FastAPI, woman: Any
) -> None:
    made = await insert_videos(app, woman.id, 7)
    seen: list[str] = []
    response = await client.get("/api/videos?limit=3")
    body = response.json()
    assert body["pagination"]["total"] == 7 and body["pagination"]["hasMore"] is True
    seen += [v["id"] for v in body["data"]]
    while body["pagination"]["nextCursor"]:
        body = (
            await client.get(f"/api/videos?limit=3&cursor={body['pagination']['nextCursor']}")
        ).json()
        seen += [v["id"] for v in body["data"]]
    assert seen == [str(i) for i in reversed(made)]
    assert (await client.get("/api/videos?cursor=garbage")).status_code == 422
    assert (await client.get("/api/videos?limit=101")).status_code == 422
    page2 = (await client.get("/api/videos?limit=3&page=2")).json()
    assert [v["id"] for v in page2["data"]] == seen[3:6]


# --- editing and deleting ------------------------------------------------------------------


async def test_only_the_author_edits_and_only_whitelisted_fields(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any, admin: Any
) -> None:
    [video_id] = await insert_videos(app, woman.id, 1)
    path = f"/api/videos/{video_id}"
    for intruder in (sponsor, admin):
        response = await client.put(path, json={"title": "Hacked"}, headers=intruder.headers)
        assert response.status_code == 403
    assert (await client.put(path, json={"title": "x"})).status_code == 401
    response = await client.put(
        path,
        json={
            "title": "New title",
            "tags": ["A", "#b"],
            "category": None,
            "likesCount": 99,
            "status": "failed",
            "videoUrl": "https://evil.example.com/x.mp4",
            "authorId": str(sponsor.id),
        },
        headers=woman.headers,
    )
    assert response.status_code == 200, response.text
    video = response.json()["video"]
    assert video["title"] == "New title" and video["tags"] == ["a", "b"]
    assert video["category"] is None
    assert video["likesCount"] == 0 and video["status"] == "ready"
    assert video["videoUrl"].startswith("https://cdn.example.com/")
    assert video["authorId"] == str(woman.id)
    assert (await client.put(path, json={"title": None}, headers=woman.headers)).status_code == 422
    others = await uploaded_url(client, sponsor, jpeg_with_gps(), "image/jpeg")
    response = await client.put(path, json={"thumbnailUrl": others}, headers=woman.headers)
    assert response.status_code == 422
    mine = await uploaded_url(client, woman, jpeg_with_gps(), "image/jpeg")
    response = await client.put(path, json={"thumbnailUrl": mine}, headers=woman.headers)
    assert response.json()["video"]["thumbnailUrl"] == mine


async def test_delete_by_author_or_admin_only(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any, admin: Any
) -> None:
    first, second = await insert_videos(app, woman.id, 2)
    assert (await client.delete(f"/api/videos/{first}", headers=sponsor.headers)).status_code == 403
    assert (await client.delete(f"/api/videos/{first}", headers=woman.headers)).status_code == 204
    assert (await client.get(f"/api/videos/{first}")).status_code == 404
    assert (await client.delete(f"/api/videos/{second}", headers=admin.headers)).status_code == 204
    assert (await client.delete(f"/api/videos/{second}", headers=admin.headers)).status_code == 404


# --- likes, views, shares ------------------------------------------------------------------


async def test_likes_are_idempotent_and_notify_once(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any
) -> None:
    [video_id] = await insert_videos(app, woman.id, 1)
    path = f"/api/videos/{video_id}/like"
    assert (await client.post(path)).status_code == 401
    first = await client.post(path, headers=sponsor.headers)
    again = await client.post(path, headers=sponsor.headers)
    assert first.json() == again.json() == {"liked": True, "likesCount": 1}
    video = (await client.get(f"/api/videos/{video_id}", headers=sponsor.headers)).json()["video"]
    assert video["likedByMe"] is True and video["likesCount"] == 1
    anonymous = (await client.get(f"/api/videos/{video_id}")).json()["video"]
    assert anonymous["likedByMe"] is False
    assert len(await _notes(app, woman.id, "like")) == 1
    own = await client.post(path, headers=woman.headers)
    assert own.json() == {"liked": True, "likesCount": 2}
    assert len(await _notes(app, woman.id, "like")) == 1  # never for your own like
    unlike = await client.delete(path, headers=sponsor.headers)
    unlike_again = await client.delete(path, headers=sponsor.headers)
    assert unlike.json() == unlike_again.json() == {"liked": False, "likesCount": 1}
    missing = await client.post(f"/api/videos/{uuid.uuid4()}/like", headers=sponsor.headers)
    assert missing.status_code == 404


async def test_views_count_once_per_viewer_per_hour(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any
) -> None:
    [video_id] = await insert_videos(app, woman.id, 1)
    path = f"/api/videos/{video_id}/view"
    first = await client.post(path, headers=sponsor.headers)
    assert first.json() == {"counted": True, "viewsCount": 1}
    assert (await client.post(path, headers=sponsor.headers)).json() == {
        "counted": False,
        "viewsCount": 1,
    }
    anon = {"User-Agent": "Browser A"}
    assert (await client.post(path, headers=anon)).json()["counted"] is True
    assert (await client.post(path, headers=anon)).json()["counted"] is False
    # A new User-Agent is not a new viewer: anonymous views are keyed on the IP alone.
    for agent in ("Browser B", "Browser C", ""):
        rotated = await client.post(path, headers={"User-Agent": agent})
        assert rotated.json() == {"counted": False, "viewsCount": 2}
    transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as elsewhere:
        other_ip = await elsewhere.post(path, headers=anon)
    assert other_ip.json() == {"counted": True, "viewsCount": 3}
    # The anonymous viewer is stored as a salted hash, never as an address.
    async with app.state.db.sessionmaker() as session:
        from peal.videos.models import VideoView

        keys = list(await session.scalars(select(VideoView.viewer_key)))
    assert all("203.0.113" not in key and "Browser" not in key for key in keys)
    assert f"u:{sponsor.id}" in keys
    # In the next hour, the same viewer counts again.
    async with app.state.db.sessionmaker() as session:
        await session.execute(update(VideoView).values(hour=VideoView.hour - 1))
        await session.commit()
    assert (await client.post(path, headers=sponsor.headers)).json()["counted"] is True


async def test_shares_count_once_per_sharer_per_day(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any
) -> None:
    [video_id] = await insert_videos(app, woman.id, 1)
    path = f"/api/videos/{video_id}/share"
    assert (await client.post(path)).json() == {"sharesCount": 1}
    for agent in ("Browser A", "Browser B", "curl/8"):  # same IP, rotating User-Agents
        assert (await client.post(path, headers={"User-Agent": agent})).json() == {"sharesCount": 1}
    assert (await client.post(path, headers=woman.headers)).json() == {"sharesCount": 2}
    assert (await client.post(path, headers=woman.headers)).json() == {"sharesCount": 2}
    assert (await client.post(path, headers=sponsor.headers)).json() == {"sharesCount": 3}
    transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as elsewhere:
        assert (await elsewhere.post(path)).json() == {"sharesCount": 4}
    async with app.state.db.sessionmaker() as session:
        assert await session.scalar(select(Video.shares_count).where(Video.id == video_id)) == 4
        keys = list(await session.scalars(select(VideoShare.sharer_key)))
        assert all(key and "203.0.113" not in key for key in keys)
        # The next day, the same sharer counts again.
        await session.execute(update(VideoShare).values(day=VideoShare.day - 1))
        await session.commit()
    assert (await client.post(path, headers=woman.headers)).json() == {"sharesCount": 5}


async def test_complete_then_create_over_s3_like_local(
    client: httpx.AsyncClient, woman: Any
) -> None:
    """The URL the client keeps is the one `complete` answers; `fileUrl` is the same."""
    target = await presign(client, woman, "video/mp4")
    await put_bytes(client, target["uploadUrl"], demo_mp4(), "video/mp4")
    completed = await client.post(
        "/api/uploads/complete", json={"key": target["key"]}, headers=woman.headers
    )
    assert completed.json()["url"] == target["fileUrl"]
    response = await upload(client, woman, demo_mp4(), "video/mp4")
    assert response.status_code == 200


async def test_total_is_capped_but_paging_goes_on(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, monkeypatch: Any
) -> None:
    from peal.videos import service

    monkeypatch.setattr(service, "COUNT_CAP", 3)
    made = await insert_videos(app, woman.id, 5)
    first = (await client.get("/api/videos?limit=2")).json()
    assert first["pagination"]["total"] == 3 and first["pagination"]["hasMore"] is True
    seen = [v["id"] for v in first["data"]]
    cursor = first["pagination"]["nextCursor"]
    while cursor:
        page = (await client.get(f"/api/videos?limit=2&cursor={cursor}")).json()
        seen += [v["id"] for v in page["data"]]
        cursor = page["pagination"]["nextCursor"]
    assert seen == [str(i) for i in reversed(made)]
    # Page numbers past the capped total still answer, with hasMore from the rows.
    third = (await client.get("/api/videos?limit=2&page=3")).json()
    assert len(third["data"]) == 1 and third["pagination"]["hasMore"] is False


async def test_the_video_author_carries_her_location(
    client: httpx.AsyncClient, app: Any, make_user: Any
) -> None:
    """The web client's video modal shows where the author is, in lists and in one video."""
    author = await make_user("woman", location="Lagos, Nigeria")
    [video_id] = await insert_videos(app, author.id, 1)

    one = (await client.get(f"/api/videos/{video_id}")).json()["video"]
    listed = (await client.get("/api/videos")).json()["data"]

    assert one["author"]["location"] == "Lagos, Nigeria"
    assert [video["author"]["location"] for video in listed] == ["Lagos, Nigeria"]


async def test_a_list_shows_each_viewer_her_likes_beside_every_video_s_tags(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any, admin: Any
) -> None:
    """Tags and the viewer's likes come in one round trip: every video keeps its own tags in
    order, liked or not, and each viewer sees only her own likes."""
    first, second = await insert_videos(app, woman.id, 2, tags=("zest", "art"))
    [plain] = await insert_videos(app, woman.id, 1)
    await client.post(f"/api/videos/{first}/like", headers=sponsor.headers)
    await client.post(f"/api/videos/{second}/like", headers=admin.headers)

    async def shown(headers: dict[str, str]) -> dict[str, tuple[list[str], bool]]:
        body = (await client.get("/api/videos?limit=10", headers=headers)).json()
        return {v["id"]: (v["tags"], v["likedByMe"]) for v in body["data"]}

    tagged = ["art", "zest"]
    assert await shown(sponsor.headers) == {
        str(first): (tagged, True),
        str(second): (tagged, False),
        str(plain): ([], False),
    }
    assert await shown(admin.headers) == {
        str(first): (tagged, False),
        str(second): (tagged, True),
        str(plain): ([], False),
    }
    assert await shown({}) == {
        str(first): (tagged, False),
        str(second): (tagged, False),
        str(plain): ([], False),
    }

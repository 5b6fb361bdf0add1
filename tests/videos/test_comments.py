"""Threaded comments: replies on the same video only, exact counters, deletion rights."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from peal.notifications.models import Notification
from peal.videos.models import Video, VideoComment
from tests.moderation.helpers import notifications_of, report, review
from tests.uploads.helpers import insert_videos


async def _comment(
    client: httpx.AsyncClient, user: Any, video_id: Any, content: str, parent: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"content": content}
    if parent:
        body["parentId"] = parent
    return await client.post(f"/api/videos/{video_id}/comments", json=body, headers=user.headers)


async def _counts(app: FastAPI, video_id: Any) -> tuple[int, int]:
    """(commentsCount, real number of comment rows)."""
    async with app.state.db.sessionmaker() as session:
        counter = await session.scalar(select(Video.comments_count).where(Video.id == video_id))
        rows = await session.scalar(
            select(func.count()).select_from(VideoComment).where(VideoComment.video_id == video_id)
        )
    return int(counter or 0), int(rows or 0)


async def test_comment_shape_and_notifications(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any, make_user: Any
) -> None:
    [video_id] = await insert_videos(app, woman.id, 1)
    created = await _comment(client, sponsor, video_id, "<b>So</b> inspiring!")
    assert created.status_code == 201
    comment = created.json()["comment"]
    assert set(comment) == {
        "id", "videoId", "userId", "user", "content", "parentId", "repliesCount", "createdAt",
    }  # fmt: skip
    assert comment["content"] == "So inspiring!"
    assert comment["user"] == {"id": str(sponsor.id), "name": sponsor.name, "avatarUrl": None}
    assert comment["parentId"] is None and comment["repliesCount"] == 0
    third = await make_user()
    reply = await _comment(client, third, video_id, "Agreed", comment["id"])
    assert reply.status_code == 201
    async with app.state.db.sessionmaker() as session:
        notes = list(await session.scalars(select(Notification)))
    by_user = {(n.user_id, n.type) for n in notes}
    assert (woman.id, "comment") in by_user  # twice: the comment and the reply on her video
    assert (sponsor.id, "reply") in by_user
    assert sum(1 for n in notes if n.user_id == woman.id) == 2
    own = await _comment(client, woman, video_id, "Thank you!")
    assert own.status_code == 201
    async with app.state.db.sessionmaker() as session:
        mine = await session.scalar(
            select(func.count()).select_from(Notification).where(Notification.user_id == woman.id)
        )
    assert mine == 2  # no notification for commenting on your own video


async def test_reply_parent_must_be_on_the_same_video(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any
) -> None:
    first, second = await insert_videos(app, woman.id, 2)
    parent = (await _comment(client, sponsor, first, "On the first")).json()["comment"]
    response = await _comment(client, sponsor, second, "Sneaky", parent["id"])
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "parentId"
    missing = await _comment(client, sponsor, second, "Ghost", str(uuid.uuid4()))
    assert missing.status_code == 422
    assert await _counts(app, second) == (0, 0)
    assert await _counts(app, first) == (1, 1)
    listed = await client.get(f"/api/videos/{second}/comments?parentId={parent['id']}")
    assert listed.status_code == 404


async def test_comments_need_a_user_and_content(
    client: httpx.AsyncClient, app: FastAPI, woman: Any
) -> None:
    [video_id] = await insert_videos(app, woman.id, 1)
    anonymous = await client.post(f"/api/videos/{video_id}/comments", json={"content": "hi"})
    assert anonymous.status_code == 401
    for content in ("", "   ", "<p></p>", "x" * 2001):
        assert (await _comment(client, woman, video_id, content)).status_code == 422
    assert (await _comment(client, woman, uuid.uuid4(), "hi")).status_code == 404


async def test_threads_lists_and_counters(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any
) -> None:
    [video_id] = await insert_videos(app, woman.id, 1)
    tops = [
        (await _comment(client, sponsor, video_id, f"top {i}")).json()["comment"] for i in range(3)
    ]
    replies = [
        (await _comment(client, woman, video_id, f"reply {i}", tops[0]["id"])).json()["comment"]
        for i in range(4)
    ]
    nested = await _comment(client, sponsor, video_id, "deeper", replies[0]["id"])
    assert nested.status_code == 201

    top_level = (await client.get(f"/api/videos/{video_id}/comments")).json()
    assert [c["content"] for c in top_level["data"]] == ["top 2", "top 1", "top 0"]
    assert top_level["pagination"]["total"] == 3
    assert top_level["data"][2]["repliesCount"] == 4
    thread = (
        await client.get(f"/api/videos/{video_id}/comments?parentId={tops[0]['id']}&limit=3")
    ).json()
    assert [c["content"] for c in thread["data"]] == ["reply 0", "reply 1", "reply 2"]
    assert thread["data"][0]["repliesCount"] == 1
    assert thread["pagination"]["total"] == 4 and thread["pagination"]["hasMore"] is True
    rest = (
        await client.get(
            f"/api/videos/{video_id}/comments?parentId={tops[0]['id']}&limit=3"
            f"&cursor={thread['pagination']['nextCursor']}"
        )
    ).json()
    assert [c["content"] for c in rest["data"]] == ["reply 3"]
    assert rest["pagination"]["nextCursor"] is None and rest["pagination"]["hasMore"] is False
    video = (await client.get(f"/api/videos/{video_id}")).json()["video"]
    assert video["commentsCount"] == 8
    assert await _counts(app, video_id) == (8, 8)


async def test_deleting_a_comment_deletes_its_thread_and_fixes_counts(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any, admin: Any, make_user: Any
) -> None:
    [video_id] = await insert_videos(app, woman.id, 1)
    stranger = await make_user()
    top = (await _comment(client, sponsor, video_id, "top")).json()["comment"]
    reply = (await _comment(client, stranger, video_id, "reply", top["id"])).json()["comment"]
    await _comment(client, sponsor, video_id, "deeper", reply["id"])
    other = (await _comment(client, stranger, video_id, "another top")).json()["comment"]
    assert await _counts(app, video_id) == (4, 4)

    path = f"/api/videos/{video_id}/comments"
    assert (await client.delete(f"{path}/{top['id']}", headers=stranger.headers)).status_code == 403
    assert (await client.delete(f"{path}/{top['id']}")).status_code == 401
    wrong_video = await insert_videos(app, woman.id, 1)
    assert (
        await client.delete(
            f"/api/videos/{wrong_video[0]}/comments/{top['id']}", headers=admin.headers
        )
    ).status_code == 404

    # Deleting a reply: the parent's repliesCount and the video's count follow.
    assert (
        await client.delete(f"{path}/{reply['id']}", headers=stranger.headers)
    ).status_code == 204
    assert await _counts(app, video_id) == (2, 2)
    thread_root = (await client.get(path)).json()["data"]
    assert {c["id"]: c["repliesCount"] for c in thread_root}[top["id"]] == 0
    # The video's author may delete any comment on it; an admin anywhere.
    assert (await client.delete(f"{path}/{top['id']}", headers=woman.headers)).status_code == 204
    assert (await client.delete(f"{path}/{other['id']}", headers=admin.headers)).status_code == 204
    assert await _counts(app, video_id) == (0, 0)
    assert (await client.delete(f"{path}/{other['id']}", headers=admin.headers)).status_code == 404


async def test_comments_of_hidden_videos_are_hidden(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any
) -> None:
    [video_id] = await insert_videos(app, woman.id, 1, status="processing")
    assert (await client.get(f"/api/videos/{video_id}/comments")).status_code == 404
    assert (await _comment(client, sponsor, video_id, "hi")).status_code == 404
    assert (await _comment(client, woman, video_id, "hi")).status_code == 409


async def test_notifications_stop_quoting_comments_taken_down(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any, admin: Any, make_user: Any
) -> None:
    """Moderation hides or removes a comment, or it is deleted with its thread: the video's
    author and the person it answered keep their notification, not its words."""
    [video_id] = await insert_videos(app, woman.id, 1)
    troll = await make_user(name="Troll")
    kind = (await _comment(client, sponsor, video_id, "So brave")).json()["comment"]
    cruel = (await _comment(client, troll, video_id, "Cruel words", kind["id"])).json()["comment"]

    async def quoted(user: Any) -> list[str]:
        """What her comment and reply notifications quote (after "…commented on …: ")."""
        told = await notifications_of(app, user.id)
        return sorted(n.message.rsplit(": ", 1)[-1] for n in told if n.type in ("comment", "reply"))

    assert await quoted(woman) == ["Cruel words", "So brave"]
    assert await quoted(sponsor) == ["Cruel words"]

    filed = (await report(client, sponsor, "comment", cruel["id"], reason="harassment"))["report"]
    await review(client, admin, filed["id"], "remove_content")
    assert await quoted(woman) == ["So brave", "This comment was removed."]
    assert await quoted(sponsor) == ["This comment was removed."]

    # Deleted with its thread (by the video's author): every comment of it.
    top = (await _comment(client, troll, video_id, "Go away")).json()["comment"]
    await _comment(client, sponsor, video_id, "She stays", top["id"])
    path = f"/api/videos/{video_id}/comments/{top['id']}"
    assert (await client.delete(path, headers=woman.headers)).status_code == 204
    assert await quoted(woman) == ["So brave"] + ["This comment was removed."] * 3
    assert await quoted(troll) == ["This comment was removed."]  # the reply she was sent

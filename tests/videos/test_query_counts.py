"""Every list runs the same number of SQL statements for one row as for a full page."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from peal.users.models import UserFollow, UserInterest
from peal.videos.models import VideoComment, VideoLike
from tests.uploads.helpers import insert_videos


async def _statements(client: httpx.AsyncClient, counter: Any, path: str, user: Any) -> int:
    counter.reset()
    response = await client.get(path, headers=user.headers)
    assert response.status_code == 200, response.text
    return int(counter.count)


async def _likes_and_comments(app: FastAPI, user: Any, video_ids: list[Any]) -> None:
    async with app.state.db.sessionmaker() as session:
        for video_id in video_ids:
            session.add(VideoLike(video_id=video_id, user_id=user.id))
            session.add(VideoComment(video_id=video_id, user_id=user.id, content="hi"))
        await session.commit()


async def test_video_lists_run_a_fixed_number_of_queries(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any, count_queries: Any
) -> None:
    paths = [
        "/api/videos?limit=50",
        "/api/videos?limit=50&tag=baking",
        "/api/videos?limit=50&category=food&search=video",
        f"/api/videos?limit=50&authorId={woman.id}",
        "/api/videos/trending?limit=50",
        "/api/videos/feed?limit=50",
        f"/api/users/{woman.id}/videos?limit=50",
    ]
    first = await insert_videos(app, woman.id, 1, category="food", tags=("baking", "bread"))
    await _likes_and_comments(app, woman, first)
    async with app.state.db.sessionmaker() as session:
        session.add(UserFollow(follower_id=sponsor.id, following_id=woman.id))
        session.add(UserInterest(user_id=sponsor.id, interest="baking"))
        await session.commit()
    with_one = {path: await _statements(client, count_queries, path, sponsor) for path in paths}

    more = await insert_videos(app, woman.id, 30, category="food", tags=("baking", "bread"))
    await _likes_and_comments(app, woman, more[:10])
    with_many = {path: await _statements(client, count_queries, path, sponsor) for path in paths}
    assert with_many == with_one
    assert max(with_one.values()) <= 6, with_one


async def test_comment_lists_run_a_fixed_number_of_queries(
    client: httpx.AsyncClient, app: FastAPI, woman: Any, sponsor: Any, count_queries: Any
) -> None:
    [video_id] = await insert_videos(app, woman.id, 1)
    async with app.state.db.sessionmaker() as session:
        root = VideoComment(video_id=video_id, user_id=sponsor.id, content="root")
        session.add(root)
        await session.flush()
        session.add(
            VideoComment(video_id=video_id, user_id=woman.id, content="r", parent_id=root.id)
        )
        await session.commit()
    top = f"/api/videos/{video_id}/comments?limit=50"
    replies = f"/api/videos/{video_id}/comments?limit=50&parentId={root.id}"
    one = (
        await _statements(client, count_queries, top, sponsor),
        await _statements(client, count_queries, replies, sponsor),
    )
    async with app.state.db.sessionmaker() as session:
        for index in range(25):
            session.add(VideoComment(video_id=video_id, user_id=sponsor.id, content=f"c{index}"))
            session.add(
                VideoComment(
                    video_id=video_id, user_id=woman.id, content=f"r{index}", parent_id=root.id
                )
            )
        await session.commit()
    many = (
        await _statements(client, count_queries, top, sponsor),
        await _statements(client, count_queries, replies, sponsor),
    )
    assert many == one
    assert max(one) <= 5

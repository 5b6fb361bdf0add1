"""Search fixtures: people and their content written straight into the database (search only
reads them), each with a known creation time so the tie-break order is known."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI

from peal.db import utcnow
from peal.funding.models import FundingRequest
from peal.stories.models import SuccessStory
from peal.users.models import UserSkill
from peal.videos.models import Video, VideoTag
from peal.videos.service import search_text_of


class Content:
    """`await content.video(author, "title", ...)` → the new row's id."""

    def __init__(self, app: FastAPI) -> None:
        self._sessionmaker = app.state.db.sessionmaker

    async def _add(self, *rows: Any) -> None:
        async with self._sessionmaker() as session:
            for row in rows:
                session.add(row)
                await session.flush()
            await session.commit()

    async def skills(self, user_id: uuid.UUID, *skills: str) -> None:
        await self._add(*(UserSkill(user_id=user_id, skill=skill) for skill in skills))

    async def video(
        self,
        author_id: uuid.UUID,
        title: str,
        description: str | None = None,
        tags: Sequence[str] = (),
        *,
        status: str = "ready",
        age: timedelta = timedelta(hours=1),
    ) -> uuid.UUID:
        created = utcnow() - age
        video = Video(
            id=uuid.uuid4(),
            title=title,
            description=description,
            video_url=f"https://cdn.example.com/{uuid.uuid4().hex}.mp4",
            status=status,
            author_id=author_id,
            search_text=search_text_of(title, description, tags),
            created_at=created,
            updated_at=created,
        )
        tag_rows = [VideoTag(video_id=video.id, video_created_at=created, tag=tag) for tag in tags]
        await self._add(video, *tag_rows)
        return video.id

    async def request(
        self,
        author_id: uuid.UUID,
        title: str,
        description: str = "A plan.",
        category: str | None = None,
        *,
        age: timedelta = timedelta(hours=1),
    ) -> uuid.UUID:
        created = utcnow() - age
        request = FundingRequest(
            id=uuid.uuid4(),
            title=title,
            description=description,
            category=category,
            goal_amount=Decimal("1000.00"),
            author_id=author_id,
            deadline=(utcnow() + timedelta(days=30)).date(),
            created_at=created,
            updated_at=created,
        )
        await self._add(request)
        return request.id

    async def story(
        self,
        author_id: uuid.UUID,
        title: str,
        description: str = "It worked.",
        impact: str | None = None,
        *,
        age: timedelta = timedelta(hours=1),
    ) -> uuid.UUID:
        created = utcnow() - age
        story = SuccessStory(
            id=uuid.uuid4(),
            title=title,
            description=description,
            impact_description=impact,
            author_id=author_id,
            created_at=created,
            updated_at=created,
        )
        await self._add(story)
        return story.id

    async def everything(self, author_id: uuid.UUID, word: str) -> dict[str, uuid.UUID]:
        """One video, one request and one story of `author_id`, each titled with `word`."""
        return {
            "videos": await self.video(author_id, f"{word} video"),
            "requests": await self.request(author_id, f"{word} request"),
            "stories": await self.story(author_id, f"{word} story"),
        }


@pytest.fixture
def content(app: FastAPI) -> Content:
    return Content(app)

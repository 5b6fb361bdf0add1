"""PostgreSQL: each search query can be answered from its GIN index, i.e. the documents the
service matches are exactly the expressions the migration indexed."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from peal.funding.models import FundingRequest
from peal.search import service
from peal.search.models import SEARCH_INDEXES
from peal.stories.models import SuccessStory
from peal.users.models import User, UserSkill
from peal.videos.models import Video
from tests.conftest import TARGET

pytestmark = pytest.mark.skipif(TARGET != "postgres", reason="full-text indexes: PostgreSQL only")


async def _plan(session: AsyncSession, statement: Any) -> str:
    compiled = statement.compile(
        dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
    )
    rows = await session.execute(text(f"EXPLAIN {compiled}"))
    return "\n".join(row[0] for row in rows)


async def test_every_searched_document_is_served_by_its_index(app: FastAPI) -> None:
    documents = {
        "ix_users_search": (User.id, service.users_document()),
        "ix_user_skills_search": (UserSkill.id, service.user_skills_document()),
        "ix_videos_search": (Video.id, service.videos_document()),
        "ix_funding_requests_search": (FundingRequest.id, service.funding_requests_document()),
        "ix_success_stories_search": (SuccessStory.id, service.success_stories_document()),
    }
    assert sorted(documents) == sorted(str(index.name) for index in SEARCH_INDEXES)
    async with app.state.db.sessionmaker() as session:
        # Empty tables would be scanned anyway: make any other plan look too expensive.
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        backend = service.backend_for(session, ["bakery", "lagos"])
        assert isinstance(backend, service.PostgresSearch)
        for name, (key, document) in documents.items():
            plan = await _plan(session, select(key).where(backend.document_matches(document)))
            assert f"Bitmap Index Scan on {name}" in plan, plan


async def test_a_video_phrase_s_whole_words_are_read_through_the_word_index(app: FastAPI) -> None:
    """The video list's phrase prefilter (`videos.service._WORD_MATCHES`) matches the indexed
    expression of `ix_videos_search`."""
    from peal.videos import service as videos

    async with app.state.db.sessionmaker() as session:
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        statement = videos._WORD_MATCHES.params(words="77777 bakery", cap=10)
        plan = await _plan(session, statement)
        assert "Bitmap Index Scan on ix_videos_search " in plan + " ", plan

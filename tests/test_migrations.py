"""The models and the migration history describe the same schema, on every database."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi import FastAPI
from sqlalchemy import inspect

from peal.models import Base


# SQLite cannot reflect expression indexes (the PostgreSQL-only full-text indexes of search):
# Alembic says so and leaves them out there; the PostgreSQL run compares them.
@pytest.mark.filterwarnings(
    "ignore:autogenerate skipping metadata-specified expression-based index:UserWarning"
)
async def test_models_and_migrations_do_not_drift(app: FastAPI) -> None:
    def diff(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with app.state.db.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


async def test_every_plan_table_exists(app: FastAPI) -> None:
    plan_tables = {
        "users", "user_skills", "user_interests", "videos", "video_tags", "video_likes",
        "video_comments", "funding_requests", "funding_donations", "success_stories",
        "success_story_celebrations", "mentor_profiles", "mentor_skills", "mentor_connections",
        "conversations", "conversation_participants", "messages", "notifications",
        "user_settings", "user_follows",
    }  # fmt: skip
    async with app.state.db.engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert len(plan_tables) == 20
    assert plan_tables <= names
    assert {"refresh_tokens", "one_time_tokens"} <= names

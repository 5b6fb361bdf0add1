"""PostgreSQL plans every execution for its own values: a prepared statement never switches to
a generic plan (which took the signed-in feed from 18 ms to ~280 ms)."""

from __future__ import annotations

import uuid

import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from peal.db import Database
from peal.users.models import User
from tests.conftest import TARGET

pytestmark = pytest.mark.skipif(TARGET != "postgres", reason="plan caching is PostgreSQL's")


async def test_a_statement_run_many_times_is_never_planned_generically(app: FastAPI) -> None:
    database: Database = app.state.db
    async with database.read_sessionmaker() as session:
        assert await session.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
        marker = f"plans_{uuid.uuid4().hex}"  # this test's statement, among the prepared ones
        lookup = select(User.id).where(User.email == "nobody@example.com").label(marker)
        for _ in range(8):  # PostgreSQL considers a generic plan from the sixth run
            await session.execute(select(lookup))
        plans = (
            await session.execute(
                text(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                    " WHERE statement LIKE :pattern"
                ),
                {"pattern": f"%{marker}%"},
            )
        ).one()
    assert plans.generic_plans == 0 and plans.custom_plans >= 8

"""The shared SQL idioms of `peal.core.sql`, on the database under test: LIKE patterns take a
user's `%`, `_` and `\\` literally, a duplicate insert is skipped and counted as 0 rows, and a
bulk write with `NO_SYNC` leaves the session's objects alone."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from sqlalchemy import Insert, delete, func, select, update

from peal.core.sql import (
    NO_SYNC,
    contains_pattern,
    dialect_insert,
    insert_ignoring_duplicates,
    like,
    rowcount,
)
from peal.users.models import User, UserFollow
from tests.conftest import AuthedUser


def test_contains_pattern_escapes_the_wildcards_and_the_escape_character() -> None:
    assert contains_pattern("bake") == "%bake%"
    assert contains_pattern("50%_off\\") == "%50\\%\\_off\\\\%"


async def test_like_matches_the_text_literally_anywhere(app: FastAPI) -> None:
    names = ["100% Baker", "100 Bakers", "snake_case", "snakeXcase", "back\\slash", "Quiet"]
    async with app.state.db.sessionmaker() as session:
        for name in names:
            session.add(User(email=f"{uuid.uuid4().hex}@example.com", name=name, role="woman"))
        await session.flush()

        async def matching(text: str, *, ignore_case: bool = True) -> set[str]:
            found = await session.scalars(
                select(User.name).where(
                    like(User.name, contains_pattern(text), ignore_case=ignore_case)
                )
            )
            return set(found)

        assert await matching("0% b") == {"100% Baker"}
        assert await matching("e_c") == {"snake_case"}
        assert await matching("k\\s") == {"back\\slash"}
        assert await matching("BAKER") == {"100% Baker", "100 Bakers"}
        # LIKE (SQLite's is case-blind for ASCII anyway): the same escaping.
        assert await matching("0% B", ignore_case=False) == {"100% Baker"}
        await session.rollback()


async def test_insert_ignoring_duplicates_skips_the_second_and_rowcount_says_so(
    app: FastAPI, woman: AuthedUser, sponsor: AuthedUser
) -> None:
    async with app.state.db.sessionmaker() as session:

        def follow() -> Insert:
            return insert_ignoring_duplicates(
                session, UserFollow, ["follower_id", "following_id"]
            ).values(id=uuid.uuid4(), follower_id=sponsor.id, following_id=woman.id)

        first = await session.execute(follow())
        assert rowcount(first) == 1
        second = await session.execute(follow())
        assert rowcount(second) == 0
        # Without a conflict target, any unique constraint makes it a no-op too.
        untargeted = await session.execute(
            insert_ignoring_duplicates(session, UserFollow).values(
                id=uuid.uuid4(), follower_id=sponsor.id, following_id=woman.id
            )
        )
        assert rowcount(untargeted) == 0
        # With RETURNING, a skipped row returns nothing.
        returned = await session.scalar(
            insert_ignoring_duplicates(session, UserFollow, ["follower_id", "following_id"])
            .values(id=uuid.uuid4(), follower_id=sponsor.id, following_id=woman.id)
            .returning(UserFollow.id)
        )
        assert returned is None
        count = await session.scalar(
            select(func.count()).select_from(UserFollow).where(UserFollow.following_id == woman.id)
        )
        assert count == 1
        await session.rollback()


async def test_dialect_insert_speaks_on_conflict_of_the_session_database(
    app: FastAPI, woman: AuthedUser
) -> None:
    async with app.state.db.sessionmaker() as session:
        statement = dialect_insert(session, User)
        assert type(statement).__module__.startswith(
            f"sqlalchemy.dialects.{session.get_bind().dialect.name}"
        )


async def test_rowcount_counts_bulk_writes_and_no_sync_leaves_loaded_objects_alone(
    app: FastAPI, woman: AuthedUser
) -> None:
    async with app.state.db.sessionmaker() as session:
        me = await session.get(User, woman.id)
        assert me is not None
        before = me.name
        result = await session.execute(
            update(User).where(User.id == woman.id).values(name="Renamed"),
            execution_options=NO_SYNC,
        )
        assert rowcount(result) == 1
        assert me.name == before  # not synchronised: the loaded object is left as it was
        nothing = await session.execute(
            delete(UserFollow).where(UserFollow.follower_id == woman.id),
            execution_options=NO_SYNC,
        )
        assert rowcount(nothing) == 0
        await session.rollback()

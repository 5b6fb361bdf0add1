"""Global search over people, videos, funding requests and stories, on either database.

What matches: every word of the query, as the start of a word (PostgreSQL) or anywhere in the
text (SQLite), in one of the searched fields of a kind; case does not matter. What ranks first:
matches in the heavier fields (a title before a description), then the newest.

What is searched is the public view, the same for every caller, admins included: public
profiles of active accounts, and their content (ready videos only). Private profiles, banned or
deleted accounts and everything they made are left out.

Two backends behind one function, chosen by the session's dialect:

- PostgreSQL: full-text search over `to_tsvector('simple', ...)` documents, each served by a
  GIN expression index (`search.models`), ranked with `ts_rank` over a weighted document;
- SQLite: `LIKE` per word (its `%`, `_` and `\\` taken literally), ranked by the weights of
  the fields each word was found in.

One query per kind, then the domains' own presenters: a fixed number of queries whatever the
number of results.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    SQLColumnExpression,
    and_,
    case,
    func,
    literal_column,
    or_,
    select,
    union,
)
from sqlalchemy import text as sql_text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from peal.core.errors import ServiceUnavailable
from peal.core.sql import SIMPLE, contains_pattern, like, simple_tsvector
from peal.funding.models import FundingRequest
from peal.funding.service import listable as funding_listable
from peal.funding.service import present_request
from peal.search.schemas import SearchResults
from peal.stories.models import SuccessStory
from peal.stories.service import listable as stories_listable
from peal.stories.service import present_stories
from peal.users.models import User, UserSkill
from peal.users.policy import is_admin, listed_to, not_blocked, profile_visible
from peal.users.service import present_users
from peal.videos.models import Video
from peal.videos.service import present_videos, video_visible, words_document

# More words than this add little to a search box query and only cost: the rest are ignored.
MAX_TERMS = 8
# A shorter word is matched whole, not as a prefix: `bu:*` matches a large share of all rows,
# every one of which would then be ranked (3 s on 100k rows).
MIN_PREFIX_LENGTH = 3
# At most this many matching rows per kind are ranked; the best `limit` of them are answered.
# Bounds the work of a query whatever it matches (the cap is taken in index order).
CANDIDATE_CAP = 500

Weight = Literal["A", "B", "C", "D"]
# SQLite's ranking uses the same weights as PostgreSQL's `ts_rank` letters, in the same order.
_SQLITE_WEIGHTS: dict[Weight, int] = {"A": 8, "B": 4, "C": 2, "D": 1}

# Constants written into the SQL rather than bound: the query's document must be the very
# expression of the index for PostgreSQL to use it, whatever plan the statement gets.
_SPACE: ColumnElement[str] = literal_column("' '")
_EMPTY: ColumnElement[str] = literal_column("''")

_EDGE_PUNCTUATION = re.compile(r"^[\W_]+|[\W_]+$")
_WORD_CHARACTER = re.compile(r"[^\W_]")


def search_terms(query: str) -> list[str]:
    """The words of a query, lower-cased, without punctuation at their ends, each once.

    Words with no letter or digit ("&", "--") are dropped: no backend could match them alike.
    """
    terms: list[str] = []
    for raw in query.lower().split():
        word = _EDGE_PUNCTUATION.sub("", raw)
        if _WORD_CHARACTER.search(word) and word not in terms:
            terms.append(word)
    return terms[:MAX_TERMS]


@dataclass(frozen=True)
class Field:
    """One searched text of a kind and how much a match in it weighs."""

    text: SQLColumnExpression[Any]
    weight: Weight


# --- the two backends --------------------------------------------------------------------


class SqliteSearch:
    """`LIKE '%word%'` per word and field; every word must be found in some field."""

    def __init__(self, terms: Sequence[str]) -> None:
        self._patterns = [contains_pattern(term) for term in terms]

    def matches(self, fields: Sequence[Field]) -> ColumnElement[bool]:
        return and_(
            *(or_(*(like(field.text, pattern) for field in fields)) for pattern in self._patterns)
        )

    def rank(self, fields: Sequence[Field]) -> ColumnElement[Any]:
        scores = [
            case((like(field.text, pattern), _SQLITE_WEIGHTS[field.weight]), else_=0)
            for pattern in self._patterns
            for field in fields
        ]
        total: ColumnElement[Any] = scores[0]
        for score in scores[1:]:
            total = total + score
        return total


class PostgresSearch:
    """Full-text search: each word a prefix (`'word':*`), all of them required."""

    def __init__(self, terms: Sequence[str]) -> None:
        prefixes = [
            f"'{_tsquery_quote(term)}'" + (":*" if len(term) >= MIN_PREFIX_LENGTH else "")
            for term in terms
        ]
        self.all_terms = func.to_tsquery(SIMPLE, " & ".join(prefixes))
        self.any_term = func.to_tsquery(SIMPLE, " | ".join(prefixes))

    def matches(self, fields: Sequence[Field]) -> ColumnElement[bool]:
        return _weighted_document(fields).bool_op("@@")(self.all_terms)

    def rank(self, fields: Sequence[Field]) -> ColumnElement[Any]:
        return func.ts_rank(_weighted_document(fields), self.all_terms)

    def document_matches(
        self, document: ColumnElement[Any], *, any_term: bool = False
    ) -> ColumnElement[bool]:
        """An indexed document against the query: the condition the GIN index serves."""
        return document.bool_op("@@")(self.any_term if any_term else self.all_terms)


Backend = SqliteSearch | PostgresSearch


def _tsquery_quote(term: str) -> str:
    """A word as a quoted tsquery lexeme: its quotes doubled and backslashes escaped, so no
    query text can reach the tsquery syntax (`&`, `|`, `!`, `:`...)."""
    return term.replace("\\", "\\\\").replace("'", "''")


def _joined(
    first: SQLColumnExpression[Any], *others: SQLColumnExpression[Any]
) -> ColumnElement[Any]:
    """`a || ' ' || b ...`: the text of an indexed document, as the index writes it."""
    joined = first
    for text in others:
        joined = joined + _SPACE + text
    return cast(ColumnElement[Any], joined)


def _weighted_document(fields: Sequence[Field]) -> ColumnElement[Any]:
    parts = [
        func.setweight(
            simple_tsvector(func.coalesce(field.text, _EMPTY)), literal_column(f"'{field.weight}'")
        )
        for field in fields
    ]
    document: ColumnElement[Any] = parts[0]
    for part in parts[1:]:
        document = document.op("||")(part)
    return document


def backend_for(session: AsyncSession, terms: Sequence[str]) -> Backend:
    if session.get_bind().dialect.name == "postgresql":
        return PostgresSearch(terms)
    return SqliteSearch(terms)


# --- the indexed documents (must stay the expressions of `search.models`) ----------------


def users_document() -> ColumnElement[Any]:
    return simple_tsvector(_joined(User.name, func.coalesce(User.bio, _EMPTY)))


def user_skills_document() -> ColumnElement[Any]:
    return simple_tsvector(UserSkill.skill)


def videos_document() -> ColumnElement[Any]:
    # The videos domain's own (its list's phrase search reads the same index).
    return words_document()


def funding_requests_document() -> ColumnElement[Any]:
    return simple_tsvector(
        _joined(
            FundingRequest.title,
            FundingRequest.description,
            func.coalesce(FundingRequest.category, _EMPTY),
        )
    )


def success_stories_document() -> ColumnElement[Any]:
    return simple_tsvector(
        _joined(
            SuccessStory.title,
            SuccessStory.description,
            func.coalesce(SuccessStory.impact_description, _EMPTY),
        )
    )


# --- one query per kind ------------------------------------------------------------------


def _skills_text(session: AsyncSession) -> ColumnElement[Any]:
    """A user's skills as one text (a correlated subquery: only for the rows it ranks)."""
    if session.get_bind().dialect.name == "postgresql":
        joined = func.string_agg(UserSkill.skill, _SPACE)
    else:
        joined = func.group_concat(UserSkill.skill, _SPACE)
    return select(joined).where(UserSkill.user_id == User.id).correlate(User).scalar_subquery()


def _unblocked(viewer: User | None) -> list[ColumnElement[bool]]:
    """Search shows only what everyone may see, minus the people blocked either way."""
    return [] if viewer is None or is_admin(viewer) else [not_blocked(viewer.id, User.id)]


def users_query(
    session: AsyncSession, backend: Backend, limit: int, viewer: User | None = None
) -> Select[User]:
    fields = (
        Field(User.name, "A"),
        Field(_skills_text(session), "B"),
        Field(User.bio, "C"),
    )
    condition = backend.matches(fields)
    if isinstance(backend, PostgresSearch):
        # The indexes narrow the people down (name and bio, or one of the skills); the
        # weighted document then checks that every word is found somewhere.
        candidates = union(
            select(User.id).where(backend.document_matches(users_document())),
            select(UserSkill.user_id).where(
                backend.document_matches(user_skills_document(), any_term=True)
            ),
        )
        condition = and_(User.id.in_(candidates), condition)
    capped = _capped(
        select(User.id).where(
            profile_visible(None), listed_to(viewer), *_unblocked(viewer), condition
        )
    )
    return (
        select(User)
        .where(User.id.in_(capped))
        .order_by(backend.rank(fields).desc(), User.created_at.desc(), User.id.desc())
        .limit(limit)
    )


def _capped(candidates: Select[Any]) -> Select[Any]:
    """The matching ids, at most CANDIDATE_CAP of them (written into the SQL, so the plan is
    bounded whatever is bound): only those are ranked."""
    return candidates.limit(literal_column(str(CANDIDATE_CAP), Integer))


def _condition(
    backend: Backend, fields: Sequence[Field], document: ColumnElement[Any]
) -> ColumnElement[bool]:
    if isinstance(backend, PostgresSearch):
        return backend.document_matches(document)
    return backend.matches(fields)


def videos_query(backend: Backend, limit: int, viewer: User | None = None) -> Select[Video, User]:
    # `search_text` holds the title, description and tags (lower-cased by the videos domain).
    fields = (Field(Video.title, "A"), Field(Video.search_text, "D"))
    capped = _capped(
        select(Video.id)
        .join(User, User.id == Video.author_id)
        .where(
            video_visible(None),
            *_unblocked(viewer),
            _condition(backend, fields, videos_document()),
        )
    )
    return (
        select(Video, User)
        .join(User, User.id == Video.author_id)
        .where(Video.id.in_(capped))
        .order_by(backend.rank(fields).desc(), Video.created_at.desc(), Video.id.desc())
        .limit(limit)
    )


def requests_query(
    backend: Backend, limit: int, viewer: User | None = None
) -> Select[FundingRequest, User]:
    fields = (
        Field(FundingRequest.title, "A"),
        Field(FundingRequest.category, "B"),
        Field(FundingRequest.description, "C"),
    )
    capped = _capped(
        select(FundingRequest.id)
        .join(User, User.id == FundingRequest.author_id)
        .where(
            profile_visible(None),
            *_unblocked(viewer),
            funding_listable(None),
            _condition(backend, fields, funding_requests_document()),
        )
    )
    return (
        select(FundingRequest, User)
        .join(User, User.id == FundingRequest.author_id)
        .where(FundingRequest.id.in_(capped))
        .order_by(
            backend.rank(fields).desc(),
            FundingRequest.created_at.desc(),
            FundingRequest.id.desc(),
        )
        .limit(limit)
    )


def stories_query(
    backend: Backend, limit: int, viewer: User | None = None
) -> Select[SuccessStory, User]:
    fields = (
        Field(SuccessStory.title, "A"),
        Field(SuccessStory.description, "B"),
        Field(SuccessStory.impact_description, "C"),
    )
    capped = _capped(
        select(SuccessStory.id)
        .join(User, User.id == SuccessStory.author_id)
        .where(
            profile_visible(None),
            *_unblocked(viewer),
            stories_listable(None),
            _condition(backend, fields, success_stories_document()),
        )
    )
    return (
        select(SuccessStory, User)
        .join(User, User.id == SuccessStory.author_id)
        .where(SuccessStory.id.in_(capped))
        .order_by(
            backend.rank(fields).desc(), SuccessStory.created_at.desc(), SuccessStory.id.desc()
        )
        .limit(limit)
    )


async def _bound_statement_time(session: AsyncSession, timeout_ms: int) -> None:
    """PostgreSQL cancels any statement of this transaction that runs longer than this."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(sql_text(f"SET LOCAL statement_timeout = {int(timeout_ms)}"))


def _cancelled_by_timeout(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "pgcode", None) or getattr(exc.orig, "sqlstate", None)
    return code == "57014" or "statement timeout" in str(exc.orig)


async def search(
    session: AsyncSession,
    query: str,
    viewer: User | None,
    *,
    limit: int,
    statement_timeout_ms: int = 2000,
) -> SearchResults:
    """At most `limit` of each kind, best first; `viewer` fills `isFollowing`, `likedByMe`
    and `celebratedByMe` and narrows out people blocked either way; it never widens what is
    found. A search that runs past `statement_timeout_ms` (PostgreSQL) is a 503
    `search_timeout`."""
    terms = search_terms(query)
    if not terms:
        return SearchResults(users=[], videos=[], requests=[], stories=[])
    await _bound_statement_time(session, statement_timeout_ms)
    try:
        return await _search(session, terms, viewer, limit)
    except DBAPIError as exc:
        if not _cancelled_by_timeout(exc):
            raise
        raise ServiceUnavailable(
            "The search took too long: try longer or more specific words",
            code="search_timeout",
        ) from exc


async def _search(
    session: AsyncSession, terms: list[str], viewer: User | None, limit: int
) -> SearchResults:
    backend = backend_for(session, terms)
    users = list((await session.scalars(users_query(session, backend, limit, viewer))).all())
    videos = [
        (video, author)
        for video, author in await session.execute(videos_query(backend, limit, viewer))
    ]
    requests = [
        (request, author)
        for request, author in await session.execute(requests_query(backend, limit, viewer))
    ]
    stories = [
        (story, author)
        for story, author in await session.execute(stories_query(backend, limit, viewer))
    ]
    return SearchResults(
        users=await present_users(session, users, viewer),
        videos=await present_videos(session, videos, viewer),
        requests=[present_request(request, author) for request, author in requests],
        stories=await present_stories(session, stories, viewer),
    )

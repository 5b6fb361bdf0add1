"""The full-text indexes of global search on PostgreSQL (GIN over a `simple` tsvector).

They index other domains' tables, but they belong to search: each expression must be exactly
the document `search.service` matches, or PostgreSQL will not use the index. Declared here (and
imported by `peal.models`) so the metadata describes the production schema and Alembic's
autogenerate does not offer to drop them.

The expressions are written as PostgreSQL prints them back when reflected (casts,
parentheses): Alembic compares index expressions as text, and this form reads back identical.
SQLite has neither tsvector nor GIN: `ddl_if` keeps them out of `create_all` there, the
migration creates them on PostgreSQL only, and SQLite searches with LIKE (see the service).
"""

from __future__ import annotations

from sqlalchemy import Index, text

from peal.db import Base
from peal.funding.models import FundingRequest
from peal.stories.models import SuccessStory
from peal.users.models import User, UserSkill
from peal.videos.models import Video

USERS_DOCUMENT = (
    "to_tsvector('simple'::regconfig, (name::text || ' '::text) || COALESCE(bio, ''::text))"
)
USER_SKILLS_DOCUMENT = "to_tsvector('simple'::regconfig, skill::text)"
# `search_text` is the videos domain's own lower-cased title + description + tags.
VIDEOS_DOCUMENT = "to_tsvector('simple'::regconfig, search_text)"
FUNDING_REQUESTS_DOCUMENT = (
    "to_tsvector('simple'::regconfig, (((title::text || ' '::text) || description) || "
    "' '::text) || COALESCE(category, ''::character varying)::text)"
)
SUCCESS_STORIES_DOCUMENT = (
    "to_tsvector('simple'::regconfig, (((title::text || ' '::text) || description) || "
    "' '::text) || COALESCE(impact_description, ''::text))"
)


def _gin_index(model: type[Base], name: str, document: str) -> Index:
    index = Index(name, text(document), postgresql_using="gin").ddl_if(dialect="postgresql")
    Base.metadata.tables[model.__tablename__].append_constraint(index)
    return index


SEARCH_INDEXES = (
    _gin_index(User, "ix_users_search", USERS_DOCUMENT),
    _gin_index(UserSkill, "ix_user_skills_search", USER_SKILLS_DOCUMENT),
    _gin_index(Video, "ix_videos_search", VIDEOS_DOCUMENT),
    _gin_index(FundingRequest, "ix_funding_requests_search", FUNDING_REQUESTS_DOCUMENT),
    _gin_index(SuccessStory, "ix_success_stories_search", SUCCESS_STORIES_DOCUMENT),
)

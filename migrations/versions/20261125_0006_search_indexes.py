"""global search: full-text GIN indexes on PostgreSQL

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-25 17:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name, table, document: the documents `peal.search.service` matches (see peal.search.models).
SEARCH_INDEXES = (
    ("ix_users_search", "users", "to_tsvector('simple', name || ' ' || coalesce(bio, ''))"),
    ("ix_user_skills_search", "user_skills", "to_tsvector('simple', skill)"),
    ("ix_videos_search", "videos", "to_tsvector('simple', search_text)"),
    (
        "ix_funding_requests_search",
        "funding_requests",
        "to_tsvector('simple', title || ' ' || description || ' ' || coalesce(category, ''))",
    ),
    (
        "ix_success_stories_search",
        "success_stories",
        "to_tsvector('simple', title || ' ' || description || ' ' "
        "|| coalesce(impact_description, ''))",
    ),
)


def upgrade() -> None:
    # SQLite has no tsvector: it searches with LIKE and needs no index.
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table, document in SEARCH_INDEXES:
        op.create_index(name, table, [sa.text(document)], postgresql_using="gin")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table, _document in SEARCH_INDEXES:
        op.drop_index(name, table_name=table)

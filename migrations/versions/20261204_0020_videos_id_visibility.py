"""videos: a covering index for visibility checks by id (tag lists, the feed's tag source)

Revision ID: 0020
Revises: 0011
Create Date: 2026-12-04 13:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite ignores INCLUDE: there it is a plain index on the primary key's column.
    op.create_index(
        "ix_videos_id_visibility",
        "videos",
        ["id"],
        postgresql_include=["author_id", "status", "moderation_status"],
    )


def downgrade() -> None:
    op.drop_index("ix_videos_id_visibility", table_name="videos")

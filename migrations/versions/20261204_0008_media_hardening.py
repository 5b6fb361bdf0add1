"""media hardening: deduplicated shares, the sweep of unattached video uploads

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNATTACHED_VIDEOS = sa.text("status = 'completed' AND kind = 'video' AND NOT in_use")


def upgrade() -> None:
    # One counted share per sharer (user, or hashed IP) per video per UTC day. Older rows keep
    # NULLs, which a unique index never compares equal.
    op.add_column("video_shares", sa.Column("sharer_key", sa.String(length=80), nullable=True))
    op.add_column("video_shares", sa.Column("day", sa.Integer(), nullable=True))
    op.create_index(
        "ux_video_shares_video_sharer_day",
        "video_shares",
        ["video_id", "sharer_key", "day"],
        unique=True,
    )
    op.create_index(
        "ix_uploads_unattached_videos",
        "uploads",
        ["completed_at"],
        postgresql_where=UNATTACHED_VIDEOS,
        sqlite_where=UNATTACHED_VIDEOS,
    )


def downgrade() -> None:
    op.drop_index("ix_uploads_unattached_videos", table_name="uploads")
    op.drop_index("ux_video_shares_video_sharer_day", table_name="video_shares")
    op.drop_column("video_shares", "day")
    op.drop_column("video_shares", "sharer_key")

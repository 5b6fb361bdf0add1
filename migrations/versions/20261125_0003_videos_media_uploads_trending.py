"""videos: uploads, view and share events, trending score, processing state, list indexes

Revision ID: 0003
Revises: 0005
Create Date: 2026-11-25 15:18:50.582718
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "uploads",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("declared_content_type", sa.String(length=100), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("in_use", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('image', 'video')", name=op.f("ck_uploads_kind")),
        sa.CheckConstraint("status IN ('pending', 'completed')", name=op.f("ck_uploads_status")),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_uploads_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
        sa.UniqueConstraint("key", name=op.f("uq_uploads_key")),
    )
    op.create_index("ix_uploads_owner_created", "uploads", ["owner_id", "created_at"], unique=False)
    op.create_index("ix_uploads_status_created", "uploads", ["status", "created_at"], unique=False)
    op.create_table(
        "video_shares",
        sa.Column("video_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_video_shares_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_video_shares_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_video_shares")),
    )
    op.create_index("ix_video_shares_created", "video_shares", ["created_at"], unique=False)
    op.create_index("ix_video_shares_video", "video_shares", ["video_id"], unique=False)
    op.create_table(
        "video_views",
        sa.Column("video_id", sa.Uuid(), nullable=False),
        sa.Column("viewer_key", sa.String(length=80), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_video_views_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_video_views")),
        sa.UniqueConstraint(
            "video_id",
            "viewer_key",
            "hour",
            name=op.f("uq_video_views_video_id_viewer_key_hour"),
        ),
    )
    op.create_index("ix_video_views_created", "video_views", ["created_at"], unique=False)

    op.drop_index(op.f("ix_video_comments_parent"), table_name="video_comments")
    op.create_index(
        "ix_video_comments_parent",
        "video_comments",
        ["parent_id", "created_at", "id"],
        unique=False,
    )
    op.create_index("ix_video_comments_created", "video_comments", ["created_at"], unique=False)
    op.create_index("ix_video_likes_created", "video_likes", ["created_at"], unique=False)

    # video_tags carries its video's creation time (the tag filter's index order).
    op.add_column(
        "video_tags", sa.Column("video_created_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute(
        "UPDATE video_tags SET video_created_at = "
        "(SELECT videos.created_at FROM videos WHERE videos.id = video_tags.video_id)"
    )
    with op.batch_alter_table("video_tags") as batch:
        batch.alter_column(
            "video_created_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
    op.drop_index(op.f("ix_video_tags_tag"), table_name="video_tags")
    op.create_index(
        "ix_video_tags_tag", "video_tags", ["tag", "video_created_at", "video_id"], unique=False
    )

    op.add_column(
        "videos", sa.Column("trending_score", sa.Float(), server_default="0", nullable=False)
    )
    op.add_column("videos", sa.Column("video_key", sa.String(length=255), nullable=True))
    op.add_column("videos", sa.Column("thumbnail_key", sa.String(length=255), nullable=True))
    op.add_column(
        "videos",
        sa.Column("processing_attempts", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column(
        "videos",
        sa.Column("processing_started_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column("videos", sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("videos", sa.Column("search_text", sa.Text(), server_default="", nullable=False))
    search_with_tags = {
        "postgresql": "UPDATE videos SET search_text = lower(title || ' ' || "
        "coalesce(description, '') || ' ' || coalesce((SELECT string_agg(tag, ' ') "
        "FROM video_tags WHERE video_id = videos.id), ''))",
        "sqlite": "UPDATE videos SET search_text = lower(title || ' ' || "
        "coalesce(description, '') || ' ' || coalesce((SELECT group_concat(tag, ' ') "
        "FROM video_tags WHERE video_id = videos.id), ''))",
    }
    op.execute(search_with_tags[dialect])
    op.drop_index(op.f("idx_videos_author"), table_name="videos")
    op.drop_index(op.f("idx_videos_category"), table_name="videos")
    op.drop_index(op.f("idx_videos_trending"), table_name="videos")
    ready = sa.text("status = 'ready'")
    op.create_index(
        "ix_videos_author_created", "videos", ["author_id", "created_at", "id"], unique=False
    )
    op.create_index(
        "ix_videos_category_created",
        "videos",
        ["category", "created_at", "id"],
        unique=False,
        postgresql_where=ready,
        sqlite_where=ready,
    )
    op.create_index(
        "ix_videos_processing",
        "videos",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("status = 'processing'"),
        sqlite_where=sa.text("status = 'processing'"),
    )
    op.create_index(
        "ix_videos_ready_created",
        "videos",
        ["created_at", "id"],
        unique=False,
        postgresql_where=ready,
        sqlite_where=ready,
    )
    op.create_index(
        "ix_videos_trending_score",
        "videos",
        ["trending_score", "created_at", "id"],
        unique=False,
        postgresql_where=ready,
        sqlite_where=ready,
    )
    op.create_index("ux_videos_video_key", "videos", ["video_key"], unique=True)
    if dialect == "postgresql":
        # Free room on each page keeps counter updates HOT (no new index entries).
        op.execute("ALTER TABLE videos SET (fillfactor = 85)")
        # The trigram index serves the substring search (LIKE '%word%').
        # pg_trgm is a trusted extension: the database owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # On SQLite an empty placeholder (WHERE 0), so both databases share one schema.
    op.create_index(
        "ix_videos_search_trgm",
        "videos",
        ["search_text"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
        sqlite_where=sa.text("0"),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE videos RESET (fillfactor)")
    op.drop_index("ix_videos_search_trgm", table_name="videos")
    op.drop_index("ux_videos_video_key", table_name="videos")
    op.drop_index("ix_videos_trending_score", table_name="videos")
    op.drop_index("ix_videos_ready_created", table_name="videos")
    op.drop_index("ix_videos_processing", table_name="videos")
    op.drop_index("ix_videos_category_created", table_name="videos")
    op.drop_index("ix_videos_author_created", table_name="videos")
    op.create_index(
        op.f("idx_videos_trending"), "videos", ["is_trending", "created_at"], unique=False
    )
    op.create_index(op.f("idx_videos_category"), "videos", ["category"], unique=False)
    op.create_index(op.f("idx_videos_author"), "videos", ["author_id"], unique=False)
    op.drop_column("videos", "search_text")
    op.drop_column("videos", "processed_at")
    op.drop_column("videos", "processing_started_at")
    op.drop_column("videos", "processing_attempts")
    op.drop_column("videos", "thumbnail_key")
    op.drop_column("videos", "video_key")
    op.drop_column("videos", "trending_score")
    op.drop_index("ix_video_tags_tag", table_name="video_tags")
    op.create_index(op.f("ix_video_tags_tag"), "video_tags", ["tag"], unique=False)
    op.drop_column("video_tags", "video_created_at")
    op.drop_index("ix_video_likes_created", table_name="video_likes")
    op.drop_index("ix_video_comments_created", table_name="video_comments")
    op.drop_index("ix_video_comments_parent", table_name="video_comments")
    op.create_index(op.f("ix_video_comments_parent"), "video_comments", ["parent_id"], unique=False)
    op.drop_index("ix_video_views_created", table_name="video_views")
    op.drop_table("video_views")
    op.drop_index("ix_video_shares_video", table_name="video_shares")
    op.drop_index("ix_video_shares_created", table_name="video_shares")
    op.drop_table("video_shares")
    op.drop_index("ix_uploads_status_created", table_name="uploads")
    op.drop_index("ix_uploads_owner_created", table_name="uploads")
    op.drop_table("uploads")

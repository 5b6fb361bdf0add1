"""funding, payments and stories: payment events, idempotency keys, donation lifecycle, story links

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 15:26:05.537494
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_events",
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("object_id", sa.String(length=255), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_events")),
        sa.UniqueConstraint(
            "provider", "event_id", name=op.f("uq_payment_events_provider_event_id")
        ),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_idempotency_keys_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("user_id", "key", name=op.f("uq_idempotency_keys_user_id_key")),
    )
    op.create_index("ix_idempotency_keys_created", "idempotency_keys", ["created_at"], unique=False)

    op.add_column(
        "funding_donations",
        sa.Column("provider_refund_id", sa.String(length=255), nullable=True),
    )
    op.add_column(
        "funding_donations", sa.Column("succeeded_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "funding_donations",
        sa.Column("refund_requested_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "funding_donations", sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(
        "ix_funding_donations_request_donor",
        "funding_donations",
        ["funding_request_id", "donor_id", "status"],
        unique=False,
    )
    op.create_index(
        "ix_funding_donations_status_created",
        "funding_donations",
        ["status", "created_at"],
        unique=False,
    )

    # Batch mode: SQLite adds a foreign key and a NOT NULL by rebuilding the table.
    op.add_column("success_stories", sa.Column("updated_at", sa.DateTime(timezone=True)))
    op.execute("UPDATE success_stories SET updated_at = created_at")
    with op.batch_alter_table("success_stories") as batch:
        batch.alter_column("updated_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.add_column(sa.Column("request_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_success_stories_request_id_funding_requests"),
            "funding_requests",
            ["request_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_index("ix_success_stories_request", "success_stories", ["request_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_success_stories_request", table_name="success_stories")
    with op.batch_alter_table("success_stories") as batch:
        batch.drop_constraint(
            op.f("fk_success_stories_request_id_funding_requests"), type_="foreignkey"
        )
        batch.drop_column("request_id")
        batch.drop_column("updated_at")
    op.drop_index("ix_funding_donations_status_created", table_name="funding_donations")
    op.drop_index("ix_funding_donations_request_donor", table_name="funding_donations")
    with op.batch_alter_table("funding_donations") as batch:
        batch.drop_column("refunded_at")
        batch.drop_column("refund_requested_at")
        batch.drop_column("succeeded_at")
        batch.drop_column("provider_refund_id")
    op.drop_index("ix_idempotency_keys_created", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_table("payment_events")

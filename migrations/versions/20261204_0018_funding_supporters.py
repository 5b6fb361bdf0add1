"""funding: one row per (request, donor) with money in it, so a donation learns whether its
donor is new without locking the request row (supporters are counted by insert-or-ignore)

Revision ID: 0018
Revises: 0020
Create Date: 2026-12-04 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "funding_supporters",
        sa.Column("funding_request_id", sa.Uuid(), nullable=False),
        sa.Column("donor_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["funding_request_id"],
            ["funding_requests.id"],
            name=op.f("fk_funding_supporters_funding_request_id_funding_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["donor_id"],
            ["users.id"],
            name=op.f("fk_funding_supporters_donor_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "funding_request_id", "donor_id", name=op.f("pk_funding_supporters")
        ),
    )
    # Backfill: every donor with a succeeded donation is a supporter of that request.
    op.execute(
        "INSERT INTO funding_supporters (funding_request_id, donor_id) "
        "SELECT DISTINCT funding_request_id, donor_id FROM funding_donations "
        "WHERE status = 'succeeded'"
    )


def downgrade() -> None:
    op.drop_table("funding_supporters")

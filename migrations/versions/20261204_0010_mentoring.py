"""mentoring: ended connections, request messages, listing index

Revision ID: 0010
Revises: 0015
Create Date: 2026-12-04 09:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES_BEFORE = "status IN ('pending', 'accepted', 'rejected')"
STATUSES_AFTER = "status IN ('pending', 'accepted', 'rejected', 'ended')"


def upgrade() -> None:
    # Batch mode: SQLite rebuilds the table (its named CHECKs are carried over); PostgreSQL
    # runs plain ALTER TABLE statements. Only mentor_connections is rebuilt: no table refers
    # to it. Rebuilding mentor_profiles on SQLite would drop it, and its ON DELETE CASCADE
    # would empty mentor_skills and mentor_connections; the capacity is guarded by the
    # accept's conditional UPDATE instead of a CHECK.
    with op.batch_alter_table("mentor_connections") as batch:
        batch.add_column(sa.Column("message", sa.Text(), nullable=True))
        batch.drop_constraint(op.f("ck_mentor_connections_status"), type_="check")
        batch.create_check_constraint(op.f("ck_mentor_connections_status"), STATUSES_AFTER)
    op.create_index(
        "ix_mentor_profiles_created", "mentor_profiles", ["created_at", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_mentor_profiles_created", table_name="mentor_profiles")
    op.execute("DELETE FROM mentor_connections WHERE status = 'ended'")
    with op.batch_alter_table("mentor_connections") as batch:
        batch.drop_constraint(op.f("ck_mentor_connections_status"), type_="check")
        batch.create_check_constraint(op.f("ck_mentor_connections_status"), STATUSES_BEFORE)
        batch.drop_column("message")

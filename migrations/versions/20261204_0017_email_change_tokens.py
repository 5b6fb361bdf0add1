"""email change: a `change_email` one-time token carrying the address it confirms

Revision ID: 0017
Revises: 0011
Create Date: 2026-12-04 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PURPOSES_BEFORE = "purpose IN ('verify_email', 'reset_password')"
PURPOSES_AFTER = "purpose IN ('verify_email', 'reset_password', 'change_email')"


def upgrade() -> None:
    # Batch mode: SQLite rebuilds the table (no table refers to it), PostgreSQL alters it.
    with op.batch_alter_table("one_time_tokens") as batch:
        batch.add_column(sa.Column("new_email", sa.String(length=255), nullable=True))
        batch.drop_constraint(op.f("ck_one_time_tokens_purpose"), type_="check")
        batch.create_check_constraint(op.f("ck_one_time_tokens_purpose"), PURPOSES_AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM one_time_tokens WHERE purpose = 'change_email'")
    with op.batch_alter_table("one_time_tokens") as batch:
        batch.drop_constraint(op.f("ck_one_time_tokens_purpose"), type_="check")
        batch.create_check_constraint(op.f("ck_one_time_tokens_purpose"), PURPOSES_BEFORE)
        batch.drop_column("new_email")

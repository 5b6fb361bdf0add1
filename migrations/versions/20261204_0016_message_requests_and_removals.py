"""message requests (messagePrivacy, conversation request state), removable messages

Revision ID: 0016
Revises: 0011
Create Date: 2026-12-04 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_settings") as batch:
        batch.add_column(
            sa.Column(
                "message_privacy",
                sa.String(length=20),
                server_default="following",
                nullable=False,
            )
        )
        batch.create_check_constraint(
            op.f("ck_user_settings_message_privacy"),
            "message_privacy IN ('everyone', 'following', 'connections')",
        )
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("request_status", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("requested_of", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            "fk_conversations_requested_of_users",
            "users",
            ["requested_of"],
            ["id"],
            ondelete="SET NULL",
        )
    # People who already wrote to each other keep doing so: those conversations are accepted.
    op.execute(
        "UPDATE conversations SET request_status = 'accepted' WHERE EXISTS "
        "(SELECT 1 FROM messages WHERE messages.conversation_id = conversations.id)"
    )
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("moderation_status", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("moderation_status")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_constraint("fk_conversations_requested_of_users", type_="foreignkey")
        batch.drop_column("requested_of")
        batch.drop_column("request_status")
    with op.batch_alter_table("user_settings") as batch:
        batch.drop_constraint(op.f("ck_user_settings_message_privacy"), type_="check")
        batch.drop_column("message_privacy")

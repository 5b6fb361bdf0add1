"""messaging: one conversation per pair (unique pair_key), keyset indexes

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-04 10:00:00.000000
"""

import uuid
from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _backfill_pair_keys() -> None:
    """Existing conversations of exactly two people get their pair key (the first one per
    pair wins; a later duplicate keeps NULL and stays readable)."""
    bind = op.get_bind()
    members: dict[str, list[str]] = defaultdict(list)
    rows = bind.execute(
        sa.text("SELECT conversation_id, user_id FROM conversation_participants")
    ).all()
    for conversation_id, user_id in rows:
        members[str(conversation_id)].append(str(user_id))
    taken: set[str] = set()
    conversations = sa.table("conversations", sa.column("id", sa.Uuid()), sa.column("pair_key"))
    for conversation_id, users in sorted(members.items()):
        if len(users) != 2 or users[0] == users[1]:
            continue
        low, high = sorted(users)
        key = f"{low}:{high}"
        if key in taken:
            continue
        taken.add(key)
        bind.execute(
            conversations.update()
            .where(conversations.c.id == sa.bindparam("cid", type_=sa.Uuid()))
            .values(pair_key=key),
            {"cid": uuid.UUID(conversation_id)},
        )


def upgrade() -> None:
    op.add_column("conversations", sa.Column("pair_key", sa.String(length=73), nullable=True))
    _backfill_pair_keys()
    op.create_index("ux_conversations_pair_key", "conversations", ["pair_key"], unique=True)
    op.drop_index("ix_conversation_participants_user_last", table_name="conversation_participants")
    op.create_index(
        "ix_conversation_participants_user_last",
        "conversation_participants",
        ["user_id", "last_message_at", "conversation_id"],
        unique=False,
    )
    op.drop_index("idx_messages_conversation", table_name="messages")
    op.create_index(
        "idx_messages_conversation",
        "messages",
        ["conversation_id", "created_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("idx_messages_conversation", table_name="messages")
    op.create_index(
        "idx_messages_conversation", "messages", ["conversation_id", "created_at"], unique=False
    )
    op.drop_index("ix_conversation_participants_user_last", table_name="conversation_participants")
    op.create_index(
        "ix_conversation_participants_user_last",
        "conversation_participants",
        ["user_id", "last_message_at"],
        unique=False,
    )
    op.drop_index("ux_conversations_pair_key", table_name="conversations")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("pair_key")

"""parked_messages: messages to members not known here yet

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "parked_messages",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("cause_event_id", sa.String(36), nullable=False),
        sa.Column("cause_event_type", sa.String(200), nullable=False),
        sa.Column("template", sa.String(200), nullable=False),
        sa.Column("event_version", sa.Integer(), nullable=False),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("member_id", "cause_event_id", name="uq_parked_messages_member_cause"),
    )
    op.create_index("ix_parked_messages_created", "parked_messages", ["created_at"])


def downgrade() -> None:
    op.drop_table("parked_messages")

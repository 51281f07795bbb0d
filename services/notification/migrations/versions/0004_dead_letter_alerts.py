"""dead_letter_alerts: what the operators were last told about each dead-letter topic

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dead_letter_alerts",
        sa.Column("topic", sa.String(249), nullable=False),
        sa.Column("written", sa.BigInteger, nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("topic"),
    )


def downgrade() -> None:
    op.drop_table("dead_letter_alerts")

"""inbox retention: an index on `processed_at` for the job that deletes old inbox rows
(libs/chassis/src/chassis/retention.py)

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from chassis.inbox import create_inbox_retention_index, drop_inbox_retention_index

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_inbox_retention_index(op)


def downgrade() -> None:
    drop_inbox_retention_index(op)

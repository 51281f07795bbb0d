"""members.phone: the mobile number a member may give (E.164), for SMS notices

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
    op.add_column("members", sa.Column("phone", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("members") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("phone")

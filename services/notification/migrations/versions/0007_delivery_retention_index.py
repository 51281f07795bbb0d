"""deliveries: an index of the final rows (SENT, FAILED) by `updated_at`, for the job that
deletes them after `NOTIFICATION_DELIVERY_KEEP_DAYS` (service/retention.py)

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

FINAL = sa.text("status IN ('SENT', 'FAILED')")


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_final",
        "deliveries",
        ["updated_at"],
        postgresql_where=FINAL,
        sqlite_where=FINAL,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_final", table_name="deliveries")

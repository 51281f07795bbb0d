"""whether an order's cancellation came after its payment (`was_confirmed`), kept so that a
`placed` applied after the cancellation can count the units that came back

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "analytics_orders", sa.Column("cancelled_after_payment", sa.Boolean(), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("analytics_orders") as batch:
        batch.drop_column("cancelled_after_payment")

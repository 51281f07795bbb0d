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
    # Orders cancelled before this column: after payment when they had been confirmed (the
    # cancellation's `was_confirmed`), so that a `placed` applied later counts their units back.
    op.execute(
        "UPDATE analytics_orders SET cancelled_after_payment = (confirmed_at IS NOT NULL) "
        "WHERE cancelled_at IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("analytics_orders") as batch:
        batch.drop_column("cancelled_after_payment")

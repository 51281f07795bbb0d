"""an order's total in CNY as its payment converted it, and each line's amount in the order's
currency (the weights the payment's CNY total is split by)

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("analytics_orders", sa.Column("paid_cny", sa.BigInteger(), nullable=True))
    op.add_column("analytics_order_lines", sa.Column("amount", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("analytics_order_lines") as batch:
        batch.drop_column("amount")
    with op.batch_alter_table("analytics_orders") as batch:
        batch.drop_column("paid_cny")

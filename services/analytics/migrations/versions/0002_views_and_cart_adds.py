"""the funnel's first steps: product views per day, cart adds per SKU per day

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
        "analytics_product_view_days",
        sa.Column("product_id", sa.String(100), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("product_id", "day"),
    )
    op.create_table(
        "analytics_cart_days",
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("cart_adds", sa.Integer(), nullable=False),
        sa.Column("units_added", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("sku", "day"),
    )


def downgrade() -> None:
    op.drop_table("analytics_cart_days")
    op.drop_table("analytics_product_view_days")

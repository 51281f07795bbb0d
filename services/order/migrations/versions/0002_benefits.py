"""member price, coupons and points on orders; tier and coupon read models

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MONEY_COLUMNS = ("tier_discount", "coupon_discount", "points_discount")


def upgrade() -> None:
    with op.batch_alter_table("orders") as orders:
        # AWAITING_STOCK_AND_BENEFITS does not fit in 20.
        orders.alter_column("saga_step", type_=sa.String(40), existing_type=sa.String(20))
        for name in MONEY_COLUMNS:
            orders.add_column(sa.Column(name, sa.BigInteger(), nullable=False, server_default="0"))
        orders.add_column(sa.Column("coupon_code", sa.String(64), nullable=True))
        orders.add_column(sa.Column("points", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "member_tier_view",
        sa.Column("member_id", sa.String(64), primary_key=True),
        sa.Column("tier", sa.String(20), nullable=False),
        sa.Column("discount_percent", sa.Integer(), nullable=False),
    )
    op.create_table(
        "coupon_view",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("member_id", sa.String(64), nullable=False, index=True),
        sa.Column("amount_off", sa.BigInteger(), nullable=False),
        sa.Column("min_spend", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("coupon_view")
    op.drop_table("member_tier_view")
    with op.batch_alter_table("orders") as orders:
        for name in (*MONEY_COLUMNS, "coupon_code", "points"):
            orders.drop_column(name)

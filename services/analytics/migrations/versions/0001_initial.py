"""the analytics projection, the outbox and the inbox

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from chassis.inbox import create_inbox_table
from chassis.outbox import create_outbox_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_coupon_uses",
        sa.Column("code", sa.String(100), nullable=False),
        sa.Column("order_id", sa.String(100), nullable=False),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("restored_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("code", "order_id"),
    )
    op.create_table(
        "analytics_coupons",
        sa.Column("code", sa.String(100), nullable=False),
        sa.Column("member_id", sa.String(100), nullable=True),
        sa.Column("kind", sa.String(30), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index("ix_analytics_coupons_issued_at", "analytics_coupons", ["issued_at"])

    op.create_table(
        "analytics_members",
        sa.Column("member_id", sa.String(100), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tier", sa.String(20), nullable=True),
        sa.Column("tier_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("member_id"),
    )
    op.create_index("ix_analytics_members_registered_at", "analytics_members", ["registered_at"])

    op.create_table(
        "analytics_money_back",
        sa.Column("order_id", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("reference", sa.String(100), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_cny", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('REFUND', 'VOID')", name="ck_analytics_money_back_kind"),
        sa.PrimaryKeyConstraint("order_id", "kind", "reference"),
    )
    op.create_index("ix_analytics_money_back_at", "analytics_money_back", ["at"])

    op.create_table(
        "analytics_order_lines",
        sa.Column("order_id", sa.String(100), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("product_id", sa.String(100), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("amount_cny", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "sku"),
    )
    op.create_index("ix_analytics_order_lines_product_id", "analytics_order_lines", ["product_id"])

    op.create_table(
        "analytics_orders",
        sa.Column("order_id", sa.String(100), nullable=False),
        sa.Column("member_id", sa.String(100), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("total", sa.BigInteger(), nullable=True),
        sa.Column("total_cny", sa.BigInteger(), nullable=True),
        sa.Column("coupon_code", sa.String(100), nullable=True),
        sa.Column("points", sa.Integer(), nullable=True),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reject_reason", sa.String(50), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.String(50), nullable=True),
        sa.Column("returned_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("order_id"),
    )
    op.create_index("ix_analytics_orders_cancelled_at", "analytics_orders", ["cancelled_at"])
    op.create_index("ix_analytics_orders_confirmed_at", "analytics_orders", ["confirmed_at"])
    op.create_index("ix_analytics_orders_placed_at", "analytics_orders", ["placed_at"])
    op.create_index("ix_analytics_orders_rejected_at", "analytics_orders", ["rejected_at"])
    op.create_index("ix_analytics_orders_returned_at", "analytics_orders", ["returned_at"])

    op.create_table(
        "analytics_points_moves",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("member_id", sa.String(100), nullable=False),
        sa.Column("order_id", sa.String(100), nullable=True),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('EARNED', 'REDEEMED', 'RESTORED', 'EXPIRED')", name="ck_analytics_points_kind"
        ),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("ix_analytics_points_moves_at", "analytics_points_moves", ["at"])

    op.create_table(
        "analytics_products",
        sa.Column("product_id", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("product_id"),
    )
    op.create_table(
        "analytics_sku_days",
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("units_sold", sa.Integer(), nullable=False),
        sa.Column("units_returned", sa.Integer(), nullable=False),
        sa.Column("gmv_cny", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sku", "day"),
    )
    op.create_table(
        "analytics_skus",
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("product_id", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("sku"),
    )
    op.create_index("ix_analytics_skus_product_id", "analytics_skus", ["product_id"])

    op.create_table(
        "analytics_stock",
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("base_on_hand", sa.Integer(), nullable=False),
        sa.Column("base_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("safety_stock", sa.Integer(), nullable=True),
        sa.Column("safety_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sold_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("sku"),
    )
    op.create_table(
        "analytics_stock_moves",
        sa.Column("order_id", sa.String(100), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('COMMIT', 'RESTOCK')", name="ck_analytics_moves_kind"),
        sa.PrimaryKeyConstraint("order_id", "sku", "kind"),
    )
    op.create_index("ix_analytics_stock_moves_sku", "analytics_stock_moves", ["sku"])

    create_outbox_table(op)
    create_inbox_table(op)


def downgrade() -> None:
    op.drop_table("inbox")
    op.drop_table("outbox")
    op.drop_table("analytics_stock_moves")
    op.drop_table("analytics_stock")
    op.drop_table("analytics_skus")
    op.drop_table("analytics_sku_days")
    op.drop_table("analytics_products")
    op.drop_table("analytics_points_moves")
    op.drop_table("analytics_orders")
    op.drop_table("analytics_order_lines")
    op.drop_table("analytics_money_back")
    op.drop_table("analytics_members")
    op.drop_table("analytics_coupons")
    op.drop_table("analytics_coupon_uses")

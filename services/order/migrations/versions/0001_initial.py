"""price read model, carts, orders, timeline, outbox and inbox

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


def _timestamp(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "product_prices",
        sa.Column("sku", sa.String(64), primary_key=True),
        sa.Column("product_id", sa.String(36), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("product_version", sa.Integer(), nullable=False),
    )
    op.create_table(
        "cart_items",
        sa.Column("member_id", sa.String(64), primary_key=True),
        sa.Column("sku", sa.String(64), primary_key=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        _timestamp("updated_at"),
        sa.CheckConstraint("quantity > 0", name="ck_cart_items_quantity"),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("member_id", sa.String(64), nullable=False, index=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("saga_step", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(40), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("subtotal", sa.BigInteger(), nullable=False),
        sa.Column("discount", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("payment_token", sa.String(200), nullable=True),
        sa.Column("shipping_address", sa.JSON(), nullable=False),
        _timestamp("deadline_at", nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint(
            "total >= 0 AND subtotal >= 0 AND discount >= 0", name="ck_orders_money"
        ),
    )
    # The timeout job scans only pending orders by deadline.
    op.create_index(
        "ix_orders_pending_deadline",
        "orders",
        ["deadline_at"],
        postgresql_where=sa.text("status = 'PENDING'"),
        sqlite_where=sa.text("status = 'PENDING'"),
    )
    op.create_table(
        "order_lines",
        sa.Column("order_id", sa.String(36), sa.ForeignKey("orders.id"), primary_key=True),
        sa.Column("sku", sa.String(64), primary_key=True),
        sa.Column("product_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_amount", sa.BigInteger(), nullable=False),
        sa.Column("line_amount", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "order_timeline",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "order_id", sa.String(36), sa.ForeignKey("orders.id"), nullable=False, index=True
        ),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(40), nullable=True),
        sa.Column("event_id", sa.String(36), nullable=True),
        _timestamp("at"),
    )
    create_outbox_table(op)
    create_inbox_table(op)


def downgrade() -> None:
    for table in (
        "inbox",
        "outbox",
        "order_timeline",
        "order_lines",
        "orders",
        "cart_items",
        "product_prices",
    ):
        op.drop_table(table)

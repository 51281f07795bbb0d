"""products, skus and the outbox

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from chassis.outbox import create_outbox_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("images", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('DRAFT', 'PUBLISHED', 'UNPUBLISHED')", name="ck_products_status"
        ),
    )
    op.create_index("ix_products_category", "products", ["category"])
    op.create_index("ix_products_status_created", "products", ["status", "created_at"])
    op.create_table(
        "skus",
        sa.Column("sku", sa.String(64), primary_key=True),
        sa.Column("product_id", sa.String(36), sa.ForeignKey("products.id"), nullable=False),
        sa.Column("price_amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False, server_default="0"),
        sa.CheckConstraint("price_amount >= 0", name="ck_skus_price_not_negative"),
    )
    op.create_index("ix_skus_product_id", "skus", ["product_id"])
    create_outbox_table(op)


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("skus")
    op.drop_table("products")

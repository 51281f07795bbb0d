"""products.food: the food attributes of a product in a food category

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
    # Nullable: products of other categories (and those created before) have none.
    op.add_column("products", sa.Column("food", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("products", "food")

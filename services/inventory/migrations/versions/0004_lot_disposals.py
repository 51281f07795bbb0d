"""lot disposals: a lot out of sale (expired or recalled) can be disposed of; the lot counts
the units disposed of, and the ledger has a DISPOSE movement

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_KINDS_BEFORE = (
    "kind IN ('RECEIVE', 'ADJUST', 'RESERVE', 'COMMIT', 'RELEASE', 'WITHDRAW', 'REALLOCATE')"
)
_KINDS = (
    "kind IN ('RECEIVE', 'ADJUST', 'RESERVE', 'COMMIT', 'RELEASE', 'WITHDRAW', 'REALLOCATE',"
    " 'DISPOSE')"
)


def upgrade() -> None:
    with op.batch_alter_table("lots") as lots:
        lots.add_column(sa.Column("disposed", sa.BigInteger(), nullable=False, server_default="0"))
    with op.batch_alter_table("stock_movements") as movements:
        movements.drop_constraint("ck_stock_movements_kind", type_="check")
        movements.create_check_constraint("ck_stock_movements_kind", _KINDS)


def downgrade() -> None:
    # The units disposed of stay out of their lots; only their ledger rows' kind goes.
    op.execute("UPDATE stock_movements SET kind = 'ADJUST' WHERE kind = 'DISPOSE'")
    with op.batch_alter_table("stock_movements") as movements:
        movements.drop_constraint("ck_stock_movements_kind", type_="check")
        movements.create_check_constraint("ck_stock_movements_kind", _KINDS_BEFORE)
    with op.batch_alter_table("lots") as lots:
        lots.drop_column("disposed")

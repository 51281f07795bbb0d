"""a lot's `received` as BIGINT: it counts every unit ever received into the lot, and a SKU
counted up and down again (each stock take that finds more counts as received) passed
INTEGER's 2,147,483,647 while its on-hand stayed within bounds

SQLite's INTEGER already holds 64 bits: only PostgreSQL's column changes.

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
    if op.get_context().dialect.name == "postgresql":
        op.alter_column(
            "lots", "received", type_=sa.BigInteger(), existing_type=sa.Integer(), nullable=False
        )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.alter_column(
            "lots", "received", type_=sa.Integer(), existing_type=sa.BigInteger(), nullable=False
        )

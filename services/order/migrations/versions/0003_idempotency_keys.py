"""Idempotency-Key records of POST /orders, committed with the order

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from chassis.idempotency_db import create_idempotency_table, drop_idempotency_table

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_idempotency_table(op)


def downgrade() -> None:
    drop_idempotency_table(op)

"""the authorised amount in CNY on each intent (the rate its later events convert at)

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
    with op.batch_alter_table("payment_intents") as intents:
        intents.add_column(sa.Column("amount_cny", sa.BigInteger(), nullable=True))
        intents.create_check_constraint(
            "ck_payment_intents_amount_cny_not_negative", "amount_cny >= 0"
        )
    # A CNY intent's rate is 1, so an intent authorised before this revision can be filled in;
    # one in another currency is left NULL: the rate it used was not recorded.
    op.execute(
        "UPDATE payment_intents SET amount_cny = amount "
        "WHERE currency = 'CNY' AND status NOT IN ('PENDING', 'FAILED')"
    )


def downgrade() -> None:
    with op.batch_alter_table("payment_intents") as intents:
        intents.drop_constraint("ck_payment_intents_amount_cny_not_negative", type_="check")
        intents.drop_column("amount_cny")

"""payment intents, ledger, FX rates (seeded), outbox and inbox

Revision ID: 0001
Revises:
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from chassis.inbox import create_inbox_table
from chassis.outbox import create_outbox_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# How many CNY one unit buys, in millionths; the rates the suite starts with.
SEED_RATES = [("USD", "CNY", 7_100_000), ("EUR", "CNY", 7_700_000)]


def upgrade() -> None:
    op.create_table(
        "payment_intents",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("order_id", sa.String(64), nullable=False, unique=True),
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("captured_amount", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("refunded_amount", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("failure_reason", sa.String(40), nullable=True),
        sa.Column("failure_message", sa.String(500), nullable=True),
        sa.Column("token_hint", sa.String(20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount >= 0", name="ck_payment_intents_amount_not_negative"),
        sa.CheckConstraint("captured_amount >= 0", name="ck_payment_intents_captured_not_negative"),
        sa.CheckConstraint("refunded_amount >= 0", name="ck_payment_intents_refunded_not_negative"),
        sa.CheckConstraint(
            "captured_amount <= amount", name="ck_payment_intents_captured_within_amount"
        ),
        sa.CheckConstraint(
            "refunded_amount <= captured_amount", name="ck_payment_intents_refunded_within_captured"
        ),
        sa.CheckConstraint(
            "status IN ('PENDING', 'AUTHORIZED', 'CAPTURED', 'VOIDED', 'FAILED', "
            "'PARTIALLY_REFUNDED', 'REFUNDED')",
            name="ck_payment_intents_status",
        ),
    )
    op.create_index(
        "ix_payment_intents_member_created", "payment_intents", ["member_id", "created_at"]
    )

    op.create_table(
        "payment_ledger",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("entry_id", sa.String(36), nullable=False, unique=True),
        sa.Column("intent_id", sa.String(36), sa.ForeignKey("payment_intents.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("provider_reference", sa.String(200), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount >= 0", name="ck_payment_ledger_amount_not_negative"),
        sa.CheckConstraint(
            "kind IN ('AUTHORIZE', 'CAPTURE', 'VOID', 'REFUND')", name="ck_payment_ledger_kind"
        ),
    )
    op.create_index("ix_payment_ledger_intent_id", "payment_ledger", ["intent_id"])
    # At most one authorisation, one capture and one void per intent, whatever the code does.
    for kind in ("AUTHORIZE", "CAPTURE", "VOID"):
        where = sa.text(f"kind = '{kind}'")
        op.create_index(
            f"ux_payment_ledger_one_{kind.lower()}",
            "payment_ledger",
            ["intent_id"],
            unique=True,
            postgresql_where=where,
            sqlite_where=where,
        )

    fx_rates = op.create_table(
        "fx_rates",
        sa.Column("base", sa.String(3), primary_key=True),
        sa.Column("quote", sa.String(3), primary_key=True),
        sa.Column("rate_micros", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rate_micros > 0", name="ck_fx_rates_positive"),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        fx_rates,
        [
            {"base": base, "quote": quote, "rate_micros": micros, "updated_at": now}
            for base, quote, micros in SEED_RATES
        ],
    )

    create_outbox_table(op)
    create_inbox_table(op)


def downgrade() -> None:
    op.drop_table("inbox")
    op.drop_table("outbox")
    op.drop_table("fx_rates")
    op.drop_table("payment_ledger")
    op.drop_table("payment_intents")

"""recipients, preferences, member orders, webhook subscriptions, deliveries, outbox, inbox

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


def _flag(name: str, default: bool) -> sa.Column:
    return sa.Column(
        name, sa.Boolean(), nullable=False, server_default=sa.true() if default else sa.false()
    )


def upgrade() -> None:
    op.create_table(
        "recipients",
        sa.Column("member_id", sa.String(64), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("locale", sa.String(16), nullable=False),
        sa.Column("phone", sa.String(32), nullable=True),
        _timestamp("updated_at"),
    )
    op.create_table(
        "preferences",
        sa.Column("member_id", sa.String(64), primary_key=True),
        _flag("email", True),
        _flag("sms", True),
        _flag("webhook", True),
        _flag("marketing_consent", False),
        _timestamp("updated_at"),
    )
    op.create_table(
        "order_recipients",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        _timestamp("placed_at"),
    )
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        _timestamp("created_at"),
        _timestamp("deleted_at", nullable=True),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("cause_event_id", sa.String(36), nullable=False),
        sa.Column("cause_event_type", sa.String(200), nullable=False),
        sa.Column("correlation_id", sa.String(200), nullable=True),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("member_id", sa.String(64), nullable=True),
        sa.Column("template", sa.String(200), nullable=False),
        sa.Column("locale", sa.String(16), nullable=True),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        _timestamp("next_attempt_at", nullable=True),
        _timestamp("sent_at", nullable=True),
        sa.UniqueConstraint(
            "cause_event_id", "channel", "recipient", name="uq_deliveries_cause_channel_recipient"
        ),
        sa.CheckConstraint("channel IN ('EMAIL', 'SMS', 'WEBHOOK')", name="ck_deliveries_channel"),
        sa.CheckConstraint(
            "status IN ('PENDING', 'SENT', 'RETRY', 'FAILED')", name="ck_deliveries_status"
        ),
        sa.CheckConstraint("attempts >= 0", name="ck_deliveries_attempts_not_negative"),
    )
    op.create_index("ix_deliveries_member_created", "deliveries", ["member_id", "created_at"])
    due = sa.text("status IN ('PENDING', 'RETRY')")
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["next_attempt_at"],
        postgresql_where=due,
        sqlite_where=due,
    )

    create_outbox_table(op)
    create_inbox_table(op)


def downgrade() -> None:
    op.drop_table("inbox")
    op.drop_table("outbox")
    op.drop_table("deliveries")
    op.drop_table("webhook_subscriptions")
    op.drop_table("order_recipients")
    op.drop_table("preferences")
    op.drop_table("recipients")

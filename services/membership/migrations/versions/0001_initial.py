"""members, credentials, signing keys, refresh tokens, coupons, points, orders, outbox, inbox

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

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _timestamp(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _int(name: str) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")


def upgrade() -> None:
    op.create_table(
        "members",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("locale", sa.String(8), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("marketing_consent", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("tier", sa.String(20), nullable=False),
        _timestamp("tier_reviewed_at"),
        _int("points_balance"),
        _int("points_held"),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint(_in("role", ("customer", "admin")), name="ck_members_role"),
        sa.CheckConstraint(
            _in("tier", ("BRONZE", "SILVER", "GOLD", "PLATINUM")), name="ck_members_tier"
        ),
        sa.CheckConstraint("points_balance >= 0", name="ck_members_points_balance"),
        sa.CheckConstraint("points_held >= 0", name="ck_members_points_held"),
    )
    op.create_index("ix_members_tier_reviewed", "members", ["tier", "tier_reviewed_at"])

    op.create_table(
        "credentials",
        sa.Column("member_id", sa.String(36), sa.ForeignKey("members.id"), primary_key=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        _timestamp("updated_at"),
    )

    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("private_pem", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _timestamp("created_at"),
        _timestamp("retired_at", nullable=True),
    )
    op.create_index(
        "ux_signing_keys_one_active",
        "signing_keys",
        ["active"],
        unique=True,
        postgresql_where=sa.text("active"),
        sqlite_where=sa.text("active"),
    )

    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("family_id", sa.String(36), nullable=False),
        sa.Column("member_id", sa.String(36), sa.ForeignKey("members.id"), nullable=False),
        _timestamp("issued_at"),
        _timestamp("expires_at"),
        _timestamp("used_at", nullable=True),
        _timestamp("revoked_at", nullable=True),
    )
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"])
    op.create_index("ix_refresh_tokens_member_id", "refresh_tokens", ["member_id"])

    op.create_table(
        "coupons",
        sa.Column("code", sa.String(20), primary_key=True),
        sa.Column("member_id", sa.String(36), sa.ForeignKey("members.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        _int("amount_off"),
        _int("min_spend"),
        sa.Column("currency", sa.String(3), nullable=False),
        _timestamp("valid_from"),
        _timestamp("valid_until"),
        sa.Column("first_order_only", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("order_id", sa.String(100), nullable=True),
        _timestamp("issued_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint(
            _in("kind", ("WELCOME_GIFT", "FIRST_ORDER", "SPEND_THRESHOLD")), name="ck_coupons_kind"
        ),
        sa.CheckConstraint(_in("status", ("ACTIVE", "HELD", "REDEEMED")), name="ck_coupons_status"),
        sa.CheckConstraint("amount_off > 0", name="ck_coupons_amount_off_positive"),
        sa.CheckConstraint("min_spend >= 0", name="ck_coupons_min_spend_not_negative"),
        sa.CheckConstraint("valid_until > valid_from", name="ck_coupons_validity"),
        sa.CheckConstraint(
            "(status = 'ACTIVE') = (order_id IS NULL)", name="ck_coupons_used_by_an_order"
        ),
    )
    op.create_index("ix_coupons_member_id", "coupons", ["member_id"])

    op.create_table(
        "points_ledger",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("member_id", sa.String(36), sa.ForeignKey("members.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        _int("delta"),
        _int("held_delta"),
        _int("balance_after"),
        _int("held_after"),
        sa.Column("order_id", sa.String(100), nullable=True),
        _timestamp("at"),
        sa.CheckConstraint(
            _in("kind", ("EARN", "HOLD", "REDEEM", "RESTORE", "EXPIRE", "REVOKE")),
            name="ck_points_ledger_kind",
        ),
        sa.CheckConstraint("balance_after >= 0", name="ck_points_ledger_balance"),
        sa.CheckConstraint("held_after >= 0", name="ck_points_ledger_held"),
    )
    op.create_index("ix_points_ledger_member_kind", "points_ledger", ["member_id", "kind"])

    op.create_table(
        "points_lots",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("member_id", sa.String(36), sa.ForeignKey("members.id"), nullable=False),
        sa.Column("order_id", sa.String(100), nullable=False, unique=True),
        _int("points"),
        _timestamp("earned_at"),
        _timestamp("expires_at"),
        sa.Column("settled", sa.Boolean(), nullable=False),
        sa.CheckConstraint("points > 0", name="ck_points_lots_positive"),
    )
    op.create_index("ix_points_lots_due", "points_lots", ["settled", "expires_at"])
    op.create_index("ix_points_lots_member_expires", "points_lots", ["member_id", "expires_at"])

    op.create_table(
        "member_orders",
        sa.Column("order_id", sa.String(100), primary_key=True),
        sa.Column("member_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("benefits", sa.String(20), nullable=False),
        sa.Column("coupon_code", sa.String(20), nullable=True),
        _int("points"),
        sa.Column("currency", sa.String(3), nullable=False),
        _int("spend"),
        _int("points_earned"),
        _timestamp("completed_at", nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint(
            _in("status", ("PLACED", "CONFIRMED", "COMPLETED", "REJECTED", "CANCELLED")),
            name="ck_member_orders_status",
        ),
        sa.CheckConstraint(
            _in("benefits", ("NONE", "HELD", "REJECTED", "REDEEMED", "RELEASED", "REFUNDED")),
            name="ck_member_orders_benefits",
        ),
        sa.CheckConstraint("points >= 0", name="ck_member_orders_points"),
        sa.CheckConstraint("spend >= 0", name="ck_member_orders_spend"),
    )
    op.create_index("ix_member_orders_member_status", "member_orders", ["member_id", "status"])
    op.create_index(
        "ix_member_orders_member_completed", "member_orders", ["member_id", "completed_at"]
    )

    create_outbox_table(op)
    create_inbox_table(op)


def downgrade() -> None:
    for table in (
        "inbox",
        "outbox",
        "member_orders",
        "points_lots",
        "points_ledger",
        "coupons",
        "refresh_tokens",
        "signing_keys",
        "credentials",
        "members",
    ):
        op.drop_table(table)

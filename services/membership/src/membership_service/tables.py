"""Membership tables. Never returned by the API, never published: see schemas.py for those.

Balances are checked by the database as well as by the code (domain/points.py): points never go
below zero, a coupon is held or redeemed by at most one order, an order earns points once,
and at most one signing key is active.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from chassis.columns import (
    big_integer,
    check_one_of,
    not_negative,
    partial_index,
    surrogate_key,
    table_of,
    utc_timestamp,
)

ROLES = ("customer", "admin")
TIERS = ("BRONZE", "SILVER", "GOLD", "PLATINUM")
COUPON_KINDS = ("WELCOME_GIFT", "FIRST_ORDER", "SPEND_THRESHOLD")
COUPON_STATUSES = ("ACTIVE", "HELD", "REDEEMED")
LEDGER_KINDS = ("EARN", "HOLD", "REDEEM", "RESTORE", "EXPIRE", "REVOKE")
ORDER_STATUSES = ("PLACED", "CONFIRMED", "COMPLETED", "REJECTED", "CANCELLED")
BENEFITS = ("NONE", "HELD", "REJECTED", "REDEEMED", "RELEASED", "REFUNDED")


class MemberRow(SQLModel, table=True):
    __tablename__ = "members"
    __table_args__ = (
        check_one_of("members", "role", ROLES),
        check_one_of("members", "tier", TIERS),
        sa.CheckConstraint("points_balance >= 0", name="ck_members_points_balance"),
        sa.CheckConstraint("points_held >= 0", name="ck_members_points_held"),
        sa.Index("ix_members_tier_reviewed", "tier", "tier_reviewed_at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    email: str = Field(sa_column=sa.Column(sa.String(254), nullable=False, unique=True))
    name: str = Field(max_length=100)
    locale: str = Field(max_length=8)
    role: str = Field(max_length=20)
    marketing_consent: bool = False
    phone: str | None = Field(default=None, max_length=16)  # E.164; personal data, never logged
    tier: str = Field(max_length=20)
    tier_reviewed_at: datetime = utc_timestamp()
    points_balance: int = big_integer(default=0)
    points_held: int = big_integer(default=0)
    created_at: datetime = utc_timestamp()
    updated_at: datetime = utc_timestamp()


class CredentialRow(SQLModel, table=True):
    """The password hash, apart from the profile: no profile query ever loads it."""

    __tablename__ = "credentials"

    member_id: str = Field(primary_key=True, foreign_key="members.id", max_length=36)
    password_hash: str = Field(max_length=200)
    updated_at: datetime = utc_timestamp()


class SigningKeyRow(SQLModel, table=True):
    """Development and test only: the generated key every replica signs with."""

    __tablename__ = "signing_keys"
    __table_args__ = (
        partial_index("ux_signing_keys_one_active", "active", unique=True, where="active"),
    )

    kid: str = Field(primary_key=True, max_length=64)
    private_pem: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    active: bool = True
    created_at: datetime = utc_timestamp()
    retired_at: datetime | None = utc_timestamp(nullable=True)


class RefreshTokenRow(SQLModel, table=True):
    """Only the SHA-256 of the token is kept."""

    __tablename__ = "refresh_tokens"

    token_hash: str = Field(primary_key=True, max_length=64)
    family_id: str = Field(index=True, max_length=36)
    member_id: str = Field(foreign_key="members.id", index=True, max_length=36)
    issued_at: datetime = utc_timestamp()
    expires_at: datetime = utc_timestamp()
    used_at: datetime | None = utc_timestamp(nullable=True)
    revoked_at: datetime | None = utc_timestamp(nullable=True)


class CouponRow(SQLModel, table=True):
    __tablename__ = "coupons"
    __table_args__ = (
        check_one_of("coupons", "kind", COUPON_KINDS),
        check_one_of("coupons", "status", COUPON_STATUSES),
        sa.CheckConstraint("amount_off > 0", name="ck_coupons_amount_off_positive"),
        *not_negative("coupons", "min_spend"),
        sa.CheckConstraint("valid_until > valid_from", name="ck_coupons_validity"),
        sa.CheckConstraint(
            "(status = 'ACTIVE') = (order_id IS NULL)", name="ck_coupons_used_by_an_order"
        ),
    )

    code: str = Field(primary_key=True, max_length=20)
    member_id: str = Field(foreign_key="members.id", index=True, max_length=36)
    kind: str = Field(max_length=20)
    amount_off: int = big_integer(default=0)
    min_spend: int = big_integer(default=0)
    currency: str = Field(max_length=3)
    valid_from: datetime = utc_timestamp()
    valid_until: datetime = utc_timestamp()
    first_order_only: bool = False
    status: str = Field(max_length=20)
    order_id: str | None = Field(default=None, max_length=100)
    issued_at: datetime = utc_timestamp()
    updated_at: datetime = utc_timestamp()


class PointsLedgerRow(SQLModel, table=True):
    """Every change of a member's points, append-only (see domain.points)."""

    __tablename__ = "points_ledger"
    __table_args__ = (
        check_one_of("points_ledger", "kind", LEDGER_KINDS),
        sa.CheckConstraint("balance_after >= 0", name="ck_points_ledger_balance"),
        sa.CheckConstraint("held_after >= 0", name="ck_points_ledger_held"),
        sa.Index("ix_points_ledger_member_kind", "member_id", "kind"),
    )

    id: int | None = surrogate_key()
    member_id: str = Field(foreign_key="members.id", max_length=36)
    kind: str = Field(max_length=20)
    delta: int = big_integer(default=0)
    held_delta: int = big_integer(default=0)
    balance_after: int = big_integer(default=0)
    held_after: int = big_integer(default=0)
    order_id: str | None = Field(default=None, max_length=100)
    at: datetime = utc_timestamp()


class PointsLotRow(SQLModel, table=True):
    """Points earned by one order, and when they expire. `settled`: the expiry job has
    accounted for this lot (it only looks at unsettled lots that are due)."""

    __tablename__ = "points_lots"
    __table_args__ = (
        sa.CheckConstraint("points > 0", name="ck_points_lots_positive"),
        sa.Index("ix_points_lots_due", "settled", "expires_at"),
        sa.Index("ix_points_lots_member_expires", "member_id", "expires_at"),
    )

    id: int | None = surrogate_key()
    member_id: str = Field(foreign_key="members.id", max_length=36)
    order_id: str = Field(sa_column=sa.Column(sa.String(100), nullable=False, unique=True))
    points: int = big_integer(default=0)
    earned_at: datetime = utc_timestamp()
    expires_at: datetime = utc_timestamp()
    settled: bool = False


class MemberOrderRow(SQLModel, table=True):
    """What membership knows of an order: the benefits it holds and the spend it counts."""

    __tablename__ = "member_orders"
    __table_args__ = (
        check_one_of("member_orders", "status", ORDER_STATUSES),
        check_one_of("member_orders", "benefits", BENEFITS),
        sa.CheckConstraint("points >= 0", name="ck_member_orders_points"),
        sa.CheckConstraint("spend >= 0", name="ck_member_orders_spend"),
        sa.Index("ix_member_orders_member_status", "member_id", "status"),
        sa.Index("ix_member_orders_member_completed", "member_id", "completed_at"),
    )

    order_id: str = Field(primary_key=True, max_length=100)
    member_id: str = Field(max_length=36)
    status: str = Field(max_length=20)
    benefits: str = Field(max_length=20)
    coupon_code: str | None = Field(default=None, max_length=20)
    points: int = big_integer(default=0)
    currency: str = Field(max_length=3)
    # CNY minor units counted towards the tier (0 once refunded).
    spend: int = big_integer(default=0)
    points_earned: int = big_integer(default=0)
    completed_at: datetime | None = utc_timestamp(nullable=True)
    created_at: datetime = utc_timestamp()
    updated_at: datetime = utc_timestamp()


MEMBERS = table_of(MemberRow)
SIGNING_KEYS = table_of(SigningKeyRow)
REFRESH_TOKENS = table_of(RefreshTokenRow)
COUPONS = table_of(CouponRow)
LEDGER = table_of(PointsLedgerRow)
LOTS = table_of(PointsLotRow)
MEMBER_ORDERS = table_of(MemberOrderRow)

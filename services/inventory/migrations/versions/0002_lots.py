"""lots, allocations and recalls; the movement ledger names lots; reservations keep the member

Existing stock becomes each SKU's implicit lot (DEFAULT), and the units held by existing
reservations become allocations of that lot, so nothing that was reserved or committed is lost.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_KINDS_BEFORE = "kind IN ('RECEIVE', 'ADJUST', 'RESERVE', 'COMMIT', 'RELEASE')"
_KINDS = "kind IN ('RECEIVE', 'ADJUST', 'RESERVE', 'COMMIT', 'RELEASE', 'WITHDRAW', 'REALLOCATE')"


def _at(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "lots",
        sa.Column("sku", sa.String(64), primary_key=True),
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("origin_country", sa.String(2), nullable=True),
        sa.Column("origin_region", sa.String(100), nullable=True),
        sa.Column("producer", sa.String(200), nullable=True),
        sa.Column("production_date", sa.Date(), nullable=True),
        sa.Column("expiry_date", sa.Date(), nullable=True),
        sa.Column("storage_class", sa.String(10), nullable=False),
        sa.Column("inspection_ref", sa.String(100), nullable=True),
        _at("inspected_at"),
        _at("received_at", nullable=False),
        _at("expiring_notified_at"),
        _at("withdrawn_at"),
        _at("updated_at", nullable=False),
        sa.CheckConstraint("on_hand >= 0", name="ck_lots_on_hand_not_negative"),
        sa.CheckConstraint("reserved >= 0", name="ck_lots_reserved_not_negative"),
        sa.CheckConstraint("reserved <= on_hand", name="ck_lots_reserved_within_on_hand"),
        sa.CheckConstraint(
            "status IN ('SELLABLE', 'EXPIRED', 'QUARANTINED')", name="ck_lots_status"
        ),
        sa.CheckConstraint(
            "storage_class IN ('AMBIENT', 'CHILLED', 'FROZEN')", name="ck_lots_storage_class"
        ),
    )
    op.create_index("ix_lots_status_expiry_date", "lots", ["status", "expiry_date"])
    op.create_table(
        "allocations",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.String(100), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("lot", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("trace_code", sa.String(32), nullable=True, unique=True),
        sa.Column("member_id", sa.String(100), nullable=True),
        sa.Column("product_name", sa.String(200), nullable=True),
        sa.Column("reason", sa.String(50), nullable=True),
        _at("reserved_at", nullable=False),
        _at("committed_at"),
        _at("shipped_at"),
        _at("delivered_at"),
        _at("returned_at"),
        _at("updated_at", nullable=False),
        sa.CheckConstraint("quantity > 0", name="ck_allocations_quantity_positive"),
        sa.CheckConstraint(
            "status IN ('HELD', 'COMMITTED', 'RELEASED', 'MOVED', 'WITHDRAWN')",
            name="ck_allocations_status",
        ),
    )
    op.create_index("ix_allocations_order_id", "allocations", ["order_id"])
    op.create_index("ix_allocations_sku_lot", "allocations", ["sku", "lot"])
    op.create_table(
        "recalls",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("lot", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("quarantined", sa.Integer(), nullable=False),
        sa.Column("recalled_by", sa.String(100), nullable=False),
        _at("recalled_at", nullable=False),
        _at("finished_at"),
        sa.UniqueConstraint("sku", "lot", name="uq_recalls_sku_lot"),
    )
    with op.batch_alter_table("stock_movements") as movements:
        movements.add_column(sa.Column("lot", sa.String(64), nullable=True))
        movements.drop_constraint("ck_stock_movements_kind", type_="check")
        movements.create_check_constraint("ck_stock_movements_kind", _KINDS)
    with op.batch_alter_table("reservations") as reservations:
        reservations.add_column(sa.Column("member_id", sa.String(100), nullable=True))
    _backfill()


def _backfill() -> None:
    """Each SKU's stock becomes its implicit lot; held and committed units become allocations."""
    op.execute(
        "INSERT INTO lots (sku, code, status, on_hand, reserved, received, storage_class,"
        " received_at, updated_at)"
        " SELECT sku, 'DEFAULT', 'SELLABLE', on_hand, reserved, on_hand, 'AMBIENT',"
        " updated_at, updated_at FROM stock"
    )
    connection = op.get_bind()
    reservations = sa.table(
        "reservations",
        sa.column("order_id", sa.String),
        sa.column("status", sa.String),
        sa.column("lines", sa.JSON),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    allocations = sa.table(
        "allocations",
        sa.column("order_id", sa.String),
        sa.column("sku", sa.String),
        sa.column("lot", sa.String),
        sa.column("quantity", sa.Integer),
        sa.column("status", sa.String),
        sa.column("reserved_at", sa.DateTime(timezone=True)),
        sa.column("committed_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    held = {"RESERVED": "HELD", "COMMITTED": "COMMITTED"}
    rows = connection.execute(
        sa.select(reservations).where(reservations.c.status.in_(list(held)))
    ).all()
    values = [
        {
            "order_id": row.order_id,
            "sku": line["sku"],
            "lot": "DEFAULT",
            "quantity": line["quantity"],
            "status": held[row.status],
            "reserved_at": row.created_at,
            "committed_at": row.updated_at if row.status == "COMMITTED" else None,
            "updated_at": row.updated_at,
        }
        for row in rows
        for line in row.lines
    ]
    if values:
        connection.execute(sa.insert(allocations), values)


def downgrade() -> None:
    with op.batch_alter_table("reservations") as reservations:
        reservations.drop_column("member_id")
    op.execute("DELETE FROM stock_movements WHERE kind IN ('WITHDRAW', 'REALLOCATE')")
    with op.batch_alter_table("stock_movements") as movements:
        movements.drop_constraint("ck_stock_movements_kind", type_="check")
        movements.create_check_constraint("ck_stock_movements_kind", _KINDS_BEFORE)
        movements.drop_column("lot")
    op.drop_table("recalls")
    op.drop_table("allocations")
    op.drop_table("lots")

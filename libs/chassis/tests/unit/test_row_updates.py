"""`update_by_key`: one row's columns set by its key, from bind parameters named by
`update_params`."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from chassis.row_updates import update_by_key, update_params

ITEMS = sa.Table(
    "items",
    sa.MetaData(),
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("amount", sa.Integer, nullable=False),
    sa.Column("note", sa.String),
)
_SAVE = update_by_key(ITEMS, "id", "status", "amount")


def test_the_statement_sets_the_columns_of_the_row_by_its_key() -> None:
    assert str(_SAVE.compile()) == (
        "UPDATE items SET status=:b_status, amount=:b_amount WHERE items.id = :b_id"
    )


def test_the_params_name_the_columns() -> None:
    assert update_params(id="a", status="PAID") == {"b_id": "a", "b_status": "PAID"}


def test_it_updates_the_one_row_and_runs_as_executemany() -> None:
    engine = sa.create_engine("sqlite://")
    with engine.begin() as connection:
        ITEMS.metadata.create_all(connection)
        rows = [{"id": i, "status": "NEW", "amount": 1, "note": i} for i in ("a", "b", "c")]
        connection.execute(sa.insert(ITEMS), rows)
        one = connection.execute(_SAVE, update_params(id="a", status="PAID", amount=5))
        assert one.rowcount == 1
        connection.execute(
            _SAVE,
            [
                update_params(id="b", status="SHIPPED", amount=6),
                update_params(id="c", status="LOST", amount=7),
            ],
        )
        read = connection.execute(sa.select(ITEMS).order_by(ITEMS.c.id)).all()
    engine.dispose()
    assert [tuple(r) for r in read] == [
        ("a", "PAID", 5, "a"),
        ("b", "SHIPPED", 6, "b"),
        ("c", "LOST", 7, "c"),
    ]


def test_an_unknown_key_is_refused_when_built() -> None:
    with pytest.raises(KeyError):
        update_by_key(ITEMS, "code", "status")

"""The suite's invariants (README, "Reliability"), checked on the services' own databases
after the run (the SQL of `tools.invariants`, which the end-to-end tests use too), plus
compensation counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.databases import Databases
from chassis.testing.polling import eventually
from tools.invariants import CONFIRMED, TERMINAL, VIOLATIONS


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


async def no_lost_order(dbs: Databases, accepted: Sequence[str], grace: float) -> Check:
    """Every order that got a 2xx is in the order database in a terminal state within
    `grace` seconds."""
    sql = "SELECT count(*) FROM orders WHERE id = ANY($1::text[]) AND status = ANY($2::text[])"
    ids = list(accepted)
    done = await eventually(
        lambda: dbs.scalar("order", sql, ids, sorted(TERMINAL)), lambda n: n == len(ids), grace
    )
    detail = f"{done} of {len(accepted)} accepted orders terminal"
    return Check("no lost order (every 2xx order terminal)", done == len(accepted), detail)


async def effects_agree(dbs: Databases, grace: float) -> Check:
    """Every confirmed order holds committed stock and a capture, nothing else does: the
    three services' counts meet (capture and commit follow the confirmation)."""
    counts = await eventually(
        lambda: outcome_counts(dbs), lambda c: len(set(c.values())) == 1, grace
    )
    detail = ", ".join(f"{k}={v}" for k, v in counts.items())
    return Check("confirmed = committed = captured", len(set(counts.values())) == 1, detail)


async def outcome_counts(dbs: Databases) -> dict[str, int]:
    return {
        "confirmed orders": await dbs.scalar(
            "order", "SELECT count(*) FROM orders WHERE status = ANY($1::text[])", list(CONFIRMED)
        ),
        "committed reservations": await dbs.scalar(
            "inventory", "SELECT count(*) FROM reservations WHERE status = 'COMMITTED'"
        ),
        "captured intents": await dbs.scalar(
            "payment", "SELECT count(*) FROM payment_intents WHERE status = 'CAPTURED'"
        ),
    }


async def check_all(dbs: Databases, accepted: Sequence[str], grace: float) -> list[Check]:
    checks = [await no_lost_order(dbs, accepted, grace), await effects_agree(dbs, grace)]
    for service, name, sql in VIOLATIONS:
        broken = await dbs.scalar(service, sql)
        checks.append(Check(name, broken == 0, f"{broken} rows break it"))
    return checks


async def compensations(dbs: Databases, order_ids: Sequence[str]) -> dict[str, int]:
    """Steps undone for these orders: stock released, authorizations voided or refunded."""
    ids = list(order_ids)
    released = await dbs.scalar(
        "inventory",
        "SELECT count(*) FROM reservations WHERE status = 'RELEASED' AND order_id = ANY($1)",
        ids,
    )
    voided = await dbs.scalar(
        "payment",
        "SELECT count(*) FROM payment_intents "
        "WHERE status IN ('VOIDED', 'REFUNDED') AND order_id = ANY($1)",
        ids,
    )
    return {"released": released, "voided": voided}

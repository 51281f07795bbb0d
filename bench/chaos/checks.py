"""After each fault: drain, then judge. The suite's invariants (bench.invariants over
tools.invariants' SQL), the outboxes empty, effects applied once (in the databases and as
announced on the topics), and the dead-letter topics holding the poison records, only them."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

from bench.chaos.faults import POISON_HEADER, Injected
from bench.chaos.subscriber import EventSubscriber
from bench.databases import ServiceDatabases
from bench.invariants import Check, check_all, no_lost_order
from chassis.dlq import read_dead_letters
from chassis.testing.polling import eventually
from shared_events.topics import ALL_TOPICS
from tools.invariants import DRAINED, EFFECTS_ONCE


async def drain(dbs: ServiceDatabases, accepted: Sequence[str], timeout: float) -> float:
    """Wait (at most `timeout`) until every accepted order is terminal and every outbox empty;
    the seconds it took."""
    started = time.perf_counter()
    await no_lost_order(dbs, accepted, timeout)
    left = max(timeout - (time.perf_counter() - started), 1.0)
    await eventually(lambda: unsent(dbs), lambda n: n == 0, left, every=0.5)
    return time.perf_counter() - started


async def unsent(dbs: ServiceDatabases) -> int:
    return sum([await dbs.scalar(service, sql) for service, _, sql in DRAINED])


async def outbox_checks(dbs: ServiceDatabases) -> list[Check]:
    checks = []
    for service, name, sql in DRAINED:
        stuck = await dbs.scalar(service, sql)
        checks.append(Check(f"{name} ({service})", stuck == 0, f"{stuck} unsent rows"))
    return checks


async def dead_letters(bootstrap: str) -> list[dict[str, str]]:
    """Every record on every `<topic>.dlq`, from the beginning, as its headers (read the way
    `python -m chassis.dlq list` reads them: no group, nothing committed)."""
    return [
        {name: value.decode(errors="replace") for name, value in letter.headers}
        for topic in ALL_TOPICS
        for letter in await read_dead_letters(bootstrap, topic)
    ]


def dead_letter_check(records: list[dict[str, str]], injected: Injected) -> tuple[Check, int]:
    """(check, records that are not poison): every poison record dead-lettered (by at least
    one consumer group, each group at most once) and nothing else there."""
    poison = Counter(
        (r[POISON_HEADER], r.get("dlq_consumer")) for r in records if POISON_HEADER in r
    )
    others = [r for r in records if POISON_HEADER not in r]
    missing = set(injected.poison) - {poison_id for poison_id, _ in poison}
    twice = sum(1 for n in poison.values() if n > 1)
    detail = (
        f"{len(injected.poison)} poison injected, {len(poison)} dead-lettered (per group), "
        f"{len(missing)} missing, {twice} twice, {len(others)} other records"
    )
    if others:
        detail += ": " + "; ".join(
            f"{r.get('dlq_consumer')} {r.get('ce_type')} {r.get('dlq_error', '')[:120]}"
            for r in others[:3]
        )
    return Check(
        "the poison records, only them, in the DLQs",
        not missing and not twice and not others,
        detail,
    ), len(others)


async def judge(
    dbs: ServiceDatabases,
    accepted: Sequence[str],
    subscriber: EventSubscriber,
    bootstrap: str,
    injected: Injected,
    grace: float,
) -> tuple[list[Check], int]:
    """(every check, effects applied twice): the database rules about effects applied once
    and the events announced twice under different ids."""
    checks = await check_all(dbs, accepted, grace)
    checks += await outbox_checks(dbs)
    dlq, _ = dead_letter_check(await dead_letters(bootstrap), injected)
    checks.append(dlq)
    twice = subscriber.effects_twice()
    detail = ", ".join(f"{kind} {n}" for kind, n in sorted(twice.items())) or "none"
    checks.append(Check("each saga event once per order (distinct ce_id)", not twice, detail))
    rows = [await dbs.scalar(service, sql) for service, _, sql in EFFECTS_ONCE]
    return checks, sum(twice.values()) + sum(rows)

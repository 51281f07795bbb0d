"""The faults, each a small class whose `inject()` returns once the fault is over (the service
killed, the broker resumed, the server back): recovery is measured from that moment.

Nothing here restarts a killed service: that is the launcher's job (`tools.suite`), and the
kill fault exists to find out whether it does it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import httpx

from bench.chaos.servers import PrivatePostgres, PrivateRedis
from bench.chaos.subscriber import EventSubscriber, Seen
from chassis.producer import EventProducer
from shared_events.topics import (
    CATALOG_EVENTS,
    INVENTORY_EVENTS,
    MEMBERSHIP_EVENTS,
    ORDER_EVENTS,
    PAYMENT_EVENTS,
)
from tools.launched import LaunchedSuite
from tools.processes import exit_status

POISON_HEADER = "chaos_poison"  # carried into the dead-letter record with the others
# Every topic some service consumes, with an event type its consumers act on: a poison record
# of that type passes the envelope check and fails on its data instead.
CONSUMED = {
    CATALOG_EVENTS: "catalog.product.created",
    INVENTORY_EVENTS: "inventory.stock.reserved",
    ORDER_EVENTS: "order.order.placed",
    PAYMENT_EVENTS: "payment.payment.authorized",
    MEMBERSHIP_EVENTS: "membership.member.registered",
}


class FaultError(RuntimeError):
    """The fault could not be carried out, or the suite did not survive it."""


@dataclass
class Injected:
    """What the faults put on the topics, for the checks: poison ids, duplicated records."""

    poison: dict[str, str] = field(default_factory=dict)  # poison id -> topic
    duplicated: Counter[str] = field(default_factory=Counter)  # topic -> records re-produced
    seen: Counter[str] = field(default_factory=Counter)  # topic -> records seen meanwhile

    def totals(self) -> dict[str, int]:
        """Running totals, for what one run added."""
        return {
            "poison records": len(self.poison),
            "records duplicated": sum(self.duplicated.values()),
            "records seen while duplicating": sum(self.seen.values()),
        }


@dataclass
class Target:
    """What a fault acts on."""

    suite: LaunchedSuite
    postgres: PrivatePostgres
    redis: PrivateRedis
    subscriber: EventSubscriber
    producer: EventProducer
    injected: Injected
    session_timeout_s: float


class Fault(Protocol):
    name: str

    async def inject(self, target: Target) -> None: ...


@dataclass
class Kill:
    """SIGKILL one service; over once the launcher has started it again and it is ready."""

    service: str
    restart_timeout: float = 90.0

    @property
    def name(self) -> str:
        return f"SIGKILL {self.service}"

    async def inject(self, target: Target) -> None:
        suite = target.suite
        pid = service_pid(target, self.service)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + self.restart_timeout
        async with httpx.AsyncClient(timeout=2, trust_env=False) as http:
            while time.monotonic() < deadline:
                if suite.process is not None and exit_status(suite.process) is not None:
                    raise FaultError(f"the launcher exited after {self.service} was killed")
                again = suite.pids().get(self.service)
                if again not in (None, pid) and await ready(http, suite.urls[self.service]):
                    return
                await asyncio.sleep(0.2)
        raise FaultError(f"{self.service} was not restarted within {self.restart_timeout:.0f} s")


async def ready(http: httpx.AsyncClient, url: str) -> bool:
    try:
        return (await http.get(f"{url}/readyz")).status_code == 200
    except httpx.HTTPError:
        return False


def service_pid(target: Target, service: str) -> int:
    pid = target.suite.pids().get(service)
    if pid is None:
        raise FaultError(f"{service} is not running")
    return pid


def send(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # a process that ended meanwhile
            os.kill(pid, sig)


async def stopped(pids: list[int], seconds: float) -> None:
    """SIGSTOP the processes, wait, SIGCONT them (also when the wait is cancelled): alive, with
    their sockets open, and answering nothing meanwhile."""
    try:
        send(pids, signal.SIGSTOP)
        await asyncio.sleep(seconds)
    finally:
        send(pids, signal.SIGCONT)


@dataclass
class BrokerPause:
    """SIGSTOP the broker for longer than the consumers' session timeout, then SIGCONT: every
    group's members have expired by the time it answers again."""

    name: str = "broker SIGSTOP"
    factor: float = 1.5  # of the session timeout

    async def inject(self, target: Target) -> None:
        await stopped([service_pid(target, "broker")], target.session_timeout_s * self.factor)


@dataclass
class Hang:
    """SIGSTOP one service for `stopped_seconds`, then SIGCONT: a process that is alive but does
    nothing (a long GC pause, a stuck host), longer than its consumer's session, so the broker
    gives its partitions to no one until it comes back and finds its generation over."""

    service: str
    stopped_seconds: float = 10.0

    @property
    def name(self) -> str:
        return f"SIGSTOP {self.service} {self.stopped_seconds:g} s"

    async def inject(self, target: Target) -> None:
        await stopped([service_pid(target, self.service)], self.stopped_seconds)


@dataclass
class PostgresRestart:
    """Stop the private PostgreSQL (every connection dropped), keep it down, start it again."""

    name: str = "PostgreSQL restart"
    down_seconds: float = 5.0

    async def inject(self, target: Target) -> None:
        await asyncio.to_thread(target.postgres.stop, "fast")
        await asyncio.sleep(self.down_seconds)
        await asyncio.to_thread(target.postgres.start)


@dataclass
class PostgresHang:
    """SIGSTOP the private PostgreSQL, its postmaster and every backend (connections and
    statements in flight get no answer, new connections wait in the listen queue, as behind a
    network partition), keep it stopped, then SIGCONT."""

    name: str = "PostgreSQL hung 5 s"
    stopped_seconds: float = 5.0

    async def inject(self, target: Target) -> None:
        postmaster = target.postgres.postmaster()
        if postmaster is None:
            raise FaultError("the private PostgreSQL is not running")
        # The postmaster first, so that no backend is forked after the others were listed.
        try:
            send([postmaster], signal.SIGSTOP)
            try:
                children = target.postgres.children(postmaster)
            except OSError as exc:  # a postmaster.pid left by a server that is gone
                raise FaultError(f"PostgreSQL's postmaster {postmaster} is not running") from exc
            await stopped(children, self.stopped_seconds)
        finally:
            send([postmaster], signal.SIGCONT)


@dataclass
class RedisDown:
    """Stop the private Redis, keep it down, start it again on the same port (empty)."""

    name: str = "Redis down 10 s"
    down_seconds: float = 10.0

    async def inject(self, target: Target) -> None:
        await asyncio.to_thread(target.redis.stop)
        await asyncio.sleep(self.down_seconds)
        await asyncio.to_thread(target.redis.start)


@dataclass
class RedisHang:
    """SIGSTOP the private Redis (it takes connections and answers nothing, as behind a network
    partition), keep it stopped, then SIGCONT."""

    name: str = "Redis hung 10 s"
    stopped_seconds: float = 10.0

    async def inject(self, target: Target) -> None:
        process = target.redis.process
        if process is None:
            raise FaultError("the private Redis is not running")
        await stopped([process.pid], self.stopped_seconds)


@dataclass
class Duplicate:
    """For `seconds`, re-produce a random `share` of the records seen on each domain topic,
    unchanged (key, value and every header, `ce_id` included), as a producer retry would."""

    name: str = "10% duplicated"
    share: float = 0.10
    seconds: float = 6.0
    every: float = 1.0

    async def inject(self, target: Target) -> None:
        candidates: defaultdict[str, list[Seen]] = defaultdict(list)  # not duplicated yet
        seen: Counter[str] = Counter()
        done: Counter[str] = Counter()
        target.subscriber.new_window()
        deadline = time.monotonic() + self.seconds
        while True:
            await asyncio.sleep(self.every)
            last = time.monotonic() >= deadline
            window, target.subscriber.window = target.subscriber.window, []
            for record in window:
                if not any(name == POISON_HEADER for name, _ in record.headers):
                    candidates[record.topic].append(record)
                    seen[record.topic] += 1
            for topic, records in candidates.items():
                # Spread over the window: `share` of everything seen so far, in all.
                due = int(seen[topic] * self.share + (0.5 if last else 0)) - done[topic]
                for record in random.sample(records, min(max(due, 0), len(records))):
                    records.remove(record)
                    await target.producer.send_raw(
                        topic, record.value, record.key, list(record.headers)
                    )
                    done[topic] += 1
            if last:
                break
        target.injected.duplicated.update(done)
        target.injected.seen.update(seen)


@dataclass
class Poison:
    """Per consumed topic, `per_topic` records that are not valid envelopes and as many valid
    envelopes whose data fails validation: each must end in `<topic>.dlq`, and nothing else."""

    name: str = "poison records"
    per_topic: int = 2

    async def inject(self, target: Target) -> None:
        for topic, event_type in CONSUMED.items():
            for i in range(self.per_topic * 2):
                poison_id = str(uuid.uuid4())
                headers = [(POISON_HEADER, poison_id.encode())]
                value = b"\x00not json at all"
                if i % 2:  # a valid envelope around data that no handler accepts
                    headers += envelope_headers(event_type, poison_id)
                    value = json.dumps({"poison": True}).encode()
                await target.producer.send_raw(topic, value, poison_id.encode(), headers)
                target.injected.poison[poison_id] = topic


def envelope_headers(event_type: str, subject: str) -> list[tuple[str, bytes]]:
    attributes = {
        "id": str(uuid.uuid4()),
        "source": "/chaos/poison",
        "specversion": "1.0",
        "type": event_type,
        "time": datetime.now(UTC).isoformat(),
        "subject": subject,
        "datacontenttype": "application/json",
        "dataschema": f"https://schemas.commerce-suite.dev/events/{event_type}/v1.json",
    }
    return [(f"ce_{name}", value.encode()) for name, value in attributes.items()]


def all_faults(services: list[str]) -> dict[str, Fault]:
    """Every fault by its short name (the --faults option): kill-<service>, hang-<service>,
    broker, postgres, postgres-hang, redis, redis-hang, duplicate, poison."""
    faults: dict[str, Fault] = {f"kill-{s}": Kill(s) for s in services}
    faults |= {f"hang-{s}": Hang(s) for s in services}
    faults |= {
        "broker": BrokerPause(),
        "postgres": PostgresRestart(),
        "postgres-hang": PostgresHang(),
        "redis": RedisDown(),
        "redis-hang": RedisHang(),
        "duplicate": Duplicate(),
        "poison": Poison(),
    }
    return faults

"""CPU time per storefront view (`GET /api/v1/products/{id}`) in the catalog, with and without
the view's analytics fact (`catalog.product.viewed`, sent by chassis.beacon).

The catalog runs in this process (its real lifespan, httpx's ASGI transport, no sockets) on a
scratch PostgreSQL database, the local Redis and a broker (KAFKA_BOOTSTRAP_SERVERS, else the
embedded one on a free port). Each phase makes N GETs of one published, cached product, one at
a time, and prints the process CPU time per GET; the phases with the fact include the beacon's
rendering and sending of every fact (the phase ends once all N are acknowledged). The phases
run in turn for several rounds (the first warms up), and the best round of each is compared:
on a shared machine the least disturbed run is the closest to the cost. Prints figures;
asserts nothing.

    uv run --frozen python services/catalog/tests/bench/view_cpu.py [-n 2000] [--rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from catalog_service.config import CatalogSettings
from catalog_service.deps import CatalogRuntime
from catalog_service.main import create_app
from chassis.beacon import Sender
from chassis.logging import configure_logging
from chassis.producer import OutgoingRecord
from chassis.testing import infra
from chassis.testing.handler_cpu import scratch_database
from chassis.testing.tokens import TestTokenIssuer, bearer
from shared_events import EventPayload

# (name, with a member token, with the view fact)
PHASES = [
    ("no view fact, anonymous", False, False),
    ("view fact, anonymous", False, True),
    ("no view fact, member", True, False),
    ("view fact, member", True, True),
]


@asynccontextmanager
async def broker() -> AsyncIterator[str]:
    if bootstrap := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield bootstrap
        return
    with infra.embedded_broker() as embedded:
        yield embedded


class Acknowledged:
    """The beacon's producer, telling when `expected` facts have been acknowledged (polling the
    metrics registry instead would cost more CPU than the facts)."""

    def __init__(self, producer: Sender) -> None:
        self.producer = producer
        self.count = 0
        self.expected = 0
        self.done = asyncio.Event()

    def expect(self, n: int) -> None:
        self.count, self.expected = 0, n
        self.done.clear()

    async def send_batch(self, records: list[OutgoingRecord]) -> None:
        await self.producer.send_batch(records)
        self.count += len(records)
        if self.count >= self.expected:
            self.done.set()


async def phase(
    name: str,
    http: httpx.AsyncClient,
    path: str,
    n: int,
    headers: dict[str, str],
    acknowledged: Acknowledged | None,
) -> float:
    """N GETs one at a time; the process CPU per GET, with the beacon's sends of their facts
    when `acknowledged` is given (the phase ends once all N are acknowledged)."""
    if acknowledged is not None:
        acknowledged.expect(n)
    started, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        response = await http.get(path, headers=headers)
        assert response.status_code == 200, response.text
    if acknowledged is not None:
        await acknowledged.done.wait()
    cpu = (time.process_time() - started) / n
    wall_ms = (time.perf_counter() - wall) * 1000 / n
    print(f"  {name:<32} {cpu * 1e6:8.0f} µs CPU per GET  ({wall_ms:.2f} ms wall)")
    return cpu


async def main(n: int, rounds: int) -> None:
    configure_logging("catalog", level="WARNING")
    issuer = TestTokenIssuer()
    jwks_url = issuer.serve_jwks()
    async with scratch_database("bench_catalog") as database_url, broker() as bootstrap:
        settings = CatalogSettings(
            database_url=database_url,
            kafka_bootstrap_servers=bootstrap,
            redis_key_prefix=f"bench-{uuid.uuid4().hex[:8]}:",
            jwks_url=jwks_url,
            environment="test",
            log_level="WARNING",
        )
        app = create_app(settings)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://catalog"
            ) as http,
        ):
            runtime: CatalogRuntime = app.state.runtime
            admin = bearer(issuer.admin_token())
            body = {
                "name": "Oolong",
                "category": "tea",
                "skus": [{"sku": "BENCH-1", "price": {"amount": 4200, "currency": "CNY"}}],
                "food": {"shelf_life_days": 540, "storage_class": "AMBIENT"},
            }
            created = await http.post("/api/v1/admin/products", json=body, headers=admin)
            product_id = created.json()["id"]
            await http.post(f"/api/v1/admin/products/{product_id}/publish", headers=admin)
            path = f"/api/v1/products/{product_id}"
            member = bearer(issuer.token())
            beacon = runtime.state.beacon
            emit = beacon.emit
            acknowledged = Acknowledged(beacon.producer)
            beacon.producer = acknowledged

            def no_fact(payload: EventPayload, *, subject: str) -> None:
                return None

            print(f"catalog GET {path}, {n} per phase, one at a time")
            best: dict[str, float] = {}
            for round_ in range(rounds + 1):
                print(f"round {round_}" + (" (warm-up)" if round_ == 0 else ""))
                for name, as_member, fact in PHASES:
                    beacon.emit = emit if fact else no_fact  # type: ignore[method-assign]
                    headers = member if as_member else {}
                    cpu = await phase(name, http, path, n, headers, acknowledged if fact else None)
                    if round_:
                        best[name] = min(cpu, best.get(name, cpu))
            beacon.emit = emit  # type: ignore[method-assign]
            print("best round of each phase:")
            for name, cpu in best.items():
                print(f"  {name:<32} {cpu * 1e6:8.0f} µs CPU per GET")
            anonymous = best["view fact, anonymous"] - best["no view fact, anonymous"]
            members = best["view fact, member"] - best["no view fact, member"]
            print(
                f"the fact costs {anonymous * 1e6:.0f} µs CPU per anonymous view, "
                f"{members * 1e6:.0f} µs per member's view"
            )
    issuer.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=2000, help="GETs per phase")
    parser.add_argument("--rounds", type=int, default=4, help="measured rounds after a warm-up")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.rounds))

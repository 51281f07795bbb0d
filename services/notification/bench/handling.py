"""CPU time of notification's handling of N events, on real PostgreSQL and a real SMTP server.

    cd /work/main && uv run --frozen python services/notification/bench/handling.py [N] >/dev/null

(the service's log lines go to stdout; the figures are printed on stderr). It creates a
throwaway database (Redis keys under a prefix of the same name), registers 100 members
(some with stored preferences) and three webhook subscriptions to event types that are not
in the stream, then times, with
`time.process_time()`:

- handling: N `order.order.confirmed` events through the chassis consumer, one by one (the
  inbox claim, the preferences, the subscriptions, the recipient, the delivery rows);
- dispatch: the dispatch job's rounds until every resulting email was taken by the SMTP
  server (aiosmtpd's sink, in a process of its own so its CPU is not counted).
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import sys
import time
import uuid
from datetime import UTC, datetime

from sqlmodel import col, func, select

from chassis.logging import configure_logging
from chassis.testing.handler_cpu import scratch_database
from chassis.testing.harness import Harness, offline_runtime
from chassis.testing.infra import LOCAL_POSTGRES, free_port
from notification_service.config import MIGRATIONS_DIR, NotificationSettings
from notification_service.deps import NotificationRuntime
from notification_service.domain.channels import Channel
from notification_service.handlers import CONSUMERS
from notification_service.main import build_state
from notification_service.service.dispatch import send_due
from notification_service.tables import DeliveryRow, PreferenceRow, WebhookSubscriptionRow
from shared_events import EventPayload
from shared_events.membership import MemberRegisteredV1
from shared_events.money import Money
from shared_events.order import OrderConfirmedV1

ADMIN_DSN = os.environ.get("BENCH_POSTGRES", LOCAL_POSTGRES)
MEMBERS = 100


async def wait_for_port(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise RuntimeError("the SMTP sink did not start")


async def main(events: int, profile: str | None = None) -> None:
    smtp_port = free_port()
    sink = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink"],
        *["-l", f"127.0.0.1:{smtp_port}"],
    )
    try:
        await wait_for_port(smtp_port)
        async with scratch_database("bench_notification", ADMIN_DSN) as url:
            name = url.rsplit("/", 1)[-1]
            settings = NotificationSettings(
                database_url=url, smtp_port=smtp_port, redis_key_prefix=f"{name}:"
            )
            configure_logging("notification", settings.log_level, settings.log_json)
            async with offline_runtime(settings, None, migrations=MIGRATIONS_DIR) as runtime:
                # As the app does: the cache follows the change feed in Redis, real channels.
                runtime.state = state = await build_state(runtime)
                try:
                    await run(runtime, Harness.of(runtime, CONSUMERS), events, profile)
                finally:
                    await state.close()
    finally:
        sink.terminate()
        await sink.wait()


async def run(
    runtime: NotificationRuntime,
    harness: Harness[NotificationRuntime],
    events: int,
    profile: str | None,
) -> None:
    database, state = runtime.database, runtime.state

    async def deliver(payload: EventPayload, subject: str) -> None:
        await harness.deliver(payload, subject=subject)
        assert harness.outcomes[-1] == "handled", harness.outcomes[-1]

    members = [f"m-{i:03d}" for i in range(MEMBERS)]
    for member in members:
        await deliver(
            MemberRegisteredV1(
                member_id=member,
                email=f"{member}@example.com",
                name="Ada",
                locale="en" if int(member[2:]) % 2 else "zh-CN",
                registered_at=datetime.now(UTC),
            ),
            member,
        )
    async with database.transaction() as session:
        for member in members[::3]:
            session.add(PreferenceRow(member_id=member, sms=False, updated_at=datetime.now(UTC)))
        for n in range(3):
            session.add(
                WebhookSubscriptionRow(
                    id=str(uuid.uuid4()),
                    url=f"http://127.0.0.1:9/hook-{n}",
                    events=["inventory.stock.low"],
                    secret="whsec_bench",  # noqa: S106 (a made-up secret)
                    created_at=datetime.now(UTC),
                )
            )

    async def pending() -> int:
        async with database.sessions() as session:
            query = select(func.count()).select_from(DeliveryRow)
            query = query.where(col(DeliveryRow.status).in_(["PENDING", "RETRY"]))
            return int((await session.exec(query)).one())

    async def drain() -> tuple[float, float]:
        cpu, wall = time.process_time(), time.perf_counter()
        while await pending():
            if not await send_due(runtime):
                await asyncio.sleep(0.01)
        return time.process_time() - cpu, time.perf_counter() - wall

    await drain()  # the welcome-less registrations queue nothing; warms the pool anyway
    amount = Money(amount=12_600, currency="CNY")
    payloads = [
        OrderConfirmedV1(order_id=f"o-{n}", member_id=members[n % MEMBERS], total=amount)
        for n in range(events)
    ]
    profiler = cProfile.Profile() if profile else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    for payload in payloads:
        await deliver(payload, payload.order_id)
    if profiler:
        profiler.disable()
        profiler.dump_stats(f"{profile}.handling")
    handle_cpu, handle_wall = time.process_time() - cpu, time.perf_counter() - wall

    dispatch_cpu, dispatch_wall = await drain()
    async with database.sessions() as session:
        sent = (
            await session.exec(
                select(func.count())
                .select_from(DeliveryRow)
                .where(col(DeliveryRow.status) == "SENT")
            )
        ).one()
    out = sys.stderr
    print(f"events handled: {events}, emails sent: {sent}", file=out)
    print(
        f"handling: {handle_cpu:.2f} s CPU ({handle_cpu / events * 1000:.2f} ms/event), "
        f"{handle_wall:.2f} s wall",
        file=out,
    )
    print(
        f"dispatch: {dispatch_cpu:.2f} s CPU ({dispatch_cpu / max(sent, 1) * 1000:.2f} "
        f"ms/email), {dispatch_wall:.2f} s wall",
        file=out,
    )
    print(f"total: {handle_cpu + dispatch_cpu:.2f} s CPU", file=out)
    print(f"cache: {state.cache.hits} hits, {state.cache.misses} misses", file=out)
    print(f"SMTP connections opened: {state.channels[Channel.EMAIL].connects}", file=out)


if __name__ == "__main__":
    # BENCH_PROFILE=/tmp/x writes a cProfile of the handling to /tmp/x.handling
    asyncio.run(
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 500, os.environ.get("BENCH_PROFILE"))
    )

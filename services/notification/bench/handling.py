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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from sqlmodel import col, func, select

from chassis.cache import create_redis
from chassis.consumer import ConsumerRunner
from chassis.db import Database
from chassis.logging import configure_logging
from chassis.migrations import upgrade_async
from chassis.outbox import Outbox
from chassis.runtime import Runtime
from chassis.testing.infra import free_port
from notification_service import service
from notification_service.channels import default_channels
from notification_service.config import MIGRATIONS_DIR, NotificationSettings
from notification_service.consumers import consumers
from notification_service.domain import Channel
from notification_service.rendering import Renderer
from notification_service.service import Dispatcher, Notifier
from notification_service.tables import DeliveryRow, PreferenceRow, WebhookSubscriptionRow
from shared_events import EventPayload, registry, to_kafka
from shared_events.membership import MemberRegisteredV1
from shared_events.money import Money
from shared_events.order import OrderConfirmedV1

ADMIN_DSN = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
MEMBERS = 100


@dataclass
class Record:
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    topic: str = "t"
    partition: int = 0
    offset: int = 0


def record_of(payload: EventPayload, subject: str) -> Record:
    kafka = to_kafka(registry.envelope(payload, subject=subject, id=uuid.uuid4()))
    return Record(kafka.key, kafka.value, kafka.headers)


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
    name = f"bench_notification_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_DSN.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0]
    url = f"{url}/{name}"
    smtp_port = free_port()
    sink = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink"],
        *["-l", f"127.0.0.1:{smtp_port}"],
    )
    database: Database | None = None
    runtime: Runtime | None = None
    try:
        await wait_for_port(smtp_port)
        await upgrade_async(MIGRATIONS_DIR, url)
        settings = NotificationSettings(
            database_url=url, smtp_port=smtp_port, redis_key_prefix=f"{name}:"
        )
        configure_logging("notification", settings.log_level, settings.log_json)
        database = Database(url)
        outbox = Outbox("/services/notification")
        runtime = Runtime(
            settings=settings,
            database=database,
            redis=create_redis(settings.redis_url),
            producer=None,  # type: ignore[arg-type]
            outbox=outbox,
            relay=None,  # type: ignore[arg-type]
            verifier=None,  # type: ignore[arg-type]
        )
        notifier = Notifier.from_settings(settings, Renderer())
        install = getattr(getattr(service, "cache", None), "install", None)
        if install is not None:  # as the app does: the cache follows the change feed in Redis
            install(runtime, notifier.cache)
        runners = {
            c.topic: ConsumerRunner(
                c,
                database,
                producer=None,  # type: ignore[arg-type]
                service="notification",
                outbox=outbox,
                runtime=runtime,
                max_attempts=1,
            )
            for c in consumers(notifier)
        }
        channels = default_channels(settings)
        dispatcher = Dispatcher(channels, settings)

        async def deliver(payload: EventPayload, subject: str) -> None:
            topic = registry.spec_for(type(payload)).topic
            outcome = await runners[topic].handle(record_of(payload, subject))
            assert outcome == "handled", outcome

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
                session.add(
                    PreferenceRow(member_id=member, sms=False, updated_at=datetime.now(UTC))
                )
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
                if not await dispatcher.run(runtime):
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
        for adapter in channels.values():
            close = getattr(adapter, "close", None)
            if close is not None:
                await close()
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
        cache = getattr(notifier, "cache", None)  # absent before the cache existed
        if cache is not None:
            print(f"cache: {cache.hits} hits, {cache.misses} misses", file=out)
        connects = getattr(channels[Channel.EMAIL], "connects", None)
        if connects is not None:
            print(f"SMTP connections opened: {connects}", file=out)
    finally:
        if database is not None:
            await database.dispose()
        if runtime is not None:
            await runtime.redis.aclose()
        sink.terminate()
        await sink.wait()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    # BENCH_PROFILE=/tmp/x writes a cProfile of the handling to /tmp/x.handling
    asyncio.run(
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 500, os.environ.get("BENCH_PROFILE"))
    )

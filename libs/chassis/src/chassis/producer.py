"""The Kafka producer shared by the outbox relay and the dead-letter path."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from chassis.topics import apply_topics, specs_for


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


class EventProducer:
    def __init__(self, bootstrap_servers: str, *, idempotent: bool = False) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            enable_idempotence=idempotent,
            acks="all",
            linger_ms=2,
            request_timeout_ms=15000,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send_batch(self, records: list[OutgoingRecord]) -> None:
        """Queue every event, then wait for every acknowledgement.

        Sends are queued in order, so an aggregate's events (same key, same partition) stay in
        order; nothing is reported sent until the broker has acknowledged all of them.
        """
        pending = [
            await self._producer.send(r.topic, value=r.value, key=r.key, headers=r.headers)
            for r in records
        ]
        await asyncio.gather(*pending)

    async def send_raw(
        self, topic: str, value: bytes | None, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        await self._producer.send_and_wait(topic, value=value, key=key, headers=headers)

    async def ping(self) -> None:
        await asyncio.wait_for(self._producer.client.force_metadata_update(), 3)


async def ensure_topics(
    bootstrap_servers: str, topics: list[str], *, partitions: int | None = None
) -> None:
    """Create these topics as `shared_events.topics` declares them (tests' own topics get the
    defaults; `partitions` overrides the count for a test that needs fewer)."""
    await apply_topics(bootstrap_servers, specs_for(topics, partitions=partitions))

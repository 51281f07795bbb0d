"""What a running service holds: created in the lifespan, reached from routes via deps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from chassis.auth import JwksVerifier
from chassis.db import Database
from chassis.outbox import Outbox, OutboxRelay
from chassis.producer import EventProducer
from chassis.settings import ServiceSettings


@dataclass
class Runtime:
    settings: ServiceSettings
    database: Database
    redis: aioredis.Redis
    producer: EventProducer
    outbox: Outbox
    relay: OutboxRelay
    verifier: JwksVerifier
    extras: dict[str, Any] = field(default_factory=dict)

"""What a running service holds: created in the lifespan, reached from routes via deps.

`Runtime` is generic in the service's settings and in its own state (the collaborators only
that service has: a key ring, a cache, payment providers), so a use case that takes
`Runtime[OrderSettings, None]` reads `runtime.settings.timeout_seconds` with its type, never
by a downcast. Each service names its runtime once, in its `deps.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import redis.asyncio as aioredis

from chassis.auth import JwksVerifier
from chassis.db import Database
from chassis.outbox import Outbox, OutboxRelay
from chassis.producer import EventProducer
from chassis.settings import ServiceSettings

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
StateT = TypeVar("StateT")


@dataclass
class Runtime(Generic[SettingsT, StateT]):
    settings: SettingsT
    database: Database
    redis: aioredis.Redis
    producer: EventProducer
    outbox: Outbox
    relay: OutboxRelay
    verifier: JwksVerifier
    # Built by the service's `ServiceSpec.state` right after the rest (None when it has none).
    state: StateT = None  # type: ignore[assignment]
    # Deprecated: untyped; services move their own objects to `state`.
    extras: dict[str, Any] = field(default_factory=dict)


AnyRuntime = Runtime[Any, Any]


def assemble_runtime(
    settings: SettingsT,
    database: Database,
    redis: aioredis.Redis,
    producer: EventProducer,
    state: StateT,
) -> Runtime[SettingsT, StateT]:
    """The runtime's parts from the settings, none of them started: the app factory starts the
    producer and the relay itself; a test that drives handlers without an app uses it as is."""
    outbox = Outbox(source=f"/services/{settings.service_name}")
    return Runtime(
        settings=settings,
        database=database,
        redis=redis,
        producer=producer,
        outbox=outbox,
        relay=OutboxRelay(
            database,
            outbox,
            producer,
            service=settings.service_name,
            batch_size=settings.outbox_batch_size,
            poll_seconds=settings.outbox_poll_seconds,
        ),
        verifier=JwksVerifier(
            settings.jwks_url,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            algorithms=settings.jwt_algorithms,
        ),
        state=state,
    )

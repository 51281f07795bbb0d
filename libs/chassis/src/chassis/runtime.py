"""What a running service holds: created in the lifespan, reached from routes via deps.

`Runtime` is generic in the service's settings and in its own state (the collaborators only
that service has: a key ring, a cache, payment providers), so a use case that takes
`Runtime[OrderSettings, None]` reads `runtime.settings.timeout_seconds` with its type, never
by a downcast. Each service names its runtime once, in its `deps.py`.

`BaseRuntime` is the part every service has (settings, Redis, the token verifier, its state);
`Runtime` adds the database and the broker. A service without a database of its own (the
gateway: `ServiceSettings.owns_database` is False) runs on a `BaseRuntime` and cannot reach
for a database it does not have.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import redis.asyncio as aioredis

from chassis.auth import JwksVerifier
from chassis.db import Database
from chassis.outbox import Outbox, OutboxRelay
from chassis.producer import EventProducer
from chassis.redis_outage import RedisOutage
from chassis.settings import ServiceSettings

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
StateT = TypeVar("StateT")
# A readiness check: raises (or hangs) while its dependency cannot serve.
Probe = Callable[[], Awaitable[object]]


@dataclass(kw_only=True)
class BaseRuntime(Generic[SettingsT, StateT]):
    settings: SettingsT
    redis: aioredis.Redis
    verifier: JwksVerifier
    # Built by the service's `ServiceSpec.state` right after the rest (None when it has none).
    state: StateT = None  # type: ignore[assignment]
    # For the routes that cannot go without Redis (login backoff gates, idempotency keys):
    # while it is away they are refused at once (`RedisOutage.ask`), one outage per process.
    redis_outage: RedisOutage = field(default_factory=lambda: RedisOutage("routes that need it"))

    def readiness_probes(self) -> dict[str, Probe]:
        """What `/readyz` needs before it answers 200: the dependencies the service cannot
        answer without (Redis only for a service that does not serve without it)."""
        return {} if self.settings.serves_without_redis else {"redis": self._ping_redis}

    def degraded_probes(self) -> dict[str, Probe]:
        """What `/readyz` reports but is ready without: Redis, for a service that serves
        without it (`ServiceSettings.serves_without_redis`). Only some routes need it (the
        gateway's flash-sale allowances, login backoff, admin create keys; rate limits and
        caches go without); those answer 503 while it is away, the rest serve. Failing
        readiness on it would take every replica of every service out of its load balancer at
        once, over a counter store and a cache."""
        return {"redis": self._ping_redis} if self.settings.serves_without_redis else {}

    async def _ping_redis(self) -> None:
        await self.redis.ping()


@dataclass(kw_only=True)
class Runtime(BaseRuntime[SettingsT, StateT]):
    database: Database
    producer: EventProducer
    outbox: Outbox
    relay: OutboxRelay

    def readiness_probes(self) -> dict[str, Probe]:
        return {
            "database": self.database.ping,
            "broker": self.producer.ping,
            **super().readiness_probes(),
        }


AnyRuntime = Runtime[Any, Any]
AnyBaseRuntime = BaseRuntime[Any, Any]


def verifier_for(settings: ServiceSettings) -> JwksVerifier:
    """The bearer-token verifier the settings describe (JWKS URL, issuer, audience)."""
    return JwksVerifier(
        settings.jwks_url,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        algorithms=settings.jwt_algorithms,
    )


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
            mark_seconds=settings.outbox_mark_seconds,
        ),
        verifier=verifier_for(settings),
        state=state,
    )

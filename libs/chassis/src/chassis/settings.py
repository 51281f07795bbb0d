"""Settings from the environment.

Suite-wide settings (broker, Redis, JWKS, OTLP) have unprefixed names shared by every service;
a service's own settings (`database_url`, `port`, ...) carry its prefix, e.g. `CATALOG_PORT`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared_events.topics import DAY_MS, LONGEST_RETENTION_MS

# Clock skew between a producer and a consumer, and the time an event waits before it is
# handled, kept off the inbox's retention when the consumer judges an event's age
# (chassis.consumer.DEDUPE_MARGIN).
DEDUPE_MARGIN_DAYS = 1

# Each service's port on a development machine, declared once: a service listens on its own,
# the gateway's upstream URLs and the development JWKS URL point at them (and the launcher reads
# them off each service's settings). Deployments set ports and URLs from the environment.
DEV_HOST = "127.0.0.1"
DEV_PORTS = {
    "gateway": 8000,
    "catalog": 8001,
    "order": 8002,
    "inventory": 8003,
    "payment": 8004,
    "membership": 8005,
    "notification": 8006,
    "analytics": 8007,
}


def dev_url(service: str) -> str:
    """Where `service` listens on a development machine."""
    return f"http://{DEV_HOST}:{DEV_PORTS[service]}"


# Development defaults, clearly marked: production settings refuse to start with them.
DEV_JWT_AUDIENCE = "commerce-suite"
DEV_JWT_ISSUER = dev_url("membership")


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


# The fetch wait of a service whose consumers no order waits for (analytics, notification):
# each fetch costs the embedded broker about 2 ms whatever it brings back, and a larger batch
# costs the service less per event (one transaction, one inbox claim, one offset commit).
# Their events are applied up to this much later; KAFKA_FETCH_MAX_WAIT_MS still sets it.
OFF_PATH_FETCH_MAX_WAIT_MS = 250


# The least time between two polls of such a service while records flow: a poll that took
# less than a full batch waits out the rest, so the next one finds the records of that whole
# time, applied in one transaction (one inbox claim, one commit, one fetch per partition)
# instead of a few at a time. Its events are applied up to about twice this much later.
OFF_PATH_BATCH_LINGER_MS = 250


# The scheduling priority of a service no buyer waits for (analytics, notification), as a nice
# value added at start: on a machine the whole suite shares, a saturated moment (a flash sale)
# gives the CPU to the gateway and the saga first, and these catch up after it. With nice 10 a
# busy process still gets about a tenth of what one at 0 gets, so it keeps its group's heartbeat.
OFF_PATH_CPU_NICE = 10


def _sqlite_of(settings: dict[str, Any]) -> str:
    """The development database: a SQLite file named after the service."""
    return f"sqlite+aiosqlite:///.data/{settings['service_name']}.db"


class ServiceSettings(BaseSettings):
    """Base of every service's Settings. A subclass names its prefix as a class keyword,
    `class OrderSettings(ServiceSettings, env_prefix="ORDER_")`, and sets its `service_name`
    and `port`; the development `database_url` follows from the name."""

    model_config = SettingsConfigDict(env_prefix="SERVICE_", extra="ignore")
    # False for a service without a database of its own (the gateway): production does not
    # ask it for a database URL.
    owns_database: ClassVar[bool] = True

    @property
    def serves_without_redis(self) -> bool:
        """Whether the service answers most of its routes while Redis is away, so `/readyz`
        reports Redis without failing on it (chassis.runtime). True for every service; the
        gateway says False when its rate limits are told not to fail open."""
        return True

    service_name: str = "service"
    environment: Literal["development", "test", "production"] = Field(
        default="development", validation_alias=_env("ENVIRONMENT")
    )
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = Field(default_factory=_sqlite_of)
    migrate_on_start: bool = True
    log_level: str = Field(default="INFO", validation_alias=_env("LOG_LEVEL"))
    log_json: bool = Field(default=True, validation_alias=_env("LOG_JSON"))

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias=_env("KAFKA_BOOTSTRAP_SERVERS")
    )
    # Off by default: the embedded Tansu broker cannot hand out producer ids. Compose turns it on.
    kafka_idempotent_producer: bool = Field(
        default=False, validation_alias=_env("KAFKA_IDEMPOTENT_PRODUCER")
    )
    kafka_replication_factor: int = Field(
        default=1, validation_alias=_env("KAFKA_REPLICATION_FACTOR")
    )
    # When set, the topics this service creates get this many partitions instead of the count
    # declared in shared_events.topics (existing topics keep theirs): for the embedded broker,
    # whose CPU grows with the partitions every fetch names (tools/suite/infra.py sets 2).
    # Unset with Kafka, which gets the declared counts.
    kafka_topic_partitions: int | None = Field(
        default=None, ge=1, validation_alias=_env("KAFKA_TOPIC_PARTITIONS")
    )
    # The embedded broker makes a joining member wait about half of this: the launcher sets 3 s
    # for it (tools/suite/infra.py), the tests 1.5 s.
    kafka_session_timeout_ms: int = Field(
        default=10_000, validation_alias=_env("KAFKA_SESSION_TIMEOUT_MS")
    )
    # How long the broker may hold an empty fetch. Under the suite's load the embedded broker
    # answers only when it runs out (placed->reserved p50 504 ms at 500, 25 ms at 50), so it
    # bounds each hop's latency; Kafka answers as soon as data arrives (compose sets 500). A
    # service off the order's path has 250 (`OffPathSettings`).
    kafka_fetch_max_wait_ms: int = Field(
        default=50, ge=1, validation_alias=_env("KAFKA_FETCH_MAX_WAIT_MS")
    )
    # How long one poll of the consumer waits for fetched records. After an empty poll FastStream
    # sleeps as long again, so this bounds what a record arriving then waits (see broker.py).
    kafka_poll_timeout_ms: int = Field(
        default=20, ge=1, validation_alias=_env("KAFKA_POLL_TIMEOUT_MS")
    )
    # The least time between two polls while records flow (0: none); a poll that brought a
    # full batch (`consumer_batch_size`) is followed at once. A service off the order's path
    # has 250 (`OffPathSettings`; chassis/broker.py).
    kafka_batch_linger_ms: int = Field(
        default=0, ge=0, validation_alias=_env("KAFKA_BATCH_LINGER_MS")
    )
    # Handled records' offsets are committed together, at most this long after the first of
    # them (chassis/offset_commits.py); 0 commits after every poll.
    kafka_commit_interval_ms: int = Field(
        default=100, ge=0, validation_alias=_env("KAFKA_COMMIT_INTERVAL_MS")
    )
    # Added to the process's nice value when it starts serving (0 leaves it as it is); a service
    # off the order's path has 10 (`OffPathSettings`). Only the processes of one machine compete
    # by it: containers are weighed by their CPU shares instead.
    cpu_nice: int = Field(default=0, ge=0, le=19)
    consumer_max_attempts: int = 5
    consumer_backoff_seconds: float = 0.2
    # Records taken per poll (applied in one transaction, offsets committed once per poll), and
    # how many partitions are replayed at once when a poll's transaction fails and its events
    # are applied one at a time (each partition in order). SQLite allows one writer: 1.
    consumer_batch_size: int = Field(default=100, ge=1)
    consumer_concurrency: int = Field(default=6, ge=1)
    # After this long without a record the consumer raises both waits to the idle values
    # (never below the busy ones); its next record lowers them (chassis/poll_pace.py).
    kafka_quiet_seconds: float = Field(
        default=5.0, gt=0, validation_alias=_env("KAFKA_QUIET_SECONDS")
    )
    # 500: each idle consumer costs the embedded broker ~2 ms of CPU per empty fetch, so the
    # idle suite's cost follows this wait (measured 0.13 cores at 250, 0.08 at 500).
    kafka_idle_fetch_max_wait_ms: int = Field(
        default=500, ge=1, validation_alias=_env("KAFKA_IDLE_FETCH_MAX_WAIT_MS")
    )
    kafka_idle_poll_timeout_ms: int = Field(
        default=100, ge=1, validation_alias=_env("KAFKA_IDLE_POLL_TIMEOUT_MS")
    )
    # Crash tests only: an event type after whose commit the process SIGKILLs itself.
    fault_kill_after_commit: str | None = None

    outbox_batch_size: int = 200
    # The relay is woken by each commit that staged an event; this is only the interval of its
    # sweep for rows a wake-up missed (another replica's, a restart's leftovers).
    outbox_poll_seconds: float = Field(default=5.0, gt=0)
    # Rows published from memory are marked sent together, at most this long after the first
    # of them was sent (one UPDATE for all, instead of a transaction per publish); 0 marks
    # each publish at once. A crash in between re-publishes them: duplicates the inbox drops.
    outbox_mark_seconds: float = Field(default=0.1, ge=0)
    # Retention of the chassis' tables (chassis/retention.py). An inbox row must outlive every
    # redelivery of its event: longer than any topic's retention, the dead-letter topics' 30
    # days included (a dead letter replayed twice, weeks apart, is still applied once).
    # At least a day more than that: the consumer judges an event's age against the window
    # less a day (DEDUPE_MARGIN_DAYS). At most ten years.
    inbox_keep_days: float = Field(
        default=31.0, ge=LONGEST_RETENTION_MS / DAY_MS + DEDUPE_MARGIN_DAYS, le=3650
    )
    outbox_keep_sent_hours: float = Field(default=1.0, ge=0)
    retention_check_seconds: float = Field(default=600.0, gt=0)

    # Analytics facts (chassis.beacon), at most once from memory: the queue's bound (past it a
    # fact is dropped and counted), the queued count that sends a batch at once, the tick, and
    # how long a batch may wait for the broker before it is dropped. Disabled, the facts are not
    # even queued (the bench's A/B of the view events' cost on orders/s).
    beacon_enabled: bool = True
    beacon_queue_size: int = Field(default=10_000, ge=1)
    beacon_batch_size: int = Field(default=500, ge=1)
    beacon_flush_seconds: float = Field(default=0.5, gt=0)
    beacon_send_timeout_seconds: float = Field(default=5.0, gt=0)

    redis_url: str = Field(default="redis://127.0.0.1:6379/0", validation_alias=_env("REDIS_URL"))
    # The shop's time zone (an IANA name), one for the whole suite: the calendar days of lots'
    # expiry dates (inventory) and of the KPIs (analytics).
    shop_time_zone: str = Field(default="Asia/Shanghai", validation_alias=_env("SHOP_TIME_ZONE"))
    redis_key_prefix: str = ""

    jwks_url: str = Field(
        default=f"{DEV_JWT_ISSUER}/.well-known/jwks.json", validation_alias=_env("JWKS_URL")
    )
    jwt_issuer: str = Field(default=DEV_JWT_ISSUER, validation_alias=_env("JWT_ISSUER"))
    jwt_audience: str = Field(default=DEV_JWT_AUDIENCE, validation_alias=_env("JWT_AUDIENCE"))
    jwt_algorithms: list[str] = Field(
        default=["EdDSA", "RS256"], validation_alias=_env("JWT_ALGORITHMS")
    )

    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, validation_alias=_env("OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    # Share of new traces kept when exporting (parent-based: children follow their parent).
    # chassis.telemetry reads the same variable when configure_tracing() is not given it.
    otel_traces_sampler_ratio: float = Field(
        default=1.0, ge=0.0, le=1.0, validation_alias=_env("OTEL_TRACES_SAMPLER_RATIO")
    )

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @model_validator(mode="after")
    def _refuse_dev_defaults_in_production(self) -> ServiceSettings:
        if not self.is_production:
            return self
        problems = []
        if self.owns_database and self.database_url.startswith("sqlite"):
            problems.append("database_url points at SQLite")
        if self.jwt_issuer == DEV_JWT_ISSUER:
            problems.append("JWT_ISSUER is the development default")
        if self.jwks_url.startswith("http://127.0.0.1"):
            problems.append("JWKS_URL is the development default")
        if self.fault_kill_after_commit:
            problems.append("fault injection is on")
        problems.extend(self.production_problems())
        if problems:
            raise ValueError("refusing production settings: " + "; ".join(problems))
        return self

    def production_problems(self) -> list[str]:
        """Service-specific checks of development defaults; override to add some."""
        return []

    @field_validator("shop_time_zone")
    @classmethod
    def _known_time_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {name!r} (an IANA name such as Asia/Shanghai)"
            ) from None
        return name

    @property
    def shop_zone(self) -> ZoneInfo:
        return ZoneInfo(self.shop_time_zone)


class OffPathSettings(ServiceSettings):
    """Base of the Settings of a service no order waits for (analytics, notification): it
    fetches less often, takes its records in larger batches and yields the CPU to the services
    an order waits for (the constants above say why). The same environment variables still
    override each value."""

    kafka_fetch_max_wait_ms: int = Field(
        default=OFF_PATH_FETCH_MAX_WAIT_MS, ge=1, validation_alias=_env("KAFKA_FETCH_MAX_WAIT_MS")
    )
    kafka_batch_linger_ms: int = Field(
        default=OFF_PATH_BATCH_LINGER_MS, ge=0, validation_alias=_env("KAFKA_BATCH_LINGER_MS")
    )
    cpu_nice: int = Field(default=OFF_PATH_CPU_NICE, ge=0, le=19)

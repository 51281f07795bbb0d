"""Applying the declared topics (`shared_events.topics.TOPICS`) to the broker, idempotently.

A missing topic is created with its partitions and configs; an existing one whose configs
differ is altered to the declared ones. Partition counts are never changed: adding partitions
would move keys to other partitions and break the order of an aggregate's events, so a
difference is logged for an operator to decide. Every service applies the topics it writes and
reads at start-up; the Kubernetes Job and the compose step apply them all:

    python -m chassis.topics apply [--bootstrap-servers HOST:PORT] [--replication N]
    python -m chassis.topics list
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    IncompatibleBrokerVersion,
    KafkaError,
    TopicAlreadyExistsError,
    UnsupportedVersionError,
    for_code,
)

from chassis.logging import get_logger
from shared_events.topics import TOPICS, TopicSpec, topic_spec

log = get_logger(__name__)

# A broker without AlterConfigs (the embedded Tansu one) is said so once per process.
_unsupported_said: set[str] = set()


@dataclass
class TopicsApplied:
    """What one `apply_topics` found and did, topic names in each list."""

    created: list[str] = field(default_factory=list)
    altered: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # Existing topics whose configs differ but could not be altered (broker without the API).
    not_altered: list[str] = field(default_factory=list)
    # Existing topics whose partition count is not the declared one: name -> actual count.
    other_partitions: dict[str, int] = field(default_factory=dict)


def specs_for(names: Iterable[str], *, partitions: int | None = None) -> list[TopicSpec]:
    """The declared specs of these topics, each once, in order (defaults for undeclared ones);
    with `partitions`, that many partitions for every one (a topic and its DLQ alike, so a
    dead-lettered record keeps its partition)."""
    specs = [topic_spec(name) for name in dict.fromkeys(names)]
    if partitions is None:
        return specs
    return [replace(spec, partitions=partitions) for spec in specs]


async def apply_topics(
    bootstrap_servers: str, specs: Sequence[TopicSpec], *, replication: int = 1
) -> TopicsApplied:
    """Create the missing topics and bring the configs of the existing ones to `specs`."""
    applied = TopicsApplied()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        present = [s for s in specs if s.name in existing]
        if missing:
            applied.created = await _create(admin, missing, replication)
            # Created meanwhile by another service: checked like the existing ones.
            present += [s for s in missing if s.name not in applied.created]
        if present:
            await _check_partitions(admin, present, applied)
            await _align_configs(admin, present, applied)
    finally:
        await admin.close()
    if applied.created or applied.altered:
        log.info("topics applied", created=applied.created, altered=applied.altered)
    if applied.other_partitions:
        log.warning(
            "topics have other partition counts than declared (left as they are)",
            topics=applied.other_partitions,
        )
    return applied


async def _create(
    admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec], replication: int
) -> list[str]:
    new = [NewTopic(s.name, s.partitions, replication, topic_configs=s.configs()) for s in specs]
    try:
        response = await admin.create_topics(new)
    except TopicAlreadyExistsError:
        return []  # all of them, by another service first
    created = []
    for topic, error_code, *_ in response.topic_errors:
        error = for_code(error_code)
        if error_code == 0:
            created.append(topic)
        elif error is not TopicAlreadyExistsError:
            raise error(f"creating topic {topic}")
    return created


async def _check_partitions(
    admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec], applied: TopicsApplied
) -> None:
    declared = {s.name: s.partitions for s in specs}
    for description in await admin.describe_topics(list(declared)):
        name = description["topic"]
        count = len(description["partitions"])
        if name in declared and count != declared[name]:
            applied.other_partitions[name] = count


async def _align_configs(
    admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec], applied: TopicsApplied
) -> None:
    try:
        current = await _describe_configs(admin, [s.name for s in specs])
    except (IncompatibleBrokerVersion, UnsupportedVersionError) as error:
        _say_unsupported("DescribeConfigs", error)
        applied.not_altered = [s.name for s in specs]
        return
    differing = [s for s in specs if _differs(s, current.get(s.name, {}))]
    applied.unchanged = [s.name for s in specs if s not in differing]
    if not differing:
        return
    # AlterConfigs replaces a topic's overrides with the given set: the declared one, whole.
    resources = [ConfigResource(ConfigResourceType.TOPIC, s.name, s.configs()) for s in differing]
    try:
        responses = await admin.alter_configs(resources)
    except (IncompatibleBrokerVersion, UnsupportedVersionError) as error:
        _say_unsupported("AlterConfigs", error)
        applied.not_altered = [s.name for s in differing]
        return
    for response in responses:
        for error_code, message, _type, name in response.resources:
            if error_code:
                raise for_code(error_code)(f"altering topic {name}: {message}")
            applied.altered.append(name)


async def _describe_configs(
    admin: AIOKafkaAdminClient, names: Sequence[str]
) -> dict[str, dict[str, str]]:
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    configs: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for error_code, message, _type, name, entries in response.resources:
            if error_code:
                raise for_code(error_code)(f"describing topic {name}: {message}")
            configs[name] = {entry[0]: entry[1] for entry in entries}
    return configs


def _differs(spec: TopicSpec, current: dict[str, str]) -> bool:
    # Only the declared keys: a broker reports many more, at their defaults.
    return any(current.get(key) != value for key, value in spec.configs().items())


def _say_unsupported(api: str, error: KafkaError) -> None:
    if api not in _unsupported_said:
        _unsupported_said.add(api)
        log.warning(
            "the broker does not support this admin API: existing topics keep their configs",
            api=api,
            error=repr(error),
        )


# ---- the command -----------------------------------------------------------------------------


def _table(specs: Sequence[TopicSpec]) -> str:
    rows = [("topic", "partitions", "retention", "cleanup.policy")]
    for spec in specs:
        days = spec.retention_ms / 86_400_000
        rows.append((spec.name, str(spec.partitions), f"{days:g} d", spec.cleanup_policy))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)


def _summary(applied: TopicsApplied) -> dict[str, Any]:
    return {
        "created": applied.created,
        "altered": applied.altered,
        "unchanged": applied.unchanged,
        "not_altered": applied.not_altered,
        "other_partitions": applied.other_partitions,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chassis.topics", description="The suite's topics, declared once."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    apply = commands.add_parser("apply", help="create or align every topic and its DLQ")
    apply.add_argument(
        "--bootstrap-servers",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        help="default: $KAFKA_BOOTSTRAP_SERVERS",
    )
    apply.add_argument(
        "--replication",
        type=int,
        default=int(os.environ.get("KAFKA_REPLICATION_FACTOR", "1")),
        help="replication factor of created topics (default: $KAFKA_REPLICATION_FACTOR or 1)",
    )
    commands.add_parser("list", help="print the declared topics")
    args = parser.parse_args(argv)
    if args.command == "list":
        print(_table(TOPICS))
        return 0
    applied = asyncio.run(
        apply_topics(args.bootstrap_servers, TOPICS, replication=args.replication)
    )
    for key, names in _summary(applied).items():
        if names:
            print(f"{key}: {', '.join(sorted(names))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

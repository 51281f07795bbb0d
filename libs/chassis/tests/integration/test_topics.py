"""The declared topics applied to the real broker: created with their partitions and configs,
applied again without a change, an existing topic brought to its declared configs (or left and
said so by a broker without AlterConfigs), and the `python -m chassis.topics` command."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from chassis.topics import apply_topics, specs_for
from shared_events.topics import DEAD_LETTER_RETENTION_MS, TOPICS, TopicSpec

pytestmark = pytest.mark.integration


@pytest.fixture
async def admin(isolated_kafka: str) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=isolated_kafka)
    await client.start()
    yield client
    await client.close()


async def partitions(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    return {d["topic"]: len(d["partitions"]) for d in await admin.describe_topics(names)}


async def configs(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    found: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for _code, _message, _type, name, entries in response.resources:
            found[name] = {entry[0]: entry[1] for entry in entries}
    return found


async def test_every_topic_and_dlq_is_created_as_declared_and_applying_again_changes_nothing(
    isolated_kafka: str, admin: AIOKafkaAdminClient
) -> None:
    first = await apply_topics(isolated_kafka, TOPICS)
    assert sorted(first.created) == sorted(s.name for s in TOPICS)
    names = [s.name for s in TOPICS]
    assert set(await admin.list_topics()) >= set(names)
    assert await partitions(admin, names) == {s.name: s.partitions for s in TOPICS}
    reported = await configs(admin, names)
    for spec in TOPICS:
        # Only the declared keys: a broker may report many more.
        assert {k: reported[spec.name].get(k) for k in spec.configs()} == spec.configs()
    assert reported["order.events.dlq"]["retention.ms"] == str(DEAD_LETTER_RETENTION_MS)
    assert reported["catalog.views"]["retention.ms"] == str(3 * 86_400_000)

    again = await apply_topics(isolated_kafka, TOPICS)
    assert (again.created, again.altered, again.not_altered) == ([], [], [])
    assert sorted(again.unchanged) == sorted(names)
    assert again.other_partitions == {}


async def test_an_existing_topic_gets_its_declared_configs_or_the_broker_says_it_cannot(
    isolated_kafka: str, admin: AIOKafkaAdminClient
) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}.events"
    # Made by hand before the suite declared it: other retention, other partition count.
    await admin.create_topics([NewTopic(name, 2, 1, topic_configs={"retention.ms": "60000"})])
    spec = TopicSpec(name, partitions=3)

    applied = await apply_topics(isolated_kafka, [spec])

    assert applied.created == []
    assert applied.other_partitions == {name: 2}  # reported, never changed
    assert await partitions(admin, [name]) == {name: 2}
    if applied.altered:  # Kafka: the declared configs now
        assert applied.altered == [name]
        assert (await configs(admin, [name]))[name]["retention.ms"] == str(spec.retention_ms)
        assert (await apply_topics(isolated_kafka, [spec])).unchanged == [name]
    else:  # the embedded broker has no AlterConfigs: left as it was, and said so
        assert applied.not_altered == [name]
        assert (await configs(admin, [name]))[name]["retention.ms"] == "60000"


async def test_a_test_topic_and_its_dlq_get_the_defaults(
    isolated_kafka: str, admin: AIOKafkaAdminClient
) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}.events"
    await apply_topics(isolated_kafka, specs_for([name, f"{name}.dlq", name]))
    reported = await configs(admin, [name, f"{name}.dlq"])
    assert reported[name]["retention.ms"] == str(TopicSpec(name).retention_ms)
    assert reported[f"{name}.dlq"]["retention.ms"] == str(DEAD_LETTER_RETENTION_MS)


async def test_a_partition_count_given_for_the_embedded_broker_applies_to_a_topic_and_its_dlq(
    isolated_kafka: str, admin: AIOKafkaAdminClient
) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}.events"
    specs = specs_for([name, f"{name}.dlq"], partitions=2)
    assert [s.partitions for s in specs] == [2, 2]
    assert (await apply_topics(isolated_kafka, specs)).created == [name, f"{name}.dlq"]
    described = await admin.describe_topics([name, f"{name}.dlq"])
    assert {t["topic"]: len(t["partitions"]) for t in described} == {name: 2, f"{name}.dlq": 2}
    # Without it, the declared count: applying the declared specs now finds other counts.
    applied = await apply_topics(isolated_kafka, specs_for([name, f"{name}.dlq"]))
    assert applied.other_partitions == {name: 2, f"{name}.dlq": 2}


def test_the_command_applies_every_topic_twice_without_a_change(isolated_kafka: str) -> None:
    command = [sys.executable, "-m", "chassis.topics", "apply", "--bootstrap-servers"]
    first = subprocess.run(  # noqa: S603
        [*command, isolated_kafka], capture_output=True, text=True, check=False, timeout=60
    )
    assert first.returncode == 0, first.stderr
    assert "created: " in first.stdout and "order.events.dlq" in first.stdout
    second = subprocess.run(  # noqa: S603
        [*command, isolated_kafka], capture_output=True, text=True, check=False, timeout=60
    )
    assert second.returncode == 0, second.stderr
    assert "created" not in second.stdout and "altered:" not in second.stdout
    assert "unchanged: " in second.stdout

    listed = subprocess.run(
        [sys.executable, "-m", "chassis.topics", "list"], capture_output=True, text=True, check=True
    )
    rows = {line.split()[0]: line.split()[1:] for line in listed.stdout.splitlines()}
    assert rows["catalog.views"] == ["6", "3", "d", "delete"]
    assert rows["order.events"] == ["6", "14", "d", "delete"]
    assert rows["order.events.dlq"] == ["6", "30", "d", "delete"]

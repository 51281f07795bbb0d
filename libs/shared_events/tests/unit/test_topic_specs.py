"""Every topic and its DLQ declared once, with the retention and cleanup policy the docs state."""

from __future__ import annotations

from shared_events.topics import (
    ALL_TOPICS,
    CATALOG_VIEWS,
    DAY_MS,
    DEFAULT_PARTITIONS,
    TOPICS,
    TopicSpec,
    dead_letter_topic,
    topic_spec,
)


def test_every_topic_and_its_dlq_is_declared_once() -> None:
    names = [spec.name for spec in TOPICS]
    assert len(names) == len(set(names))
    assert set(names) == set(ALL_TOPICS) | {dead_letter_topic(t) for t in ALL_TOPICS}


def test_retention_and_cleanup_as_documented() -> None:
    for spec in TOPICS:
        assert spec.cleanup_policy == "delete"  # logs of events, no changelog among them
        assert spec.partitions == DEFAULT_PARTITIONS
        if spec.name.endswith(".dlq"):
            assert spec.retention_ms == 30 * DAY_MS
        elif spec.name == CATALOG_VIEWS:
            assert spec.retention_ms == 3 * DAY_MS
        else:
            assert spec.retention_ms == 14 * DAY_MS


def test_configs_are_what_kafka_reads() -> None:
    assert topic_spec("order.events").configs() == {
        "cleanup.policy": "delete",
        "retention.ms": str(14 * DAY_MS),
    }
    sized = TopicSpec("x", retention_bytes=1 << 30, cleanup_policy="compact")
    assert sized.configs()["retention.bytes"] == str(1 << 30)
    assert sized.configs()["cleanup.policy"] == "compact"


def test_an_undeclared_topic_gets_the_defaults() -> None:
    assert topic_spec("test-1.events") == TopicSpec("test-1.events")
    assert topic_spec("test-1.events.dlq").retention_ms == 30 * DAY_MS

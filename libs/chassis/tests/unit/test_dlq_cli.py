"""What `python -m chassis.dlq` prints and which records it picks, without a broker."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from chassis import dlq
from chassis.dlq import DeadLetter

NOW = 1_800_000_000.0


def letter(
    offset: int,
    *,
    partition: int = 0,
    error: str = "ValueError: search index unreachable",
    consumer: str = "catalog-search",
    event_type: str = "catalog.product.unpublished",
    age: float = 90,
    data: dict[str, object] | None = None,
) -> DeadLetter:
    return DeadLetter(
        topic="catalog.events.dlq",
        partition=partition,
        offset=offset,
        timestamp_ms=int((NOW - age) * 1000),
        key=b"p-1",
        value=json.dumps(data or {"product_id": "p-1", "version": 1}).encode(),
        headers=(
            ("ce_id", b"6f1c0f5e-0000-4000-8000-000000000001"),
            ("ce_type", event_type.encode()),
            ("ce_subject", b"p-1"),
            ("dlq_error", error.encode()),
            ("dlq_consumer", consumer.encode()),
            ("dlq_topic", b"catalog.events"),
            ("dlq_partition", b"4"),
            ("dlq_offset", b"120"),
            ("dlq_attempts", b"5"),
        ),
    )


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (59, "59s"), (60, "1m"), (7_200, "2h"), (200_000, "2d")]
)
def test_age_in_its_largest_whole_unit(seconds: float, text: str) -> None:
    assert dlq.format_age(seconds) == text


def test_the_list_has_a_row_per_dead_letter_then_a_count_per_error() -> None:
    letters = [
        letter(0),
        letter(1, age=4_000),
        letter(0, partition=3, error="KeyError: 'sku'", consumer="inventory-catalog"),
    ]
    out = dlq.format_list(letters, "catalog.events.dlq", NOW)
    lines = out.splitlines()
    assert lines[0].split() == [
        "OFFSET", "AGE", "TYPE", "SUBJECT", "CONSUMER", "ATTEMPTS", "ERROR"
    ]  # fmt: skip
    assert lines[1].split()[:6] == [
        "0:0", "1m", "catalog.product.unpublished", "p-1", "catalog-search", "5"
    ]  # fmt: skip
    assert lines[2].split()[1] == "1h"
    assert lines[3].startswith("3:0") and "inventory-catalog" in lines[3]
    assert "3 dead letter(s) in catalog.events.dlq, by error:" in out
    assert lines[-2].split(maxsplit=1) == ["2", "ValueError: search index unreachable"]
    assert lines[-1].split(maxsplit=1) == ["1", "KeyError: 'sku'"]


def test_an_empty_dlq_says_so() -> None:
    assert dlq.format_list([], "order.events.dlq", NOW) == "order.events.dlq: no dead letters\n"


def test_a_long_error_on_several_lines_stays_on_its_row() -> None:
    long = "ValidationError: 2 errors\n" + "x" * 300
    out = dlq.format_list([letter(0, error=long)], "catalog.events.dlq", NOW)
    row = out.splitlines()[1]
    assert "ValidationError: 2 errors x" in row and row.endswith("…")


def test_show_prints_origin_headers_and_the_data_as_stored() -> None:
    shown = dlq.format_show(letter(7, data={"order_id": "o-1", "payment_token": "[REDACTED]"}), NOW)
    assert shown.startswith("catalog.events.dlq 0:7\n")
    assert "from:          catalog.events 4:120" in shown
    assert "(1m ago)" in shown and "key:           p-1" in shown
    assert "dlq_error      ValueError: search index unreachable" in shown
    assert '"payment_token": "[REDACTED]"' in shown


def test_show_of_a_poison_record_prints_its_bytes() -> None:
    poison = DeadLetter("order.events.dlq", 0, 1, int(NOW * 1000), None, b"\x00bad", ())
    shown = dlq.format_show(poison, NOW)
    assert "b'\\x00bad'" in shown and "key:           -" in shown


def test_addresses() -> None:
    letters = [letter(5), letter(5, partition=2), letter(6, partition=2)]
    assert dlq.at_address(letters, "2:5").partition == 2
    assert dlq.at_address(letters, "6").address == "2:6"
    with pytest.raises(ValueError, match="several partitions"):
        dlq.at_address(letters, "5")
    with pytest.raises(ValueError, match="no dead letter at 9"):
        dlq.at_address(letters, "9")
    with pytest.raises(ValueError, match="not an offset"):
        dlq.parse_address("x")


def test_filters_by_consumer_and_type() -> None:
    letters = [letter(0), letter(1, consumer="other"), letter(2, event_type="catalog.x")]
    assert [d.offset for d in dlq.matching(letters, consumer="catalog-search")] == [0, 2]
    assert [d.offset for d in dlq.matching(letters, event_type="catalog.x")] == [2]
    assert dlq.dlq_name("order.events") == dlq.dlq_name("order.events.dlq") == "order.events.dlq"


def test_a_replay_is_the_original_record_marked_as_a_replay() -> None:
    at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    dead = letter(7, partition=1)
    once = dlq.replay_of(dead, at)
    assert once.topic == "catalog.events" and once.key == b"p-1" and once.value == dead.value
    assert [name for name, _ in once.headers] == [
        "ce_id", "ce_type", "ce_subject", "ce_replayof", "replayed-at"
    ]  # fmt: skip
    assert dict(once.headers)["ce_replayof"] == b"catalog.events.dlq/1/7"
    assert dict(once.headers)["replayed-at"] == b"2026-05-01T12:00:00+00:00"
    # Dead-lettered again after its replay, then replayed: one mark, the newest.
    again = DeadLetter(
        "catalog.events.dlq", 0, 9, 0, b"p-1", dead.value, (*once.headers, *dead.headers[3:])
    )
    marks = [v for n, v in dlq.replay_of(again, at).headers if n == "ce_replayof"]
    assert marks == [b"catalog.events.dlq/0/9"]


async def test_a_dry_run_prints_what_it_would_send_and_skips_redacted_records() -> None:
    out = io.StringIO()
    letters = [letter(0), letter(1, data={"order_id": "o-1", "payment_token": "[REDACTED]"})]
    sent = await dlq.replay(letters, bootstrap="unused:9092", dry_run=True, out=out)
    text = out.getvalue()
    assert sent == 1
    assert "skipped catalog.events.dlq 0:1: payment_token redacted" in text
    assert "would replay 1 dead letter(s)" in text
    assert "catalog.events.dlq 0:0 -> catalog.events  catalog.product.unpublished" in text
    assert text.endswith("dry run: nothing sent\n")


def test_replay_needs_to_be_told_which(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = dlq._parser()
    args = parser.parse_args(["replay", "--topic", "t"])
    with pytest.raises(ValueError, match="say which"):
        dlq._chosen(args, [])
    both = parser.parse_args(["replay", "--topic", "t", "--all", "--offset", "1"])
    with pytest.raises(ValueError, match="say which"):
        dlq._chosen(both, [])
    typed = parser.parse_args(["replay", "--topic", "t", "--type", "x", "--consumer", "c"])
    picked = dlq._chosen(typed, [letter(0, event_type="x", consumer="c"), letter(1)])
    assert [d.offset for d in picked] == [0]

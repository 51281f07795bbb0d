"""Dead letters a platform engineer can handle: `python -m chassis.dlq list|show|replay`.

A consumer that cannot handle a record sends it to `<topic>.dlq` (chassis.consumer
`dead_letter`): the original key, value (sensitive fields redacted) and headers, plus
`dlq_error`, `dlq_consumer`, `dlq_topic`, `dlq_partition`, `dlq_offset` and `dlq_attempts`.

- `list --topic order.events [--consumer C] [--type T]`: each dead letter (its address
  `partition:offset` in the DLQ, age, event type, subject, consumer, attempts, error), then a
  count per error.
- `show --topic T --offset [P:]N`: one record, its headers and its data as stored.
- `replay --topic T (--offset [P:]N | --type T | --consumer C | --all) [--dry-run]`: publish
  each to its original topic with its original key and headers, without the `dlq_*` ones, plus
  `ce_replayof` (`<dlq topic>/<partition>/<offset>`) and `replayed-at`. The record keeps its
  event id, so the consumers' inbox applies it once however often it is replayed; a consumer
  that handled it before skips it as a duplicate. An event older than the inbox's window
  (chassis/retention.py) is dead-lettered again instead: the inbox may have forgotten it.

Reading a DLQ disturbs nothing: no consumer group (the partitions are assigned, read from the
beginning to the end offsets taken when the command starts), so no offset is committed.

`DeadLetterDepth` keeps the `events_dead_letters{topic}` gauge: the records a DLQ holds (end
offset minus beginning offset, summed over partitions), read from the broker at most once per
30 s when `/metrics` is scraped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from chassis.logging import REDACTED, get_logger
from chassis.metrics import DEAD_LETTERS, on_scrape
from shared_events.topics import dead_letter_topic

log = get_logger(__name__)

DLQ_SUFFIX = ".dlq"
DLQ_HEADER_PREFIX = "dlq_"
REPLAY_OF_HEADER = "ce_replayof"
REPLAYED_AT_HEADER = "replayed-at"
# A line of progress every so many records of a long replay.
PROGRESS_EVERY = 100


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record of a dead-letter topic, as read back."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode(errors="replace")
        return None

    @property
    def address(self) -> str:
        """`partition:offset` in the DLQ: what `show` and `replay --offset` take."""
        return f"{self.partition}:{self.offset}"

    @property
    def event_type(self) -> str:
        return self.header("ce_type") or "?"

    @property
    def event_id(self) -> str | None:
        return self.header("ce_id")

    @property
    def subject(self) -> str:
        subject = self.header("ce_subject")
        if subject is not None:
            return subject
        return self.key.decode(errors="replace") if self.key is not None else "-"

    @property
    def error(self) -> str:
        return self.header("dlq_error") or "?"

    @property
    def consumer(self) -> str:
        return self.header("dlq_consumer") or "?"

    @property
    def attempts(self) -> str:
        return self.header("dlq_attempts") or "?"

    @property
    def original_topic(self) -> str:
        """Where the record came from: its `dlq_topic` header, else the DLQ's name less
        `.dlq`."""
        return self.header("dlq_topic") or self.topic.removesuffix(DLQ_SUFFIX)

    def redacted_fields(self) -> list[str]:
        """The data's fields the dead-lettering consumer replaced by `[REDACTED]`."""
        try:
            data = json.loads(self.value or b"null")
        except ValueError:
            return []
        if not isinstance(data, dict):
            return []
        return sorted(k for k, v in data.items() if v == REDACTED)


def dlq_name(topic: str) -> str:
    """`order.events` and `order.events.dlq` both name `order.events.dlq`."""
    return topic if topic.endswith(DLQ_SUFFIX) else dead_letter_topic(topic)


# --- reading -------------------------------------------------------------------------------


def _reader(bootstrap: str) -> AIOKafkaConsumer:
    # No group: nothing is committed, no rebalance of anyone's group.
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id=f"chassis-dlq-{uuid.uuid4().hex[:8]}",
    )


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic) or set()
    return [TopicPartition(topic, p) for p in sorted(partitions)]


async def read_dead_letters(bootstrap: str, topic: str) -> list[DeadLetter]:
    """Every record of the DLQ of `topic`, from the beginning to the end offsets taken now,
    in partition then offset order."""
    name = dlq_name(topic)
    consumer = _reader(bootstrap)
    await consumer.start()
    try:
        assigned = await _partitions(consumer, name)
        if not assigned:
            return []
        consumer.assign(assigned)
        ends = await consumer.end_offsets(assigned)
        await consumer.seek_to_beginning(*assigned)
        pending = {tp for tp in assigned if await consumer.position(tp) < ends[tp]}
        kept: list[DeadLetter] = []
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=500)
            for tp, records in batches.items():
                kept.extend(
                    DeadLetter(
                        topic=r.topic,
                        partition=r.partition,
                        offset=r.offset,
                        timestamp_ms=r.timestamp,
                        key=r.key,
                        value=r.value,
                        headers=tuple(r.headers),
                    )
                    for r in records
                    if r.offset < ends[tp]
                )
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
    finally:
        await consumer.stop()
    return sorted(kept, key=lambda d: (d.partition, d.offset))


@dataclass(frozen=True, slots=True)
class TopicOffsets:
    """A topic's records now (end - beginning, summed over partitions) and ever written
    (the sum of its end offsets, which only grows)."""

    held: int
    written: int


async def topic_offsets(bootstrap: str, topics: Iterable[str]) -> dict[str, TopicOffsets]:
    """Offsets of each topic that exists; two list-offsets requests in all, no record read."""
    consumer = _reader(bootstrap)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = [tp for topic in topics for tp in await _partitions(consumer, topic)]
        if not partitions:
            return {}
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
    finally:
        await consumer.stop()
    result: dict[str, TopicOffsets] = {}
    for tp in partitions:
        seen = result.get(tp.topic, TopicOffsets(0, 0))
        result[tp.topic] = TopicOffsets(seen.held + ends[tp] - starts[tp], seen.written + ends[tp])
    return result


# --- choosing ------------------------------------------------------------------------------


def parse_address(text: str) -> tuple[int | None, int]:
    """`17` (any partition) or `3:17` -> (partition or None, offset)."""
    partition, _, offset = text.rpartition(":")
    try:
        return (int(partition) if partition else None, int(offset))
    except ValueError:
        raise ValueError(f"not an offset: {text!r} (N or PARTITION:N)") from None


def at_address(letters: Sequence[DeadLetter], address: str) -> DeadLetter:
    """The one dead letter at `address`; ValueError when there is none or several."""
    partition, offset = parse_address(address)
    found = [
        d for d in letters if d.offset == offset and (partition is None or d.partition == partition)
    ]
    if not found:
        raise ValueError(f"no dead letter at {address}")
    if len(found) > 1:
        where = ", ".join(d.address for d in found)
        raise ValueError(f"offset {offset} is in several partitions ({where}): say which")
    return found[0]


def matching(
    letters: Iterable[DeadLetter], *, consumer: str | None = None, event_type: str | None = None
) -> list[DeadLetter]:
    return [
        d
        for d in letters
        if (consumer is None or d.consumer == consumer)
        and (event_type is None or d.event_type == event_type)
    ]


# --- formatting ----------------------------------------------------------------------------


def format_age(seconds: float) -> str:
    """`45s`, `12m`, `3h`, `2d`: how long ago, to the largest whole unit."""
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())  # one line
    return text if len(text) <= width else text[: width - 1] + "…"


def format_list(letters: Sequence[DeadLetter], dlq: str, now: float) -> str:
    """The `list` table, then the count per error."""
    if not letters:
        return f"{dlq}: no dead letters\n"
    rows = [("OFFSET", "AGE", "TYPE", "SUBJECT", "CONSUMER", "ATTEMPTS", "ERROR")]
    rows += [
        (
            d.address,
            format_age(now - d.timestamp_ms / 1000),
            d.event_type,
            _cut(d.subject, 40),
            d.consumer,
            d.attempts,
            _cut(d.error, 80),
        )
        for d in letters
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]
    lines += ["", f"{len(letters)} dead letter(s) in {dlq}, by error:"]
    for error, count in Counter(_cut(d.error, 120) for d in letters).most_common():
        lines.append(f"{count:>6}  {error}")
    return "\n".join(lines) + "\n"


def format_show(letter: DeadLetter, now: float) -> str:
    """One dead letter: where it is and came from, its headers, its data as stored (fields
    redacted when it was dead-lettered stay so)."""
    stamp = datetime.fromtimestamp(letter.timestamp_ms / 1000, UTC).isoformat()
    lines = [
        f"{letter.topic} {letter.address}",
        f"  dead-lettered: {stamp} ({format_age(now - letter.timestamp_ms / 1000)} ago)",
        f"  from:          {letter.original_topic} "
        f"{letter.header('dlq_partition') or '?'}:{letter.header('dlq_offset') or '?'}",
        f"  key:           {letter.key.decode(errors='replace') if letter.key else '-'}",
        "headers:",
    ]
    width = max((len(name) for name, _ in letter.headers), default=0)
    lines += [
        f"  {name.ljust(width)}  {value.decode(errors='replace')}" for name, value in letter.headers
    ]
    lines.append("data:")
    try:
        data = json.loads(letter.value or b"null")
        body = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True)
    except ValueError:
        body = repr(letter.value)  # a poison record: not JSON
    lines += [f"  {line}" for line in body.splitlines()]
    return "\n".join(lines) + "\n"


# --- replaying -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Replay:
    """What replaying one dead letter publishes."""

    letter: DeadLetter
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def replay_of(letter: DeadLetter, at: datetime) -> Replay:
    """The record as it was before it was dead-lettered (the `dlq_*` headers and the marks of
    an earlier replay dropped), marked as a replay of this dead letter."""
    kept = [
        (name, value)
        for name, value in letter.headers
        if not name.startswith(DLQ_HEADER_PREFIX)
        and name not in (REPLAY_OF_HEADER, REPLAYED_AT_HEADER)
    ]
    marks = [
        (REPLAY_OF_HEADER, f"{letter.topic}/{letter.partition}/{letter.offset}".encode()),
        (REPLAYED_AT_HEADER, at.isoformat().encode()),
    ]
    return Replay(letter, letter.original_topic, letter.key, letter.value, kept + marks)


def describe(replay: Replay) -> str:
    letter = replay.letter
    return (
        f"{letter.topic} {letter.address} -> {replay.topic}  {letter.event_type}  "
        f"subject {letter.subject}  id {letter.event_id or '-'}"
    )


async def replay(
    letters: Sequence[DeadLetter],
    *,
    bootstrap: str,
    dry_run: bool,
    out: TextIO,
    include_redacted: bool = False,
) -> int:
    """Publish each dead letter to its original topic, in DLQ order, printing each; return
    how many were (or, in a dry run, would be) published. A record whose sensitive fields
    were redacted is skipped unless `include_redacted`: its handler would read `[REDACTED]`
    where the token was."""
    at = datetime.now(UTC)
    chosen: list[Replay] = []
    for letter in letters:
        hidden = letter.redacted_fields()
        if hidden and not include_redacted:
            out.write(
                f"skipped {letter.topic} {letter.address}: {', '.join(hidden)} redacted when "
                "dead-lettered (the original is gone; --include-redacted sends it as it is)\n"
            )
            continue
        chosen.append(replay_of(letter, at))
    verb = "would replay" if dry_run else "replaying"
    out.write(f"{verb} {len(chosen)} dead letter(s)\n")
    if dry_run:
        for item in chosen:
            out.write(f"  {describe(item)}\n")
        out.write("dry run: nothing sent\n")
        return len(chosen)
    if not chosen:
        return 0
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for done, item in enumerate(chosen, start=1):
            # One at a time, acknowledged: the records of one key keep the DLQ's order.
            await producer.send_and_wait(
                item.topic, value=item.value, key=item.key, headers=item.headers
            )
            out.write(f"  replayed {describe(item)}\n")
            if done % PROGRESS_EVERY == 0 and done < len(chosen):
                out.write(f"  ... {done}/{len(chosen)}\n")
            out.flush()
    finally:
        await producer.stop()
    out.write(f"replayed {len(chosen)} dead letter(s)\n")
    return len(chosen)


# --- the command ---------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m chassis.dlq",
        description="Look at and replay the dead letters of a topic (its <topic>.dlq).",
    )
    parser.add_argument(
        "--bootstrap", help="Kafka bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help="the dead letters, and a count per error")
    listing.add_argument("--topic", required=True, help="order.events (or order.events.dlq)")
    listing.add_argument("--consumer", help="only those this consumer dead-lettered")
    listing.add_argument("--type", dest="event_type", help="only events of this type")

    show = commands.add_parser("show", help="one dead letter: headers and data")
    show.add_argument("--topic", required=True)
    show.add_argument("--offset", required=True, help="N, or PARTITION:N when N is ambiguous")

    again = commands.add_parser("replay", help="publish dead letters to their original topic")
    again.add_argument("--topic", required=True)
    again.add_argument("--offset", action="append", help="N or PARTITION:N (repeatable)")
    again.add_argument("--type", dest="event_type", help="every dead letter of this type")
    again.add_argument("--consumer", help="every dead letter this consumer wrote")
    again.add_argument("--all", action="store_true", help="every dead letter of the topic")
    again.add_argument("--dry-run", action="store_true", help="print what would be sent")
    again.add_argument(
        "--include-redacted",
        action="store_true",
        help="also replay records whose sensitive fields were redacted",
    )
    return parser


def _bootstrap(given: str | None) -> str:
    if given:
        return given
    from chassis.settings import ServiceSettings  # the suite-wide KAFKA_BOOTSTRAP_SERVERS

    return ServiceSettings().kafka_bootstrap_servers


def _chosen(args: argparse.Namespace, letters: list[DeadLetter]) -> list[DeadLetter]:
    filters = [bool(args.offset), bool(args.event_type or args.consumer), bool(args.all)]
    if sum(filters) != 1:
        raise ValueError("say which: --offset, --type and/or --consumer, or --all")
    if args.offset:
        return [at_address(letters, address) for address in args.offset]
    return matching(letters, consumer=args.consumer, event_type=args.event_type)


async def run(argv: Sequence[str], out: TextIO | None = None) -> int:
    """The command; its exit status (2 for a wrong request, after saying why)."""
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    bootstrap = _bootstrap(args.bootstrap)
    letters = await read_dead_letters(bootstrap, args.topic)
    now = time.time()
    try:
        if args.command == "list":
            chosen = matching(letters, consumer=args.consumer, event_type=args.event_type)
            out.write(format_list(chosen, dlq_name(args.topic), now))
        elif args.command == "show":
            out.write(format_show(at_address(letters, args.offset), now))
        else:
            await replay(
                _chosen(args, letters),
                bootstrap=bootstrap,
                dry_run=args.dry_run,
                out=out,
                include_redacted=args.include_redacted,
            )
    except ValueError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    return 0


def main() -> None:
    raise SystemExit(asyncio.run(run(sys.argv[1:])))


# --- the gauge -----------------------------------------------------------------------------


class DeadLetterDepth:
    """`events_dead_letters{topic}` for the DLQs of the topics a service consumes, refreshed
    when `/metrics` is scraped, at most once per `every_seconds` (a scrape in between shows
    the last figures)."""

    def __init__(
        self, bootstrap: str, topics: Iterable[str], *, key: str, every_seconds: float = 30.0
    ) -> None:
        self.bootstrap = bootstrap
        self.dead_letter_topics = sorted({dlq_name(t) for t in topics})
        self.key = key
        self.every_seconds = every_seconds
        self._next = 0.0

    async def refresh(self) -> None:
        if not self.dead_letter_topics or time.monotonic() < self._next:
            return
        # Counted from now whatever happens: a broker that is down is not asked every scrape.
        self._next = time.monotonic() + self.every_seconds
        try:
            offsets = await topic_offsets(self.bootstrap, self.dead_letter_topics)
        except Exception as exc:  # the gauge keeps its last value; the service is unaffected
            log.warning("dead-letter depth not read", error=repr(exc))
            return
        for topic, counted in offsets.items():
            DEAD_LETTERS.labels(topic).set(counted.held)

    def watch(self) -> None:
        on_scrape(self.key, self.refresh)

    def unwatch(self) -> None:
        on_scrape(self.key, None)


if __name__ == "__main__":
    main()

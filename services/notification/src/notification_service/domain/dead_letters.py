"""When the operators hear about dead letters: a DLQ that received records since they were
last told, at most once per topic per quiet period (the next message counts what arrived
meanwhile). No I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Told:
    """What the operators were last told about one DLQ: how many records had ever been
    written to it then (the sum of its end offsets, which retention does not lower), and
    when."""

    written: int
    at: datetime | None


def dead_letters_to_tell(written: int, told: Told | None, now: datetime, quiet: timedelta) -> int:
    """How many new dead letters to tell the operators about now; 0 when none arrived or the
    last message is more recent than `quiet`. A count below the last one means the topic was
    created again: all of its records are new."""
    seen = told.written if told is not None else 0
    if written < seen:
        seen = 0
    new = written - seen
    if new <= 0:
        return 0
    if told is not None and told.at is not None and now - told.at < quiet:
        return 0
    return new

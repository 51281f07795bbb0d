"""The reporting period: two reporting days (both included), a granularity, a time zone; its
buckets and the UTC instants that bound them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from chassis.rules import RuleError


class Granularity(StrEnum):
    DAY = "day"
    HOUR = "hour"


class PeriodError(RuleError):
    """A period the API refuses (422): reversed, over the cap, an unknown granularity."""


@dataclass(frozen=True)
class Window:
    """A half-open interval of UTC instants: `start <= t < end`."""

    start: datetime
    end: datetime

    def holds(self, at: datetime | None) -> bool:
        return at is not None and self.start <= at < self.end


@dataclass(frozen=True)
class Bucket:
    label: str  # the local day (2026-12-05) or hour (2026-12-05T14:00)
    window: Window


@dataclass(frozen=True)
class Period:
    first: date
    last: date
    granularity: Granularity
    zone: ZoneInfo

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def window(self) -> Window:
        return Window(self._instant(self.first), self._instant(self.last + timedelta(days=1)))

    def _instant(self, day: date) -> datetime:
        return datetime.combine(day, time(0), self.zone).astimezone(UTC)

    def buckets(self) -> list[Bucket]:
        """One bucket per local day, or per hour: hours are stepped in UTC, so a day with a
        daylight-saving change has 23 or 25 of them (Asia/Shanghai has none)."""
        if self.granularity is Granularity.DAY:
            days = [self.first + timedelta(days=n) for n in range(self.days)]
            return [
                Bucket(d.isoformat(), Window(self._instant(d), self._instant(d + timedelta(1))))
                for d in days
            ]
        window, buckets = self.window, []
        at = window.start
        while at < window.end:
            local = at.astimezone(self.zone)
            buckets.append(Bucket(local.strftime("%Y-%m-%dT%H:00"), Window(at, at + HOUR)))
            at += HOUR
        return buckets


HOUR = timedelta(hours=1)
# The days a period may name: every event of the suite is far inside them, and a day at the
# edge of the calendar (0001-01-01, 9999-12-31) has no UTC instant for its start or its end.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)


def local_day(at: datetime, zone: ZoneInfo) -> date:
    """The reporting day of an instant."""
    return at.astimezone(zone).date()


def period_of(
    first: date,
    last: date,
    granularity: str,
    zone: ZoneInfo,
    *,
    max_days: int,
    max_hour_days: int,
) -> Period:
    """Validate a requested period; every refusal is a `PeriodError` (422)."""
    try:
        grain = Granularity(granularity)
    except ValueError:
        raise PeriodError(
            "unknown-granularity",
            f"granularity must be one of {', '.join(g.value for g in Granularity)}",
        ) from None
    if first < FIRST_DAY or last > LAST_DAY:
        raise PeriodError(
            "period-out-of-range", f"days must lie between {FIRST_DAY} and {LAST_DAY}"
        )
    if last < first:
        raise PeriodError("reversed-period", "`to` is before `from`")
    period = Period(first, last, grain, zone)
    cap = max_hour_days if grain is Granularity.HOUR else max_days
    if period.days > cap:
        raise PeriodError(
            "period-too-long",
            f"a period of {period.days} days is over the cap of {cap} days for {grain.value}s",
        )
    return period

"""Local wall times to UTC instants, with one documented rule for the DST edges.

The rule (decided once, when a post is planned, and shown in previews):
- a time that does not exist (02:30 on the spring-forward day) moves forward by the gap, to 03:30
  summer time, and the post is marked `dst_adjusted`;
- a time that exists twice (02:30 on the fall-back day) means the first one (summer time), PEP 495
  `fold=0`: an hour early beats an hour late, and never both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class ResolvedTime:
    """A local wall time resolved to an instant, and whether the DST rule had to move it."""

    utc: datetime
    dst_adjusted: bool


def local_to_utc(day: date, wall: time, zone: ZoneInfo) -> ResolvedTime:
    """Resolve `day` at `wall` in `zone` to UTC by the module's DST rule."""
    naive = datetime.combine(day, wall.replace(tzinfo=None))
    first = naive.replace(tzinfo=zone, fold=0)
    instant = first.astimezone(UTC)
    # A wall time in the gap does not survive the round trip: UTC -> local gives another time.
    round_trip = instant.astimezone(zone).replace(tzinfo=None)
    return ResolvedTime(utc=instant, dst_adjusted=round_trip != naive)


def to_local(instant: datetime, zone: ZoneInfo) -> datetime:
    """An aware instant shown in the configured zone."""
    return instant.astimezone(zone)


def local_day_bounds(start: date, end: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC instants [from, to) covering local dates `start`..`end`, both days included."""
    begin = datetime.combine(start, time(0), tzinfo=zone).astimezone(UTC)
    after = date.fromordinal(end.toordinal() + 1)
    finish = datetime.combine(after, time(0), tzinfo=zone).astimezone(UTC)
    return begin, finish


def naive_local_to_utc(value: datetime, zone: ZoneInfo) -> datetime:
    """A datetime that may be naive (then local in `zone`) as an aware UTC instant."""
    if value.tzinfo is None:
        return local_to_utc(value.date(), value.time(), zone).utc
    return value.astimezone(UTC)


Clock = Callable[[], datetime]  # "now" as an aware UTC instant; injected so tests need no sleeping


def system_clock() -> datetime:
    """The machine's current instant in UTC: the clock everything uses unless given another."""
    return datetime.now(UTC)


def fixed_clock(instant: datetime) -> Clock:
    """A clock that always says `instant` (one daemon pass "at" a chosen time)."""
    return lambda: instant


def zoned_text(instant: datetime, zone: tzinfo, *, seconds: bool = False) -> str:
    """'2027-05-28 09:30 CEST': an instant in `zone`, labelled with the zone's abbreviation.

    For times a person reads in logs, tables and the audit log: never an unlabelled time.
    """
    local = instant.astimezone(zone)
    return local.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")

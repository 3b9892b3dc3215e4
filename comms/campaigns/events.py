"""The `[event]` table of a campaign file (docs/campaigns.md): a date, a span or a series.

An event spec turns a year into occurrences, the dates a campaign's steps are planned from; its
dates come from the rules of dates.py, and this module only combines them (a span pairs start
and end dates, a series repeats a weekday or snaps a rule's dates). Pure values, no I/O and no
clock, like the rules: a year the event cannot serve raises `DateRuleError`.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import ClassVar

from comms.campaigns.dates import (
    Align,
    ResolveEvent,
    Rule,
    align_to_weekday,
    override_hint,
    parse_align,
    parse_rule,
    parse_weekday,
    weekday_name,
)
from comms.campaigns.toml_source import Locate, bad_value, check_keys
from comms.errors import DateRuleError


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of an event: `date` (== `start`) is the step anchor, `end` ends a span."""

    date: dt.date  # dt.: the field's name hides the type inside the class
    start: dt.date
    end: dt.date


@dataclass(frozen=True)
class EventSpec(ABC):
    """The `[event]` table: one of `date`, `span` or `series`; `line` is where it is written."""

    kind: ClassVar[str]
    line: int | None = field(default=None, kw_only=True)

    @abstractmethod
    def occurrences(self, year: int, resolve_event: ResolveEvent) -> list[Occurrence]:
        """The year's occurrences, sorted, at least one (or a DateRuleError)."""

    @abstractmethod
    def rules(self) -> tuple[Rule, ...]: ...

    def references(self) -> set[str]:
        """The `event:SLUG` slugs used anywhere in the event."""
        return set().union(*(rule.references() for rule in self.rules()))

    def reference_dates(self, year: int, resolve_event: ResolveEvent) -> list[date]:
        """What `event:SLUG` means for this event: every date, or a span's/series' first date."""
        found = self.occurrences(year, resolve_event)
        return [o.date for o in found] if self.kind == "date" else [found[0].date]


@dataclass(frozen=True)
class DateEvent(EventSpec):
    kind: ClassVar[str] = "date"
    rule: Rule

    def occurrences(self, year: int, resolve_event: ResolveEvent) -> list[Occurrence]:
        return [Occurrence(d, d, d) for d in self.rule.dates(year, resolve_event)]

    def rules(self) -> tuple[Rule, ...]:
        return (self.rule,)


@dataclass(frozen=True)
class SpanEvent(EventSpec):
    kind: ClassVar[str] = "span"
    start: Rule
    end: Rule

    def occurrences(self, year: int, resolve_event: ResolveEvent) -> list[Occurrence]:
        starts = self.start.dates(year, resolve_event)
        ends = self.end.dates(year, resolve_event)
        if len(starts) != len(ends):
            what = f"the span has {len(starts)} start dates but {len(ends)} end dates in {year}"
            raise DateRuleError(what, hint="give `start` and `end` the same number of dates")
        for start, end in zip(starts, ends, strict=True):
            if end < start:
                what = f"the span ends ({end}) before it starts ({start}) in {year}"
                raise DateRuleError(what, hint=f"check `start` and `end`, or {override_hint(year)}")
        return [Occurrence(s, s, e) for s, e in zip(starts, ends, strict=True)]

    def rules(self) -> tuple[Rule, ...]:
        return (self.start, self.end)


@dataclass(frozen=True)
class WeekdaySeries(EventSpec):
    """Every `weekday` from `first` to `last`, both included."""

    kind: ClassVar[str] = "series"
    weekday: int
    first: Rule
    last: Rule

    def occurrences(self, year: int, resolve_event: ResolveEvent) -> list[Occurrence]:
        low = self.first.dates(year, resolve_event)[0]
        high = self.last.dates(year, resolve_event)[-1]
        d = align_to_weekday(low, self.weekday, "on_or_after")
        found = []
        while d <= high:
            found.append(Occurrence(d, d, d))
            d += timedelta(days=7)
        if not found:
            what = f"the series has no {weekday_name(self.weekday)} from {low} to {high} in {year}"
            raise DateRuleError(what, hint="check `from` and `to` (both are included)")
        return found

    def rules(self) -> tuple[Rule, ...]:
        return (self.first, self.last)


@dataclass(frozen=True)
class DatesSeries(EventSpec):
    """The dates of a rule, each snapped by `align` (two snapping to one day count once)."""

    kind: ClassVar[str] = "series"
    dates: Rule
    align: Align | None = None

    def occurrences(self, year: int, resolve_event: ResolveEvent) -> list[Occurrence]:
        found = self.dates.dates(year, resolve_event)
        snapped = sorted({self.align.apply(d) for d in found} if self.align else found)
        return [Occurrence(d, d, d) for d in snapped]

    def rules(self) -> tuple[Rule, ...]:
        return (self.dates,)


def _table(value: object, key: str, locate: Locate | None, example: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise bad_value(locate, key, f"{key} must be a table", example)
    return value


def parse_event(
    table: object, *, locate: Locate | None = None, line: int | None = None
) -> EventSpec:
    """The `[event]` table; `line` (where the event is written) is kept for later errors."""
    kinds = ("date", "span", "series")
    event = _table(table, "event", locate, "write an [event] table with date, span or series")
    check_keys(event, allowed=kinds, where="[event]", locate=locate, line=line)
    present = [k for k in kinds if k in event]
    if len(present) != 1:
        found = f"; it has {' and '.join(present)}" if present else ""
        hint = 'e.g. date = { type = "iso_week", week = 21, weekday = "lørdag" }'
        raise bad_value(
            locate,
            present[-1] if present else "event",
            f"[event] needs exactly one of date, span, series{found}",
            hint,
        )
    kind = present[0]
    line = (locate(kind) if locate else None) or line
    if kind == "date":
        return DateEvent(parse_rule(event["date"], locate=locate), line=line)
    if kind == "span":
        span = _table(event["span"], "span", locate, "span = { start = RULE, end = RULE }")
        ends = ("start", "end")
        check_keys(span, allowed=ends, required=ends, where="span", locate=locate, line=line)
        start, end = (parse_rule(span[k], locate=locate) for k in ends)
        return SpanEvent(start, end, line=line)
    series = _table(event["series"], "series", locate, 'series = { weekday = "fredag", … }')
    by_dates = "dates" in series
    if (by_dates and {"weekday", "from", "to"} & series.keys()) or (
        not by_dates and "align" in series
    ):
        hint = "a series is { weekday, from, to } or { dates, align }: use one of the two forms"
        raise bad_value(locate, "series", "this series mixes its two forms", hint)
    allowed, required = (("dates", "align"), ()) if by_dates else (("weekday", "from", "to"),) * 2
    check_keys(series, allowed=allowed, required=required, where="series", locate=locate, line=line)
    if by_dates:
        align = parse_align(series["align"], locate=locate) if "align" in series else None
        return DatesSeries(parse_rule(series["dates"], locate=locate), align, line=line)
    first, last = (parse_rule(series[k], locate=locate) for k in ("from", "to"))
    return WeekdaySeries(parse_weekday(series["weekday"], locate=locate), first, last, line=line)

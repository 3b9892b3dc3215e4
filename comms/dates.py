"""The date-rule language of campaign files (docs/campaigns.md): a rule plus a year gives dates.

Pure functions and values, no I/O and no clock: the year is a parameter (as in APScheduler's
triggers), so tests need no sleeping. A year a rule cannot serve raises `DateRuleError` saying
what to add to the file; a municipality posting on a guessed date is worse than a planner that
stops and asks. `event:SLUG` references are resolved through a callable the caller passes in,
so this module knows nothing about other files; `references()` lets the loader find cycles.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from calendar import monthrange
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import ClassVar

from dateutil.easter import easter

from comms.errors import CampaignError, DateRuleError
from comms.tomlsource import (
    Locate,
    bad_value,
    check_keys,
    dates_by_year,
    did_you_mean,
    int_value,
    optional_int,
)

ResolveEvent = Callable[[str, int], list[date]]

WEEKDAYS: dict[str, int] = {
    "mandag": 0,
    "monday": 0,
    "tirsdag": 1,
    "tuesday": 1,
    "onsdag": 2,
    "wednesday": 2,
    "torsdag": 3,
    "thursday": 3,
    "fredag": 4,
    "friday": 4,
    "lørdag": 5,
    "saturday": 5,
    "søndag": 6,
    "sunday": 6,
}
DIRECTIONS = ("on_or_before", "on_or_after", "before", "after")
RULE_TYPES = ("fixed", "nth_weekday", "iso_week", "easter", "relative", "explicit", "override")
RULE_TYPES += ("valid",)
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-_]*$")
EVENT_PREFIX = "event:"
_ORDINAL = {1: "1st", 2: "2nd", 3: "3rd"}


def _at(locate: Locate | None, key: str) -> int | None:
    return locate(key) if locate else None


def _override_hint(year: int) -> str:
    return f"wrap the rule in an `override` with `overrides = {{ {year} = {year}-MM-DD }}`"


def parse_weekday(value: object, *, locate: Locate | None = None, key: str = "weekday") -> int:
    """Monday 0 … Sunday 6 from a Danish or English name, in any case."""
    if isinstance(value, str) and value.strip().lower() in WEEKDAYS:
        return WEEKDAYS[value.strip().lower()]
    hint = did_you_mean(str(value).strip().lower(), WEEKDAYS)
    hint = hint or 'write it in Danish or English, e.g. "mandag" or "monday"'
    raise CampaignError(f"{key} = {value!r} is not a weekday", line=_at(locate, key), hint=hint)


def align_to_weekday(d: date, weekday: int, direction: str) -> date:
    """Snap a date to a weekday: `before`/`after` always move, `on_or_…` keep a matching date."""
    forward = (weekday - d.weekday()) % 7
    backward = (d.weekday() - weekday) % 7
    if direction == "on_or_after":
        return d + timedelta(days=forward)
    if direction == "after":
        return d + timedelta(days=forward or 7)
    if direction == "on_or_before":
        return d - timedelta(days=backward)
    if direction == "before":
        return d - timedelta(days=backward or 7)
    raise ValueError(f"unknown direction {direction!r}; use one of {', '.join(DIRECTIONS)}")


@dataclass(frozen=True)
class Align:
    """`align = { weekday = "mandag", direction = "after" }`."""

    weekday: int
    direction: str

    def apply(self, d: date) -> date:
        return align_to_weekday(d, self.weekday, self.direction)


class Rule(ABC):
    """A date rule: `dates(year)` is sorted, never empty, or raises `DateRuleError`."""

    def dates(self, year: int, resolve_event: ResolveEvent) -> list[date]:
        """The rule's dates in `year`; date arithmetic out of range becomes a DateRuleError."""
        try:
            found = self._dates(year, resolve_event)
        except (ValueError, OverflowError) as exc:
            raise DateRuleError(f"no date for {year}: {exc}", hint=_override_hint(year)) from exc
        return sorted(set(found))

    @abstractmethod
    def _dates(self, year: int, resolve_event: ResolveEvent) -> list[date]: ...

    def references(self) -> set[str]:
        """The slugs of the campaigns whose events this rule uses (`event:SLUG`)."""
        return set()


@dataclass(frozen=True)
class Fixed(Rule):
    month: int
    day: int

    def _dates(self, year: int, resolve_event: ResolveEvent) -> list[date]:
        if self.month == 2 and self.day == 29 and monthrange(year, 2)[1] == 28:
            raise DateRuleError(f"29 February does not exist in {year}", hint=_override_hint(year))
        return [date(year, self.month, self.day)]


@dataclass(frozen=True)
class NthWeekday(Rule):
    month: int
    weekday: int
    n: int  # 1..5 from the start of the month, -1..-5 from its end

    def _dates(self, year: int, resolve_event: ResolveEvent) -> list[date]:
        if self.n > 0:
            first = date(year, self.month, 1)
            d = first + timedelta(days=(self.weekday - first.weekday()) % 7 + 7 * (self.n - 1))
        else:
            last = date(year, self.month, monthrange(year, self.month)[1])
            d = last - timedelta(days=(last.weekday() - self.weekday) % 7 + 7 * (-self.n - 1))
        if d.month != self.month or d.year != year:
            which = _ORDINAL.get(abs(self.n), f"{abs(self.n)}th") + (" last" if self.n < 0 else "")
            what = f"there is no {which} {_weekday_name(self.weekday)} in {year}-{self.month:02}"
            raise DateRuleError(
                what, hint=f"use n = {4 if self.n > 0 else -4}, or {_override_hint(year)}"
            )
        return [d]


@dataclass(frozen=True)
class IsoWeek(Rule):
    week: int
    weekday: int

    def _dates(self, year: int, resolve_event: ResolveEvent) -> list[date]:
        weeks = date(year, 12, 28).isocalendar().week
        if self.week > weeks:
            what = f"ISO week {self.week} does not exist in {year} (it has {weeks} weeks)"
            raise DateRuleError(what, hint=_override_hint(year))
        return [date.fromisocalendar(year, self.week, self.weekday + 1)]


@dataclass(frozen=True)
class Easter(Rule):
    offset_days: int

    def _dates(self, year: int, resolve_event: ResolveEvent) -> list[date]:
        return [easter(year) + timedelta(days=self.offset_days)]


@dataclass(frozen=True)
class EventRef(Rule):
    """`"event:SLUG"`: another campaign's event dates (for a span or series, its first date)."""

    slug: str

    def _dates(self, year: int, resolve_event: ResolveEvent) -> list[date]:
        return list(resolve_event(self.slug, year))

    def references(self) -> set[str]:
        return {self.slug}


@dataclass(frozen=True)
class Relative(Rule):
    base: Rule
    offset_days: int = 0
    align: Align | None = None
    year_offset: int = 0  # -1: the base is taken from the year before

    def _dates(self, year: int, resolve_event: ResolveEvent) -> list[date]:
        shifted = [
            d + timedelta(days=self.offset_days)
            for d in self.base.dates(year + self.year_offset, resolve_event)
        ]
        return [self.align.apply(d) for d in shifted] if self.align else shifted

    def references(self) -> set[str]:
        return self.base.references()


@dataclass(frozen=True)
class Explicit(Rule):
    dates_by_year: Mapping[int, tuple[date, ...]] = field(default_factory=dict)

    def _dates(self, year: int, resolve_event: ResolveEvent) -> list[date]:
        if year not in self.dates_by_year:
            known = ", ".join(str(y) for y in sorted(self.dates_by_year)) or "none"
            hint = f"add `{year} = [{year}-MM-DD, …]` to `dates` (configured years: {known})"
            raise DateRuleError(f"explicit dates not configured for {year}", hint=hint)
        return list(self.dates_by_year[year])


@dataclass(frozen=True)
class Override(Rule):
    rule: Rule
    overrides: Mapping[int, tuple[date, ...]] = field(default_factory=dict)

    def _dates(self, year: int, resolve_event: ResolveEvent) -> list[date]:
        if year in self.overrides:
            return list(self.overrides[year])
        return self.rule.dates(year, resolve_event)

    def references(self) -> set[str]:
        return self.rule.references()


@dataclass(frozen=True)
class Valid(Rule):
    rule: Rule
    from_year: int | None = None
    to_year: int | None = None

    def _dates(self, year: int, resolve_event: ResolveEvent) -> list[date]:
        if self.from_year is not None and year < self.from_year:
            hint = f"lower `from_year` if the rule applied in {year}, or do not plan {year}"
            raise DateRuleError(
                f"the rule starts in {self.from_year}; no date for {year}", hint=hint
            )
        if self.to_year is not None and year > self.to_year:
            hint = f"raise `to_year` if the rule still applies in {year}, or do not plan {year}"
            raise DateRuleError(f"the rule ended in {self.to_year}; no date for {year}", hint=hint)
        return self.rule.dates(year, resolve_event)

    def references(self) -> set[str]:
        return self.rule.references()


def _weekday_name(weekday: int) -> str:
    return next(name for name, n in WEEKDAYS.items() if n == weekday)  # the Danish name


# --- parsing -------------------------------------------------------------------------------


def parse_align(value: object, *, locate: Locate | None = None) -> Align:
    """`{ weekday = "mandag", direction = "after" }`."""
    if not isinstance(value, dict):
        hint = 'e.g. align = { weekday = "mandag", direction = "after" }'
        raise bad_value(locate, "align", "align must be an inline table", hint)
    keys = ("weekday", "direction")
    check_keys(
        value,
        allowed=keys,
        required=keys,
        where="align",
        locate=locate,
        line=lambda: _at(locate, "align"),
    )
    direction = value["direction"]
    if direction not in DIRECTIONS:
        hint = did_you_mean(str(direction), DIRECTIONS) or "use one of " + ", ".join(DIRECTIONS)
        raise bad_value(locate, "direction", f"direction = {direction!r} is not a direction", hint)
    return Align(parse_weekday(value["weekday"], locate=locate), direction)


_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # type -> (required, optional)
    "fixed": (("month", "day"), ()),
    "nth_weekday": (("month", "weekday", "n"), ()),
    "iso_week": (("week", "weekday"), ()),
    "easter": (("offset_days",), ()),
    "relative": (("base",), ("offset_days", "align", "year_offset")),
    "explicit": (("dates",), ()),
    "override": (("rule", "overrides"), ()),
    "valid": (("rule",), ("from_year", "to_year")),
}


def parse_rule(value: object, *, locate: Locate | None = None) -> Rule:
    """A rule from its TOML value: an inline table with a `type`, or `"event:SLUG"`."""
    if isinstance(value, str) and value.startswith(EVENT_PREFIX):
        slug = value.removeprefix(EVENT_PREFIX)
        if not SLUG_RE.match(slug):
            hint = 'write "event:SLUG" with the other campaign\'s slug, e.g. "event:karneval"'
            raise bad_value(locate, "base", f"{value!r} does not name a campaign", hint)
        return EventRef(slug)
    if not isinstance(value, dict):
        hint = 'e.g. { type = "fixed", month = 12, day = 24 }, or "event:SLUG"'
        raise bad_value(locate, "type", f"a date rule must be an inline table, not {value!r}", hint)
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in _KEYS:
        shown = "no type" if kind is None else f"unknown type {kind!r}"
        hint = did_you_mean(str(kind), RULE_TYPES) or "use one of " + ", ".join(RULE_TYPES)
        raise bad_value(locate, "type", f"date rule has {shown}", hint)
    required, optional = _KEYS[kind]
    check_keys(
        value,
        allowed=("type", *required, *optional),
        required=required,
        where=f"{kind} rule",
        locate=locate,
        line=lambda: _at(locate, "type"),
    )
    return _build(kind, value, locate)


def _build(kind: str, v: dict[str, object], locate: Locate | None) -> Rule:
    days = 366 * 100  # generous; it only catches typos that would overflow the calendar
    if kind == "fixed":
        month, day = int_value(v, "month", locate, 1, 12), int_value(v, "day", locate, 1, 31)
        if day > monthrange(2000, month)[1]:  # 2000 is a leap year: 29 February is allowed
            raise bad_value(locate, "day", f"day {day} does not exist in month {month}")
        return Fixed(month, day)
    if kind == "nth_weekday":
        n = int_value(v, "n", locate, -5, 5)
        if n == 0:
            raise bad_value(locate, "n", "n = 0 is not allowed", "1 is the first, -1 the last")
        weekday = parse_weekday(v["weekday"], locate=locate)
        return NthWeekday(int_value(v, "month", locate, 1, 12), weekday, n)
    if kind == "iso_week":
        return IsoWeek(
            int_value(v, "week", locate, 1, 53), parse_weekday(v["weekday"], locate=locate)
        )
    if kind == "easter":
        return Easter(int_value(v, "offset_days", locate, -days, days))
    if kind == "relative":
        return Relative(
            parse_rule(v["base"], locate=locate),
            optional_int(v, "offset_days", locate, -days, days) or 0,
            parse_align(v["align"], locate=locate) if "align" in v else None,
            optional_int(v, "year_offset", locate, -100, 100) or 0,
        )
    if kind == "explicit":
        return Explicit(dates_by_year(v["dates"], "dates", locate, single=False))
    if kind == "override":
        overrides = dates_by_year(v["overrides"], "overrides", locate, single=True)
        return Override(parse_rule(v["rule"], locate=locate), overrides)
    low, high = (
        optional_int(v, "from_year", locate, 1, 9999),
        optional_int(v, "to_year", locate, 1, 9999),
    )
    if low is not None and high is not None and low > high:
        raise bad_value(locate, "from_year", f"from_year {low} is after to_year {high}")
    return Valid(parse_rule(v["rule"], locate=locate), low, high)


# --- events --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of an event: `date` (== `start`) is the step anchor, `end` ends a span."""

    date: date
    start: date
    end: date


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
                raise DateRuleError(
                    what, hint=f"check `start` and `end`, or {_override_hint(year)}"
                )
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
            what = f"the series has no {_weekday_name(self.weekday)} from {low} to {high} in {year}"
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
    line = _at(locate, kind) or line
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

"""The date-rule language of campaign files (docs/campaigns.md): a rule plus a year gives dates.

Pure functions and values, no I/O and no clock: the year is a parameter (as in APScheduler's
triggers), so tests need no sleeping. A year a rule cannot serve raises `DateRuleError` saying
what to add to the file; a municipality posting on a guessed date is worse than a planner that
stops and asks. `event:SLUG` references are resolved through a callable the caller passes in,
so this module knows nothing about other files; `references()` lets the loader find cycles.
How rules make an event (a date, a span, a series) is events.py.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from calendar import monthrange
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from dateutil.easter import easter

from comms.campaigns.toml_source import (
    Locate,
    bad_value,
    check_keys,
    dates_by_year,
    did_you_mean,
    int_value,
    optional_int,
)
from comms.errors import CampaignError, DateRuleError

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
RULE_TYPES: tuple[str, ...] = (
    "fixed",
    "nth_weekday",
    "iso_week",
    "easter",
    "relative",
    "explicit",
    "override",
)
RULE_TYPES += ("valid",)
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-_]*$")
EVENT_PREFIX = "event:"
_ORDINAL = {1: "1st", 2: "2nd", 3: "3rd"}


def _at(locate: Locate | None, key: str) -> int | None:
    return locate(key) if locate else None


def override_hint(year: int) -> str:
    """How to give a year the rule cannot serve its date by hand (the way out of every error)."""
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
            raise DateRuleError(f"no date for {year}: {exc}", hint=override_hint(year)) from exc
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
            raise DateRuleError(f"29 February does not exist in {year}", hint=override_hint(year))
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
            what = f"there is no {which} {weekday_name(self.weekday)} in {year}-{self.month:02}"
            raise DateRuleError(
                what, hint=f"use n = {4 if self.n > 0 else -4}, or {override_hint(year)}"
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
            raise DateRuleError(what, hint=override_hint(year))
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


def weekday_name(weekday: int) -> str:
    """The Danish name of a weekday number, for error messages."""
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

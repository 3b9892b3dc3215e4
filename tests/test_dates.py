"""The date-rule language: every rule type, the dates in docs/calendar.md, the error messages."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from dateutil.easter import easter
from hypothesis import given
from hypothesis import strategies as st

from comms.campaigns.dates import (
    DIRECTIONS,
    WEEKDAYS,
    EventRef,
    Relative,
    align_to_weekday,
    parse_rule,
    parse_weekday,
)
from comms.campaigns.events import (
    DateEvent,
    DatesSeries,
    Occurrence,
    SpanEvent,
    WeekdaySeries,
    parse_event,
)
from comms.errors import CampaignError, DateRuleError

YEARS = (2024, 2025, 2026, 2027)


def no_events(slug: str, year: int) -> list[date]:
    raise AssertionError(f"unexpected event reference {slug} {year}")


def dates_of(rule: dict | str, year: int, resolve=no_events) -> list[date]:
    return parse_rule(rule).dates(year, resolve)


def by_year(rule: dict, resolve=no_events) -> list[date]:
    """The single date of each year 2024–2027."""
    found = [dates_of(rule, y, resolve) for y in YEARS]
    assert all(len(d) == 1 for d in found)
    return [d[0] for d in found]


def iso(*texts: str) -> list[date]:
    return [date.fromisoformat(t) for t in texts]


KARNEVAL = {"type": "iso_week", "week": 21, "weekday": "lørdag"}
VINTERTID = {"type": "nth_weekday", "month": 10, "weekday": "søndag", "n": -1}
J_DAG = {"type": "nth_weekday", "month": 11, "weekday": "fredag", "n": 1}


def calendar_events(slug: str, year: int) -> list[date]:
    rules = {"karneval": KARNEVAL, "vintertid": VINTERTID, "j-dag": J_DAG}
    return dates_of(rules[slug], year)


# --- weekdays and alignment ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [("mandag", 0), ("Monday", 0), ("lørdag", 5), ("SATURDAY", 5), (" søndag ", 6), ("fredag", 4)],
)
def test_parse_weekday_accepts_danish_and_english(name: str, expected: int) -> None:
    assert parse_weekday(name) == expected


def test_weekdays_cover_both_languages() -> None:
    assert sorted(set(WEEKDAYS.values())) == list(range(7))
    assert len(WEEKDAYS) == 14


def test_parse_weekday_suggests_a_close_name() -> None:
    with pytest.raises(CampaignError, match="not a weekday") as info:
        parse_weekday("fredga")
    assert "fredag" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("direction", "expected"),
    [
        ("on_or_before", "2024-12-21"),
        ("before", "2024-12-21"),
        ("on_or_after", "2024-12-28"),
        ("after", "2024-12-28"),
    ],
)
def test_align_from_a_monday(direction: str, expected: str) -> None:
    assert align_to_weekday(date(2024, 12, 23), 5, direction) == date.fromisoformat(expected)


def test_align_on_the_weekday_itself() -> None:
    saturday = date(2025, 5, 24)
    assert align_to_weekday(saturday, 5, "on_or_before") == saturday
    assert align_to_weekday(saturday, 5, "on_or_after") == saturday
    assert align_to_weekday(saturday, 5, "before") == date(2025, 5, 17)
    assert align_to_weekday(saturday, 5, "after") == date(2025, 5, 31)


def test_align_rejects_unknown_direction() -> None:
    with pytest.raises(ValueError, match="direction"):
        align_to_weekday(date(2025, 1, 1), 0, "sideways")


# --- every rule type -------------------------------------------------------------------------


def test_fixed() -> None:
    assert dates_of({"type": "fixed", "month": 12, "day": 24}, 2026) == [date(2026, 12, 24)]


def test_fixed_29_february_only_in_leap_years() -> None:
    rule = {"type": "fixed", "month": 2, "day": 29}
    assert dates_of(rule, 2028) == [date(2028, 2, 29)]
    with pytest.raises(DateRuleError, match="29 February does not exist in 2027") as info:
        dates_of(rule, 2027)
    assert "override" in (info.value.hint or "")


def test_fixed_rejects_impossible_day_when_parsed() -> None:
    with pytest.raises(CampaignError, match="day 31 does not exist in month 4"):
        parse_rule({"type": "fixed", "month": 4, "day": 31})


def test_j_dag_first_friday_of_november() -> None:
    assert by_year(J_DAG) == iso("2024-11-01", "2025-11-07", "2026-11-06", "2027-11-05")


def test_last_sunday_of_october() -> None:
    assert by_year(VINTERTID) == iso("2024-10-27", "2025-10-26", "2026-10-25", "2027-10-31")


def test_last_saturday_of_june_and_second_to_last() -> None:
    last = {"type": "nth_weekday", "month": 6, "weekday": "saturday", "n": -1}
    assert by_year(last) == iso("2024-06-29", "2025-06-28", "2026-06-27", "2027-06-26")
    assert dates_of({**last, "n": -2}, 2024) == [date(2024, 6, 22)]


def test_fifth_weekday_missing_is_an_error() -> None:
    rule = {"type": "nth_weekday", "month": 2, "weekday": "fredag", "n": 5}
    with pytest.raises(DateRuleError, match="no 5th fredag in 2026-02"):
        dates_of(rule, 2026)
    assert dates_of({**rule, "month": 5}, 2026) == [date(2026, 5, 29)]


def test_karneval_saturday_of_iso_week_21() -> None:
    assert by_year(KARNEVAL) == iso("2024-05-25", "2025-05-24", "2026-05-23", "2027-05-29")


def test_iso_week_53_exists_in_2026_but_not_2027() -> None:
    rule = {"type": "iso_week", "week": 53, "weekday": "mandag"}
    assert dates_of(rule, 2026) == [date(2026, 12, 28)]
    with pytest.raises(DateRuleError, match="ISO week 53 does not exist in 2027") as info:
        dates_of(rule, 2027)
    assert "2027 = 2027-MM-DD" in (info.value.hint or "")


def test_iso_week_year_differs_from_calendar_year() -> None:
    rule = {"type": "iso_week", "week": 1, "weekday": "mandag"}
    assert dates_of(rule, 2025) == [date(2024, 12, 30)]


def test_easter_in_march_and_april() -> None:
    rule = {"type": "easter", "offset_days": 0}
    assert dates_of(rule, 2024) == [date(2024, 3, 31)]
    assert dates_of(rule, 2025) == [date(2025, 4, 20)]


def test_kristi_himmelfart_and_paaskeferie_start() -> None:
    himmelfart = {"type": "easter", "offset_days": 39}
    assert by_year(himmelfart) == iso("2024-05-09", "2025-05-29", "2026-05-14", "2027-05-06")
    start = {"type": "easter", "offset_days": -8}
    assert by_year(start) == iso("2024-03-23", "2025-04-12", "2026-03-28", "2027-03-20")


def test_boernekarneval_one_week_before_karneval() -> None:
    rule = {"type": "relative", "base": "event:karneval", "offset_days": -7}
    expected = iso("2024-05-18", "2025-05-17", "2026-05-16", "2027-05-22")
    assert by_year(rule, calendar_events) == expected
    assert parse_rule(rule).references() == {"karneval"}


def test_blaa_mandag_explicit_dates_aligned_to_the_monday_after() -> None:
    rule = {
        "type": "relative",
        "base": {
            "type": "explicit",
            "dates": {"2026": iso("2026-04-18", "2026-04-25", "2026-05-02")},
        },
        "align": {"weekday": "monday", "direction": "after"},
    }
    assert dates_of(rule, 2026) == iso("2026-04-20", "2026-04-27", "2026-05-04")


def test_juleferie_saturday_on_or_before_23_december() -> None:
    rule = {
        "type": "override",
        "rule": {
            "type": "relative",
            "base": {"type": "fixed", "month": 12, "day": 23},
            "align": {"weekday": "lørdag", "direction": "on_or_before"},
        },
        "overrides": {},
    }
    assert by_year(rule) == iso("2024-12-21", "2025-12-20", "2026-12-19", "2027-12-18")


def test_refleksdag_three_days_before_winter_time() -> None:
    rule = {"type": "relative", "base": "event:vintertid", "offset_days": -3}
    expected = iso("2024-10-24", "2025-10-23", "2026-10-22", "2027-10-28")
    assert by_year(rule, calendar_events) == expected


def test_year_offset_takes_the_base_from_the_year_before() -> None:
    rule = {
        "type": "relative",
        "base": {"type": "fixed", "month": 12, "day": 24},
        "offset_days": 14,
        "year_offset": -1,
    }
    assert dates_of(rule, 2026) == [date(2026, 1, 7)]


def test_explicit_dates_and_missing_year() -> None:
    rule = {"type": "explicit", "dates": {"2026": iso("2026-05-02", "2026-04-18")}}
    assert dates_of(rule, 2026) == iso("2026-04-18", "2026-05-02")
    with pytest.raises(DateRuleError, match="explicit dates not configured for 2029") as info:
        dates_of(rule, 2029)
    assert "add `2029 = [" in (info.value.hint or "")
    assert "2026" in (info.value.hint or "")


def test_explicit_rejects_quoted_dates_and_bad_years() -> None:
    with pytest.raises(CampaignError, match="not a date") as info:
        parse_rule({"type": "explicit", "dates": {"2026": ["2026-04-18"]}})
    assert "without quotes" in (info.value.hint or "")
    with pytest.raises(CampaignError, match="not a year"):
        parse_rule({"type": "explicit", "dates": {"26": [date(2026, 4, 18)]}})
    with pytest.raises(CampaignError, match="non-empty list"):
        parse_rule({"type": "explicit", "dates": {"2026": []}})


def test_override_replaces_one_year_with_a_date_or_a_list() -> None:
    rule = {
        "type": "override",
        "rule": {"type": "easter", "offset_days": 38},
        "overrides": {"2026": date(2026, 5, 13), "2030": iso("2030-05-01", "2030-05-02")},
    }
    assert by_year(rule) == iso("2024-05-08", "2025-05-28", "2026-05-13", "2027-05-05")
    assert dates_of(rule, 2030) == iso("2030-05-01", "2030-05-02")


def test_valid_store_bededag_until_2023() -> None:
    rule = {"type": "valid", "rule": {"type": "easter", "offset_days": 26}, "to_year": 2023}
    assert dates_of(rule, 2023) == [date(2023, 5, 5)]
    with pytest.raises(DateRuleError, match="ended in 2023; no date for 2024") as info:
        dates_of(rule, 2024)
    assert "to_year" in (info.value.hint or "")


def test_valid_from_year() -> None:
    rule = {"type": "valid", "rule": {"type": "fixed", "month": 1, "day": 1}, "from_year": 2025}
    assert dates_of(rule, 2025) == [date(2025, 1, 1)]
    with pytest.raises(DateRuleError, match="starts in 2025"):
        dates_of(rule, 2024)


def test_references_are_found_in_nested_rules() -> None:
    rule = parse_rule(
        {
            "type": "valid",
            "rule": {
                "type": "override",
                "rule": {"type": "relative", "base": "event:a"},
                "overrides": {},
            },
        }
    )
    assert rule.references() == {"a"}
    assert parse_rule({"type": "fixed", "month": 1, "day": 1}).references() == set()


def test_event_string_is_a_rule() -> None:
    assert parse_rule("event:j-dag") == EventRef("j-dag")


# --- parse errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "message", "hint"),
    [
        ({"type": "fixd", "month": 1, "day": 1}, "unknown type 'fixd'", "did you mean 'fixed'?"),
        ({"month": 1, "day": 1}, "no type", "use one of fixed"),
        ({"type": "fixed", "monht": 1, "day": 1}, "unknown key 'monht'", "did you mean 'month'?"),
        ({"type": "fixed", "day": 1}, "missing key 'month' in fixed rule", "add `month"),
        ({"type": "fixed", "month": 13, "day": 1}, "from 1 to 12", None),
        ({"type": "fixed", "month": True, "day": 1}, "whole number", None),
        ({"type": "nth_weekday", "month": 1, "weekday": "mandag", "n": 0}, "n = 0", "-1"),
        ({"type": "iso_week", "week": 54, "weekday": "mandag"}, "from 1 to 53", None),
        (
            {"type": "relative", "base": "karneval"},
            "must be an inline table",
            "event:SLUG",
        ),
        ({"type": "relative", "base": "event:Karneval!"}, "does not name a campaign", None),
        (
            {"type": "relative", "base": "event:a", "align": {"weekday": "mandag"}},
            "missing key 'direction'",
            None,
        ),
        (
            {
                "type": "relative",
                "base": "event:a",
                "align": {"weekday": "mandag", "direction": "afterwards"},
            },
            "not a direction",
            "did you mean 'after'?",
        ),
        (
            {"type": "valid", "rule": "event:a", "from_year": 2025, "to_year": 2024},
            "after to_year",
            None,
        ),
        (12, "must be an inline table", None),
    ],
)
def test_parse_errors_say_what_to_do(rule: object, message: str, hint: str | None) -> None:
    with pytest.raises(CampaignError, match=message) as info:
        parse_rule(rule)
    if hint:
        assert hint in (info.value.hint or "")


def test_parse_errors_use_locate_for_the_line() -> None:
    lines = {"type": 3, "week": 4}
    with pytest.raises(CampaignError) as info:
        parse_rule({"type": "iso_week", "week": 60, "weekday": "mandag"}, locate=lines.get)
    assert info.value.line == 4


# --- events ----------------------------------------------------------------------------------


def test_date_event_with_several_explicit_dates_gives_several_occurrences() -> None:
    event = parse_event(
        {"date": {"type": "explicit", "dates": {"2026": iso("2026-04-18", "2026-04-25")}}}
    )
    assert isinstance(event, DateEvent)
    assert event.kind == "date"
    assert event.occurrences(2026, no_events) == [
        Occurrence(date(2026, 4, 18), date(2026, 4, 18), date(2026, 4, 18)),
        Occurrence(date(2026, 4, 25), date(2026, 4, 25), date(2026, 4, 25)),
    ]


def test_efteraarsferie_span() -> None:
    event = parse_event(
        {
            "span": {
                "start": {
                    "type": "relative",
                    "base": {"type": "iso_week", "week": 42, "weekday": "mandag"},
                    "offset_days": -2,
                },
                "end": {"type": "iso_week", "week": 42, "weekday": "søndag"},
            }
        },
        line=7,
    )
    assert isinstance(event, SpanEvent)
    assert event.line == 7
    starts = [event.occurrences(y, no_events)[0].start for y in YEARS]
    assert starts == iso("2024-10-12", "2025-10-11", "2026-10-10", "2027-10-16")
    (only,) = event.occurrences(2024, no_events)
    assert only == Occurrence(date(2024, 10, 12), date(2024, 10, 12), date(2024, 10, 20))
    assert event.reference_dates(2024, no_events) == [date(2024, 10, 12)]


def test_span_that_ends_before_it_starts_is_an_error() -> None:
    event = parse_event(
        {
            "span": {
                "start": {"type": "fixed", "month": 5, "day": 2},
                "end": {"type": "fixed", "month": 5, "day": 1},
            }
        }
    )
    with pytest.raises(DateRuleError, match=r"ends .* before it starts"):
        event.occurrences(2026, no_events)


def test_julefrokost_fridays_from_j_dag_to_the_friday_before_christmas() -> None:
    event = parse_event(
        {
            "series": {
                "weekday": "fredag",
                "from": "event:j-dag",
                "to": {
                    "type": "relative",
                    "base": {"type": "fixed", "month": 12, "day": 24},
                    "align": {"weekday": "friday", "direction": "before"},
                },
            }
        }
    )
    assert isinstance(event, WeekdaySeries)
    assert event.references() == {"j-dag"}
    fridays = [o.date for o in event.occurrences(2024, calendar_events)]
    assert fridays[0] == date(2024, 11, 1)
    assert fridays[-1] == date(2024, 12, 20)
    assert len(fridays) == 8
    assert all(d.weekday() == 4 for d in fridays)
    fridays_2025 = [o.date for o in event.occurrences(2025, calendar_events)]
    assert (fridays_2025[0], fridays_2025[-1], len(fridays_2025)) == (
        date(2025, 11, 7),
        date(2025, 12, 19),
        7,
    )
    assert event.reference_dates(2025, calendar_events) == [date(2025, 11, 7)]


def test_weekday_series_starting_off_weekday_and_empty_series() -> None:
    event = parse_event(
        {
            "series": {
                "weekday": "mandag",
                "from": {"type": "easter", "offset_days": 8},
                "to": {"type": "easter", "offset_days": 57},
            }
        }
    )
    mondays = [o.date for o in event.occurrences(2026, no_events)]
    assert mondays[0] == easter(2026) + timedelta(days=8)
    assert mondays[-1] <= easter(2026) + timedelta(days=57)
    empty = parse_event(
        {
            "series": {
                "weekday": "mandag",
                "from": {"type": "fixed", "month": 5, "day": 5},  # a Tuesday in 2026
                "to": {"type": "fixed", "month": 5, "day": 9},
            }
        }
    )
    with pytest.raises(DateRuleError, match="no mandag from 2026-05-05 to 2026-05-09"):
        empty.occurrences(2026, no_events)


def test_blaa_mandag_as_a_dates_series() -> None:
    event = parse_event(
        {
            "series": {
                "dates": {
                    "type": "explicit",
                    "dates": {"2026": iso("2026-04-18", "2026-04-19", "2026-04-25", "2026-05-02")},
                },
                "align": {"weekday": "mandag", "direction": "after"},
            }
        }
    )
    assert isinstance(event, DatesSeries)
    got = [o.date for o in event.occurrences(2026, no_events)]
    assert got == iso("2026-04-20", "2026-04-27", "2026-05-04")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({}, "exactly one of date, span, series"),
        (
            {"date": "event:a", "span": {"start": "event:a", "end": "event:b"}},
            "it has date and span",
        ),
        ({"dato": "event:a"}, "unknown key 'dato'"),
        ({"span": {"start": "event:a"}}, "missing key 'end'"),
        ({"series": {"weekday": "fredag", "from": "event:a"}}, "missing key 'to'"),
        ({"series": {"dates": "event:a", "weekday": "fredag"}}, "mixes its two forms"),
        (
            {
                "series": {
                    "weekday": "fredag",
                    "from": "event:a",
                    "to": "event:a",
                    "align": {"weekday": "mandag", "direction": "after"},
                }
            },
            "mixes",
        ),
        ({"span": 3}, "must be a table"),
    ],
)
def test_event_shape_errors(table: dict, message: str) -> None:
    with pytest.raises(CampaignError, match=message):
        parse_event(table)


def test_relative_without_offset_or_align_is_the_base() -> None:
    rule = parse_rule({"type": "relative", "base": KARNEVAL})
    assert isinstance(rule, Relative)
    assert rule.dates(2025, no_events) == [date(2025, 5, 24)]


# --- properties ------------------------------------------------------------------------------

years = st.integers(min_value=1900, max_value=2200)
weekdays = st.integers(min_value=0, max_value=6)


@given(
    year=years,
    month=st.integers(min_value=1, max_value=12),
    weekday=weekdays,
    n=st.sampled_from([1, 2, 3, 4, -1, -2, -3, -4]),
)
def test_nth_weekday_is_that_weekday_in_that_month(
    year: int, month: int, weekday: int, n: int
) -> None:
    rule = {"type": "nth_weekday", "month": month, "weekday": weekday_name(weekday), "n": n}
    (d,) = dates_of(rule, year)
    assert (d.year, d.month, d.weekday()) == (year, month, weekday)
    if n > 0:
        assert (d.day - 1) // 7 == n - 1
    else:
        following = d + timedelta(days=7 * -n)
        assert following.month != month
        assert (d + timedelta(days=7 * (-n - 1))).month == month


@given(
    d=st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)),
    weekday=weekdays,
    direction=st.sampled_from(DIRECTIONS),
)
def test_align_lands_on_the_weekday_within_a_week(d: date, weekday: int, direction: str) -> None:
    got = align_to_weekday(d, weekday, direction)
    assert got.weekday() == weekday
    moved = (got - d).days
    assert abs(moved) <= 7
    assert (moved >= 0) == direction.endswith("after") or moved == 0
    if direction.startswith("on_or"):
        assert abs(moved) <= 6
    else:
        assert moved != 0


@given(year=years, week=st.integers(min_value=1, max_value=52), weekday=weekdays)
def test_iso_week_round_trips(year: int, week: int, weekday: int) -> None:
    (d,) = dates_of({"type": "iso_week", "week": week, "weekday": weekday_name(weekday)}, year)
    assert tuple(d.isocalendar()) == (year, week, weekday + 1)


@given(year=years)
def test_easter_is_a_sunday_between_22_march_and_25_april(year: int) -> None:
    (d,) = dates_of({"type": "easter", "offset_days": 0}, year)
    assert d.weekday() == 6
    assert date(year, 3, 22) <= d <= date(year, 4, 25)


def weekday_name(weekday: int) -> str:
    return ["mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag"][weekday]

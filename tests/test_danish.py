"""Danish dates, times and numbers (comms.content.danish)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from comms.content import danish

D = date(2019, 1, 14)


@pytest.mark.parametrize(
    ("func", "expected"),
    [
        (danish.format_date, "14. januar 2019"),
        (danish.format_date_full, "mandag den 14. januar 2019"),
        (danish.format_date_short, "14.1.2019"),
        (danish.format_day_month, "14. januar"),
        (danish.format_month, "januar 2019"),
        (danish.format_weekday, "mandag"),
        (danish.format_week, "uge 3"),
    ],
)
def test_date_formats(func, expected):
    assert func(D) == expected


def test_datetime_is_formatted_by_its_own_date():
    assert danish.format_date(datetime(2019, 1, 14, 23, 30, tzinfo=UTC)) == "14. januar 2019"


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(2024, 5, 22), "uge 21"),
        (date(2027, 1, 1), "uge 53"),  # ISO: 1 January 2027 is in week 53 of 2026
        (date(2026, 1, 1), "uge 1"),
        (date(2024, 12, 30), "uge 1"),
    ],
)
def test_iso_week(d, expected):
    assert danish.format_week(d) == expected


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (time(17, 30), "17.30"),
        (time(9, 5), "9.05"),
        (time(0, 0), "0.00"),
        (datetime(2019, 1, 14, 20, 59, tzinfo=UTC), "20.59"),
    ],
)
def test_time(t, expected):
    assert danish.format_time(t) == expected


def test_datetime_converts_to_zone():
    dt = datetime(2019, 1, 14, 19, 59, tzinfo=UTC)
    assert danish.format_datetime(dt, "Europe/Copenhagen") == "14. januar 2019 kl. 20.59"
    assert danish.format_datetime(dt, ZoneInfo("Europe/Copenhagen")) == "14. januar 2019 kl. 20.59"


def test_datetime_crosses_midnight_in_zone():
    dt = datetime(2024, 6, 30, 22, 15, tzinfo=UTC)  # summer time: +2
    assert danish.format_datetime(dt, "Europe/Copenhagen") == "1. juli 2024 kl. 0.15"


def test_datetime_from_other_offset():
    dt = datetime(2019, 1, 14, 14, 59, tzinfo=timezone(timedelta(hours=-5)))
    assert danish.format_datetime(dt, "Europe/Copenhagen") == "14. januar 2019 kl. 20.59"


def test_naive_datetime_is_refused():
    with pytest.raises(ValueError, match="naive"):
        danish.format_datetime(datetime(2019, 1, 14, 20, 59), "Europe/Copenhagen")  # noqa: DTZ001


def test_period():
    assert (
        danish.format_period(date(2018, 1, 14), date(2019, 1, 7))
        == "14. januar 2018 til 7. januar 2019"
    )
    assert danish.format_period(D, D) == "14. januar 2019"


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (3555, "3.555"),
        (25056, "25.056"),
        (1234567, "1.234.567"),
        (999, "999"),
        (0, "0"),
        (-3555, "-3.555"),
        (3.5, "3,5"),
        (3.0, "3"),
        (3.45, "3,5"),  # half away from zero, not banker's rounding
        (0.15, "0,2"),
        (1234567.891, "1.234.567,9"),
        (-0.01, "0"),
        (Decimal("2.55"), "2,6"),
    ],
)
def test_number(x, expected):
    assert danish.format_number(x) == expected


def test_number_with_decimals():
    assert danish.format_number(3.456, decimals=2) == "3,46"
    assert danish.format_number(3, decimals=2) == "3,00"
    assert danish.format_number(2.5, decimals=0) == "3"
    assert danish.format_number(12345.5, decimals=1) == "12.345,5"


@pytest.mark.parametrize("bad", [True, "3555", None, float("nan"), float("inf")])
def test_number_refuses_non_numbers(bad):
    with pytest.raises((TypeError, ValueError)):
        danish.format_number(bad)


@given(st.dates())
def test_date_outputs_have_plain_spaces(d):
    for func in (
        danish.format_date,
        danish.format_date_full,
        danish.format_date_short,
        danish.format_day_month,
        danish.format_month,
        danish.format_weekday,
        danish.format_week,
    ):
        out = func(d)
        assert "\xa0" not in out
        assert "\u202f" not in out
        assert out == out.lower()


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_integers_round_trip(n):
    out = danish.format_number(n)
    assert "\xa0" not in out
    assert "," not in out
    assert int(out.replace(".", "")) == n


@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
def test_floats_have_at_most_one_decimal(x):
    out = danish.format_number(x)
    assert "." not in out.split(",")[-1] or "," not in out
    if "," in out:
        assert len(out.split(",")[1]) == 1

"""Local wall times to UTC on Europe/Copenhagen's DST days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from comms.timeutil import local_day_bounds, local_to_utc, naive_local_to_utc

CPH = ZoneInfo("Europe/Copenhagen")


def test_time_in_the_spring_gap_moves_forward_and_is_flagged():
    resolved = local_to_utc(date(2026, 3, 29), time(2, 30), CPH)
    assert resolved.utc == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert resolved.dst_adjusted


def test_time_that_exists_twice_in_autumn_means_the_first():
    resolved = local_to_utc(date(2026, 10, 25), time(2, 30), CPH)
    assert resolved.utc == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    assert not resolved.dst_adjusted


def test_ordinary_times_in_winter_and_summer():
    assert local_to_utc(date(2026, 1, 14), time(9), CPH).utc == datetime(2026, 1, 14, 8, tzinfo=UTC)
    assert local_to_utc(date(2026, 7, 1), time(9), CPH).utc == datetime(2026, 7, 1, 7, tzinfo=UTC)


def test_local_day_bounds_cover_whole_local_days():
    start, end = local_day_bounds(date(2026, 10, 25), date(2026, 10, 25), CPH)
    assert start == datetime(2026, 10, 24, 22, tzinfo=UTC)
    assert end == datetime(2026, 10, 25, 23, tzinfo=UTC)  # a 25-hour day


def test_naive_is_local_aware_is_kept():
    naive = datetime(2019, 1, 14, 12)  # noqa: DTZ001 - a naive local time is the input
    assert naive_local_to_utc(naive, CPH) == datetime(2019, 1, 14, 11, tzinfo=UTC)
    aware = datetime(2019, 1, 14, 12, tzinfo=UTC)
    assert naive_local_to_utc(aware, CPH) == aware

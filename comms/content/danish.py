"""Danish dates, times and numbers for citizen text and reports (Babel, locale da_DK).

Every output uses plain ASCII spaces: Babel's no-break spaces (U+00A0, U+202F) are replaced so
posts, tests and reports compare as written. Month and weekday names are lower-case, as Danish
writes them; capitalise at the start of a sentence yourself.
"""

from __future__ import annotations

from datetime import date, datetime, time, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from numbers import Integral, Real
from zoneinfo import ZoneInfo

from babel import dates as babel_dates
from babel import numbers as babel_numbers
from babel.core import Locale

LOCALE = "da_DK"
_LOCALE = Locale.parse(LOCALE)  # parsed once: Babel would parse the name on every call

# Explicit CLDR patterns, so a Babel/CLDR update cannot silently change citizen text.
_DATE = "d. MMMM y"  # 14. januar 2019
_DATE_FULL = "EEEE 'den' d. MMMM y"  # mandag den 14. januar 2019
_DATE_SHORT = "d.M.y"  # 14.1.2019 (no leading zeros, as in running text)
_DAY_MONTH = "d. MMMM"  # 14. januar
_MONTH_YEAR = "MMMM y"  # januar 2019
_WEEKDAY = "EEEE"  # mandag
_TIME = "H.mm"  # 17.30, 9.05 (no leading zero on the hour)

_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " "})


def _plain(text: str) -> str:
    """Replace Babel's no-break and thin spaces with ASCII spaces."""
    return text.translate(_SPACES)


def _as_date(d: date | datetime) -> date:
    """A datetime is formatted by its own (local) calendar date, never converted."""
    if isinstance(d, datetime):
        return d.date()
    if isinstance(d, date):
        return d
    raise TypeError(f"expected a date or datetime, got {type(d).__name__}: {d!r}")


def _fmt_date(d: date | datetime, pattern: str) -> str:
    return _day_text(_as_date(d), pattern)


@lru_cache(maxsize=4096)
def _day_text(day: date, pattern: str) -> str:
    """A day in a pattern: the same day always reads the same, and a page shows many."""
    return _plain(babel_dates.format_date(day, pattern, locale=_LOCALE))


def format_date(d: date | datetime) -> str:
    """'14. januar 2019'."""
    return _fmt_date(d, _DATE)


def format_date_full(d: date | datetime) -> str:
    """'mandag den 14. januar 2019'."""
    return _fmt_date(d, _DATE_FULL)


def format_date_short(d: date | datetime) -> str:
    """'14.1.2019'."""
    return _fmt_date(d, _DATE_SHORT)


def format_day_month(d: date | datetime) -> str:
    """'14. januar'."""
    return _fmt_date(d, _DAY_MONTH)


def format_month(d: date | datetime) -> str:
    """'januar 2019': the month and year of a date."""
    return _fmt_date(d, _MONTH_YEAR)


def format_weekday(d: date | datetime) -> str:
    """'mandag'."""
    return _fmt_date(d, _WEEKDAY)


def format_week(d: date | datetime) -> str:
    """'uge 21': the ISO 8601 week number, as Danes count weeks."""
    return f"uge {_as_date(d).isocalendar().week}"


def format_time(t: time | datetime) -> str:
    """'17.30' for a time or for a datetime's own wall-clock time (no zone conversion)."""
    if isinstance(t, datetime):
        t = t.timetz()
    if not isinstance(t, time):
        raise TypeError(f"expected a time or datetime, got {type(t).__name__}: {t!r}")
    return f"{t.hour}.{t.minute:02d}"  # _TIME ("H.mm"): Danish digits are ASCII digits


def format_datetime(dt: datetime, zone: tzinfo | str) -> str:
    """'14. januar 2019 kl. 20.59': an aware datetime shown in `zone` (Europe/Copenhagen)."""
    if not isinstance(dt, datetime):
        raise TypeError(f"expected a datetime, got {type(dt).__name__}: {dt!r}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt.isoformat()}: give an aware datetime")
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    local = dt.astimezone(tz)
    return f"{format_date(local)} kl. {format_time(local)}"


def format_period(start: date | datetime, end: date | datetime) -> str:
    """'14. januar 2018 til 7. januar 2019'; a single day when start and end are the same day."""
    if _as_date(start) == _as_date(end):
        return format_date(start)
    return f"{format_date(start)} til {format_date(end)}"


def format_number(x: int | float | Decimal, *, decimals: int | None = None) -> str:
    """'3.555', '1.234.567', '3,5'.

    Integers get no decimals; floats at most one (3.0 -> '3', 3.45 -> '3,5'). With `decimals=n`
    every number gets exactly n decimals (for report columns). Rounding is half away from zero,
    as people expect, not Babel's banker's rounding.
    """
    if isinstance(x, bool) or not isinstance(x, Real | Decimal):
        raise TypeError(f"expected a number, got {type(x).__name__}: {x!r}")
    if decimals is not None and decimals < 0:
        raise ValueError(f"decimals must be 0 or more, got {decimals}")
    if isinstance(x, Decimal):
        value = x
    elif isinstance(x, Integral):
        value = Decimal(int(x))
    else:
        value = Decimal(repr(float(x)))  # shortest repr: 0.15 rounds up, as written
    if not value.is_finite():
        raise ValueError(f"cannot write {x} as a Danish number")
    if decimals is None:
        places = 0 if isinstance(x, Integral) else 1
        pattern = "#,##0" + ("." + "#" * places if places else "")
    else:
        places = decimals
        pattern = "#,##0" + ("." + "0" * places if places else "")
    value = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if value == 0:
        value = abs(value)  # no '-0'
    return _plain(babel_numbers.format_decimal(value, pattern, locale=_LOCALE))

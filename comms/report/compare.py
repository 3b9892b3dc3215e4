"""`comms report --compare-to FROM:TO`: the change of each figure against an earlier period.

Two reports, built the same way, are set side by side group by group (a group in only one of them
counts as zero posts in the other). A change is the difference and, when the earlier figure is
known and not zero, the percentage. The Danish sentence says the same for the totals, for the
status report. Unknown figures stay unknown: no change is computed from a missing number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from comms.content.danish import format_date, format_month, format_number
from comms.content.terminal import terminal_line
from comms.report.figures import TOTAL, Group, Report
from comms.report.render import MISSING, markdown_text, section_rows

# the figures compared, with their Danish names for tables
FIGURES = (
    ("posts", "Opslag"),
    ("reach_total", "Rækkevidde i alt"),
    ("reach_median", "Rækkevidde median"),
    ("impressions", "Visninger"),
    ("engagements", "Interaktioner"),
)


def parse_period(value: str) -> tuple[date, date]:
    """'2025-01-01:2025-12-31' -> (start, end); a ValueError names what is wrong."""
    start_text, colon, end_text = value.partition(":")
    if not colon:
        raise ValueError(f"{value!r} is not a period like 2025-01-01:2025-12-31")
    try:
        start, end = date.fromisoformat(start_text.strip()), date.fromisoformat(end_text.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a period like 2025-01-01:2025-12-31") from None
    if end < start:
        raise ValueError(f"the period {value!r} ends before it starts")
    return start, end


@dataclass(frozen=True)
class Change:
    """One figure in both periods; `delta` and `percent` are None when either is unknown."""

    before: int | float | None
    after: int | float | None

    @property
    def delta(self) -> int | float | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before

    @property
    def percent(self) -> float | None:
        if self.delta is None or not self.before:
            return None
        return 100.0 * self.delta / self.before


@dataclass(frozen=True)
class Comparison:
    """The current period against the earlier one."""

    current: Report
    earlier: Report

    def changes(self, attr: str, *, shown: bool = True) -> list[tuple[str, dict[str, Change]]]:
        """(name, figure -> Change) for every group of a section in either period; `shown`
        gives names as the Danish tables show them, else the keys (channel types as in JSON)."""
        if shown:
            now, then = (
                dict(section_rows(self.current, attr)),
                dict(section_rows(self.earlier, attr)),
            )
        else:
            now, then = getattr(self.current, attr), getattr(self.earlier, attr)
        names = list(now) + [name for name in then if name not in now]
        return [(name, _changes(now.get(name), then.get(name))) for name in names]

    def totals(self) -> dict[str, Change]:
        return _changes(self.current.totals, self.earlier.totals)


def _changes(now: Group | None, then: Group | None) -> dict[str, Change]:
    now, then = now or Group(name=""), then or Group(name="")
    return {attr: Change(getattr(then, attr), getattr(now, attr)) for attr, _ in FIGURES}


def compare(current: Report, earlier: Report) -> Comparison:
    return Comparison(current=current, earlier=earlier)


def format_change(change: Change) -> str:
    """'+12 (+8 %)', '-3', '0 (0 %)' or '–' in Danish numbers."""
    if change.delta is None:
        return MISSING
    if change.delta == 0:
        return "0"
    sign = "+" if change.delta > 0 else ""
    text = sign + format_number(change.delta)
    if change.percent is not None:
        text += f" ({'+' if change.percent > 0 else ''}{format_number(change.percent)} %)"
    return text


def period_phrase(start: date, end: date) -> str:
    """The period as the sentence names it: 'i 2026' for a calendar year, 'i marts 2026' for a
    calendar month, 'den 5. marts 2026' for one day, else 'fra den 1. januar 2026 til den 30.
    juni 2026' (as the summary says)."""
    if start == end:
        return f"den {format_date(start)}"
    if (start.month, start.day, end.month, end.day) == (1, 1, 12, 31) and start.year == end.year:
        return f"i {start.year}"
    whole_month = start.day == 1 and (end + timedelta(days=1)).day == 1
    if whole_month and (start.year, start.month) == (end.year, end.month):
        return f"i {format_month(start)}"
    return f"fra den {format_date(start)} til den {format_date(end)}"


def danish_comparison(comparison: Comparison) -> str:
    """'I 2025 var der 80 opslag, som nåede i alt 90.000 personer. I 2026 var der 24 flere
    opslag end i 2025 (+30 %), og den samlede rækkevidde steg med 12.345 (+13,7 %).': the
    sentence names both periods, so it says which one had more."""
    current, earlier, totals = comparison.current, comparison.earlier, comparison.totals()
    now = period_phrase(current.start, current.end)
    then = period_phrase(earlier.start, earlier.end)
    text = f"{_capital(then)} var der {format_number(earlier.totals.posts)} opslag"
    if earlier.totals.reach_total is not None:
        text += f", som nåede i alt {format_number(earlier.totals.reach_total)} personer"
    change = totals["posts"]
    delta = int(change.delta or 0)
    if delta == 0:
        text += f". {_capital(now)} var der lige så mange opslag som {then}"
    else:
        word = "flere" if delta > 0 else "færre"
        text += f". {_capital(now)} var der {format_number(abs(delta))} {word} opslag end {then}"
        if change.percent is not None:
            text += f" ({_signed_percent(change.percent)})"
    reach = totals["reach_total"]
    if reach.delta is not None and reach.delta != 0:
        verb = "steg" if reach.delta > 0 else "faldt"
        text += f", og den samlede rækkevidde {verb} med {format_number(abs(reach.delta))}"
        if reach.percent is not None:
            text += f" ({_signed_percent(reach.percent)})"
    return text + "."


def _capital(phrase: str) -> str:
    return phrase[:1].upper() + phrase[1:]


def _signed_percent(value: float) -> str:
    return f"{'+' if value > 0 else ''}{format_number(value)} %"


def to_json(comparison: Comparison) -> dict[str, Any]:
    """The earlier period, its totals and every change, as plain numbers."""

    def plain(changes: dict[str, Change]) -> dict[str, Any]:
        return {
            attr: {
                "before": c.before,
                "after": c.after,
                "change": c.delta,
                "percent": None if c.percent is None else round(c.percent, 1),
            }
            for attr, c in changes.items()
        }

    earlier = comparison.earlier
    return {
        "period": {"from": earlier.start.isoformat(), "to": earlier.end.isoformat()},
        "totals": plain(comparison.totals()),
        **{
            key: {name: plain(c) for name, c in comparison.changes(attr, shown=False)}
            for key, attr in (
                ("channels", "channels"),
                ("channel_types", "channel_type_groups"),
                ("campaigns", "campaigns"),
                ("focus_areas", "focus_areas"),
            )
        },
        "summary": danish_comparison(comparison),
    }


def comparison_rows(comparison: Comparison, attr: str) -> list[list[str]]:
    """Rows for a Danish table: name, then per figure 'now (change)', the totals row last."""
    rows = []
    for name, changes in [*comparison.changes(attr), (TOTAL, comparison.totals())]:
        rows.append([name, *(format_change(changes[figure]) for figure, _ in FIGURES)])
    return rows


def to_markdown_lines(comparison: Comparison) -> list[str]:
    """A Markdown section: the change per channel and in total, then the Danish sentence."""
    earlier = comparison.earlier
    lines = [
        f"## Ændring siden {format_date(earlier.start)} til {format_date(earlier.end)}",
        "",
        "| Kanal | " + " | ".join(name for _, name in FIGURES) + " |",
        "|---" + "|---:" * len(FIGURES) + "|",
    ]
    for row in comparison_rows(comparison, "channels"):
        lines.append("| " + " | ".join((markdown_text(row[0]), *row[1:])) + " |")
    return [*lines, "", danish_comparison(comparison), ""]


def comparison_table(comparison: Comparison) -> Any:
    """A rich table of the change per channel type and in total, for the terminal."""
    from rich.table import Table
    from rich.text import Text

    earlier = comparison.earlier
    table = Table(
        title=f"Ændring siden {format_date(earlier.start)} til {format_date(earlier.end)}",
        title_justify="left",
        show_edge=False,
    )
    table.add_column("Kanaltype")
    for _, name in FIGURES:
        table.add_column(name, justify="right", no_wrap=True)
    rows = comparison_rows(comparison, "channel_type_groups")
    for index, row in enumerate(rows):
        last = index == len(rows) - 1
        cells = [Text(terminal_line(cell)) for cell in row]
        table.add_row(*cells, end_section=index == len(rows) - 2, style="bold" if last else None)
    return table

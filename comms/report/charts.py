"""The report's charts as PNG bytes: reach per post, posts per month per channel, reach by campaign.

matplotlib is imported only when a chart is drawn (the CLI stays fast), with the Agg backend so no
display is needed. Labels are Danish: month names, "1.234" numbers. A chart without data is left
out (None) rather than drawn empty. Each chart carries a title and an alt text for the documents.
Over long periods (years) the axes step by year, and points become small so 10 years stay legible.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from comms.content.danish import format_number, format_period
from comms.report.figures import PostPoint, Report
from comms.report.render import section_rows

MONTHS = ("jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec")
# one colour per channel, stable across charts (Tableau-like, readable in print)
PALETTE = (
    "#1f5fa8",
    "#e07b18",
    "#2e9a4b",
    "#c23b3b",
    "#7d56b0",
    "#8a5a44",
    "#d161a8",
    "#6b6b6b",
    "#a8a82a",
    "#17a2b8",
)
WIDTH_IN, HEIGHT_IN, DPI = 9.0, 4.2, 110
MAX_CAMPAIGNS = 15  # the rest are summed as "Øvrige"


@dataclass(frozen=True)
class Chart:
    """One drawn chart: a key for file names and ids, a Danish title, alt text and PNG bytes."""

    key: str
    title: str
    alt: str
    png: bytes


def build_charts(report: Report, points: list[PostPoint]) -> list[Chart]:
    """Every chart the data allows, in the order the documents show them."""
    zone = ZoneInfo(report.timezone)
    charts = [
        reach_per_post(report, points, zone),
        posts_per_month(report, points, zone),
        reach_by_campaign(report),
    ]
    return [chart for chart in charts if chart is not None]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.family": "DejaVu Sans",
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.color": "#dddddd",
            "grid.linewidth": 0.6,
            "svg.hashsalt": "comms",
        }
    )
    return plt


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buffer.getvalue()


def _danish_numbers(axis: Any) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda value, _pos: format_number(round(float(value)))))


def _date_axis(ax: Any, start: date, end: date) -> None:
    """Month ticks ('jan 2027') for short periods, year ticks for long ones."""
    import matplotlib.dates as mdates
    from matplotlib.ticker import FuncFormatter

    days = (end - start).days
    if days > 3 * 366:
        ax.xaxis.set_major_locator(mdates.YearLocator())
        label = lambda value, _pos: str(mdates.num2date(value).year)  # noqa: E731
    else:
        step = 1 if days <= 200 else 2 if days <= 400 else 3
        ax.xaxis.set_major_locator(mdates.MonthLocator(interval=step))

        def label(value: float, _pos: int) -> str:
            when = mdates.num2date(value)
            return f"{MONTHS[when.month - 1]} {when.year}"

    ax.xaxis.set_major_formatter(FuncFormatter(label))
    ax.set_xlim(
        datetime.combine(start, datetime.min.time()), datetime.combine(end, datetime.max.time())
    )


def _legend(ax: Any) -> None:
    """The channels beside the plot, where they never hide a point or a bar."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)


def _colours(report: Report) -> dict[str, str]:
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(report.channels)}


def reach_per_post(report: Report, points: list[PostPoint], zone: ZoneInfo) -> Chart | None:
    """A dot per post with known reach, by publishing date, coloured by channel."""
    known = [p for p in points if p.reach is not None]
    if not known:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN))
    colours = _colours(report)
    size = 22 if len(known) < 300 else 10 if len(known) < 3000 else 4
    for channel in report.channels:
        mine = [p for p in known if p.channel == channel]
        if mine:
            ax.scatter(
                [p.published_at.astimezone(zone).replace(tzinfo=None) for p in mine],
                [p.reach for p in mine],
                s=size,
                color=colours[channel],
                alpha=0.8,
                label=channel,
                linewidths=0,
            )
    _date_axis(ax, report.start, report.end)
    _danish_numbers(ax.yaxis)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("Rækkevidde (personer)")
    _legend(ax)
    title = "Rækkevidde pr. opslag"
    ax.set_title(title, loc="left", fontweight="bold")
    highest = max(known, key=lambda p: p.reach or 0)
    alt = (
        f"Punktdiagram: rækkevidden af {format_number(len(known))} opslag fra "
        f"{format_period(report.start, report.end)}; den største var "
        f"{format_number(highest.reach or 0)} personer ({highest.channel})."
    )
    return Chart("rakkevidde-pr-opslag", title, alt, _png(fig))


def _months(start: date, end: date) -> list[tuple[int, int]]:
    months, (year, month) = [], (start.year, start.month)
    while (year, month) <= (end.year, end.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def posts_per_month(report: Report, points: list[PostPoint], zone: ZoneInfo) -> Chart | None:
    """Stacked bars: the number of posts each month, one colour per channel."""
    if not points:
        return None
    plt = _pyplot()
    months = _months(report.start, report.end)
    counts: Counter[tuple[str, tuple[int, int]]] = Counter()
    for p in points:
        local = p.published_at.astimezone(zone)
        counts[(p.channel, (local.year, local.month))] += 1
    fig, ax = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN))
    x = [datetime(year, month, 15) for year, month in months]  # noqa: DTZ001 (a chart axis)
    width = 24 if len(months) <= 40 else 27
    bottom = [0] * len(months)
    colours = _colours(report)
    for channel in report.channels:
        heights = [counts[(channel, m)] for m in months]
        ax.bar(x, heights, width=width, bottom=bottom, color=colours[channel], label=channel)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    _date_axis(ax, report.start, report.end)
    _danish_numbers(ax.yaxis)
    ax.set_ylabel("Opslag")
    ax.grid(axis="x", visible=False)
    _legend(ax)
    title = "Opslag pr. måned pr. kanal"
    ax.set_title(title, loc="left", fontweight="bold")
    busiest = max(range(len(months)), key=lambda i: bottom[i])
    year, month = months[busiest]
    alt = (
        f"Søjlediagram: antal opslag pr. måned og kanal, {format_period(report.start, report.end)}"
        f"; flest i {MONTHS[month - 1]} {year} med {format_number(bottom[busiest])} opslag."
    )
    return Chart("opslag-pr-maaned", title, alt, _png(fig))


def reach_by_campaign(report: Report) -> Chart | None:
    """Horizontal bars: total reach per campaign, largest first (the rest summed)."""
    rows = [(name, g.reach_total) for name, g in section_rows(report, "campaigns") if g.reach_total]
    if not rows:
        return None
    rows.sort(key=lambda row: -(row[1] or 0))
    if len(rows) > MAX_CAMPAIGNS:
        rest = sum(reach or 0 for _, reach in rows[MAX_CAMPAIGNS - 1 :])
        rows = [*rows[: MAX_CAMPAIGNS - 1], ("Øvrige", rest)]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH_IN, max(2.2, 0.38 * len(rows) + 1.2)))
    names = [name for name, _ in reversed(rows)]
    values = [reach or 0 for _, reach in reversed(rows)]
    bars = ax.barh(names, values, color=PALETTE[0])
    ax.bar_label(bars, labels=[format_number(v) for v in values], padding=3, fontsize=8)
    _danish_numbers(ax.xaxis)
    ax.set_xlim(right=max(values) * 1.15)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("Rækkevidde i alt (personer)")
    title = "Rækkevidde pr. kampagne"
    ax.set_title(title, loc="left", fontweight="bold")
    top_name, top_reach = rows[0]
    alt = (
        f"Søjlediagram: samlet rækkevidde for {len(rows)} "
        f"{'kampagne' if len(rows) == 1 else 'kampagner'}; størst er {top_name} "
        f"med {format_number(top_reach or 0)} personer."
    )
    return Chart("rakkevidde-pr-kampagne", title, alt, _png(fig))

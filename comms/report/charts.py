"""The report's charts as PNG bytes: reach per post, posts per month per channel, reach by campaign.

matplotlib is imported only when a chart is drawn (the CLI stays fast), with the Agg backend so no
display is needed. Labels are Danish: month names, "1.234" numbers. A chart without data is left
out (None) rather than drawn empty. Each chart carries a title and an alt text for the documents.
Counts tick in whole numbers; the month chart has one whole slot per calendar month, so a period
that starts or ends mid-month still shows that month's whole bar. Date ticks suit the period
(hours of a day up to years over a decade) and stay inside it. Every PNG has the same width and a
constrained layout that keeps the title, legend and labels inside it; `draw_charts` gives the
figures before they become PNGs, so tests can read them back."""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from comms.content.danish import format_number, format_period
from comms.report.figures import PostPoint, Report
from comms.report.render import section_rows

MONTHS = ("jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec")
# one colour per channel, stable across charts (Tableau-like, readable in print); 20 channels
# before one repeats
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
    "#8fbbe0",
    "#f5b97a",
    "#92d19f",
    "#ee9a9a",
    "#bba6d9",
    "#c9a38f",
    "#f0b3d6",
    "#b5b5b5",
    "#d8d886",
    "#8fd3de",
)
WIDTH_IN, HEIGHT_IN, DPI = 9.0, 4.2, 110
MAX_CAMPAIGNS = 15  # the rest are summed as "Øvrige"
LEGEND_ROWS = 14  # legend entries one under another before a second column
NAME_CHARS = 40  # a longer campaign name is shortened on the chart (the tables have it whole)


@dataclass(frozen=True)
class Chart:
    """One drawn chart: a key for file names and ids, a Danish title, alt text and PNG bytes."""

    key: str
    title: str
    alt: str
    png: bytes


@dataclass(frozen=True)
class Drawing:
    """A chart still as a matplotlib figure, so tests can read its axes, bars and texts back."""

    key: str
    title: str
    alt: str
    figure: Any


def build_charts(report: Report, points: list[PostPoint]) -> list[Chart]:
    """Every chart the data allows, in the order the documents show them, as PNG."""
    return [Chart(d.key, d.title, d.alt, _png(d.figure)) for d in draw_charts(report, points)]


def draw_charts(report: Report, points: list[PostPoint]) -> list[Drawing]:
    """Every chart the data allows as a figure; the caller closes them (build_charts does)."""
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


def _figure(height: float = HEIGHT_IN) -> tuple[Any, Any]:
    """A figure of fixed size whose layout keeps every label, the title and the legend inside."""
    return _pyplot().subplots(figsize=(WIDTH_IN, height), layout="constrained")


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buffer.getvalue()


def _counts(axis: Any) -> None:
    """Whole numbers only ('0 1 2', never '0 0 1 1'), in Danish ('1.234')."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axis.set_major_locator(MaxNLocator(nbins="auto", integer=True, min_n_ticks=2))
    axis.set_major_formatter(FuncFormatter(lambda value, _pos: format_number(round(float(value)))))


def _steps(count: int, steps: tuple[int, ...], most: int) -> int:
    """The first step that leaves at most `most` ticks over `count` units (else the last)."""
    return next((step for step in steps if count / step <= most), steps[-1])


def _date_axis(ax: Any, start: date, end: date) -> None:
    """Ticks that suit the period, each label unique and inside it: hours of one day ('5. dec
    kl. 12'), days ('5. dec'), months ('jan 2027') or years; a small margin so a dot on the
    first or last day shows whole."""
    import matplotlib.dates as mdates
    from matplotlib.ticker import FixedLocator, FuncFormatter

    days = (end - start).days + 1
    if days <= 2:
        locator: Any = mdates.HourLocator(byhour=range(0, 24, 6 * days))
        pattern = "{d}. {m} kl. {h}"
    elif days <= 62:
        locator = mdates.DayLocator(interval=_steps(days, (1, 2, 3, 7, 14), 9))
        pattern = "{d}. {m}"
    elif days <= 4 * 366:
        step = _steps(round(days / 30.4), (1, 2, 3, 4, 6, 12), 8)
        locator = mdates.MonthLocator(bymonth=range(1, 13, step))
        pattern = "{m} {y}"
    else:
        locator = mdates.YearLocator(base=_steps(round(days / 365.25), (1, 2, 5, 10, 20), 10))
        pattern = "{y}"
    first = datetime.combine(start, time.min)
    last = datetime.combine(end + timedelta(days=1), time.min)  # the period ends before this
    low, high = mdates.date2num(first), mdates.date2num(last)
    ticks = [t for t in locator.tick_values(first, last) if low <= t < high]
    ax.xaxis.set_major_locator(FixedLocator(ticks))

    def label(value: float, _pos: int) -> str:
        when = mdates.num2date(value)
        return pattern.format(d=when.day, m=MONTHS[when.month - 1], y=when.year, h=when.hour)

    ax.xaxis.set_major_formatter(FuncFormatter(label))
    margin = max((last - first) / 80, timedelta(minutes=20))
    ax.set_xlim(first - margin, last + margin)


def _legend(fig: Any, ax: Any, *, reverse: bool = False) -> None:
    """The channels beside the plot, where they never hide a point or a bar; in columns when
    there are more than fit under one another; `reverse` lists a stack's top first."""
    handles, labels = ax.get_legend_handles_labels()
    if reverse:
        handles, labels = handles[::-1], labels[::-1]
    if handles:
        columns = 1 + (len(handles) - 1) // LEGEND_ROWS
        fig.legend(
            handles, labels, loc="outside right upper", frameon=False, fontsize=8, ncols=columns
        )


def _colours(report: Report) -> dict[str, str]:
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(report.channels)}


def reach_per_post(report: Report, points: list[PostPoint], zone: ZoneInfo) -> Drawing | None:
    """A dot per post with known reach, by publishing date, coloured by channel."""
    known = [p for p in points if p.reach is not None]
    if not known:
        return None
    fig, ax = _figure()
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
    _counts(ax.yaxis)
    ax.set_ylim(bottom=0, top=max(p.reach or 0 for p in known) * 1.08 or 1)
    ax.set_ylabel("Rækkevidde (personer)")
    _legend(fig, ax)
    title = "Rækkevidde pr. opslag"
    ax.set_title(title, loc="left", fontweight="bold")
    highest = max(known, key=lambda p: p.reach or 0)
    alt = (
        f"Punktdiagram: rækkevidden af {format_number(len(known))} opslag fra "
        f"{format_period(report.start, report.end)}; den største var "
        f"{format_number(highest.reach or 0)} personer ({highest.channel})."
    )
    return Drawing("rakkevidde-pr-opslag", title, alt, fig)


def _months(start: date, end: date) -> list[tuple[int, int]]:
    months, (year, month) = [], (start.year, start.month)
    while (year, month) <= (end.year, end.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _month_axis(ax: Any, months: list[tuple[int, int]]) -> None:
    """One slot per month, whole (a period from the 20th still has its month's bar): every
    month up to a year ('jan' with its year under it), else quarters, half years or years."""
    count = len(months)
    if count <= 12:
        ticks = list(range(count))
        labels = [
            MONTHS[m - 1] + (f"\n{y}" if i == 0 or m == 1 else "")
            for i, (y, m) in enumerate(months)
        ]
    else:
        step = _steps(count, (3, 6, 12, 24, 60, 120), 8)
        ticks = [i for i, (_y, m) in enumerate(months) if (m - 1) % step == 0]
        if step >= 12:
            first = months[ticks[0]][0]
            ticks = [i for i in ticks if (months[i][0] - first) % (step // 12) == 0]
        labels = [
            f"{months[i][0]}" if step >= 12 else f"{MONTHS[months[i][1] - 1]} {months[i][0]}"
            for i in ticks
        ]
    ax.set_xticks(ticks, labels)
    ax.set_xlim(-0.5 - max(0, 4 - count) / 2, count - 0.5 + max(0, 4 - count) / 2)


def posts_per_month(report: Report, points: list[PostPoint], zone: ZoneInfo) -> Drawing | None:
    """Stacked bars: the number of posts each month, one colour per channel."""
    if not points:
        return None
    months = _months(report.start, report.end)
    counts: Counter[tuple[str, tuple[int, int]]] = Counter()
    for p in points:
        local = p.published_at.astimezone(zone)
        counts[(p.channel, (local.year, local.month))] += 1
    fig, ax = _figure()
    x = list(range(len(months)))
    width = 0.8 if len(months) <= 40 else 0.9
    bottom = [0] * len(months)
    colours = _colours(report)
    for channel in report.channels:
        heights = [counts[(channel, m)] for m in months]
        if any(heights):
            ax.bar(x, heights, width=width, bottom=bottom, color=colours[channel], label=channel)
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    _month_axis(ax, months)
    _counts(ax.yaxis)
    ax.set_ylim(0, max(bottom) * 1.05 or 1)
    ax.set_ylabel("Opslag")
    ax.grid(axis="x", visible=False)
    _legend(fig, ax, reverse=True)
    title = "Opslag pr. måned pr. kanal"
    ax.set_title(title, loc="left", fontweight="bold")
    busiest = max(range(len(months)), key=lambda i: bottom[i])
    year, month = months[busiest]
    alt = (
        f"Søjlediagram: antal opslag pr. måned og kanal, {format_period(report.start, report.end)}"
        f"; flest i {MONTHS[month - 1]} {year} med {format_number(bottom[busiest])} opslag."
    )
    return Drawing("opslag-pr-maaned", title, alt, fig)


def _short(name: str) -> str:
    """A campaign name as the chart shows it: long ones cut with '…' (the tables have it all)."""
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1].rstrip() + "…"


def reach_by_campaign(report: Report) -> Drawing | None:
    """Horizontal bars: total reach per campaign, largest first (the rest summed)."""
    rows = [(name, g.reach_total) for name, g in section_rows(report, "campaigns") if g.reach_total]
    if not rows:
        return None
    rows.sort(key=lambda row: -(row[1] or 0))
    if len(rows) > MAX_CAMPAIGNS:
        rest = sum(reach or 0 for _, reach in rows[MAX_CAMPAIGNS - 1 :])
        rows = [*rows[: MAX_CAMPAIGNS - 1], ("Øvrige", rest)]
    fig, ax = _figure(max(2.2, 0.38 * len(rows) + 1.2))
    names = [_short(name) for name, _ in reversed(rows)]
    values = [reach or 0 for _, reach in reversed(rows)]
    bars = ax.barh(range(len(rows)), values, color=PALETTE[0])
    ax.set_yticks(range(len(rows)), names)
    ax.bar_label(bars, labels=[format_number(v) for v in values], padding=3, fontsize=8)
    _counts(ax.xaxis)
    ax.set_xlim(0, max(values) * 1.15)
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
    return Drawing("rakkevidde-pr-kampagne", title, alt, fig)

"""`comms report`: posts and their reach over a period, per channel, campaign and focus area.

A period is two local calendar dates, both included: from the start of `start`'s day to the end
of `end`'s day in the configured zone, converted to UTC for the query. A post counts when it is
published and its `published_at` falls in that window; its figures are those of its newest
MetricSample. Counts, min, max, sums and the median are computed by the database (the median with
window functions, which SQLite and PostgreSQL both have).

The table and Markdown are read by politicians, so they are in Danish with Danish numbers; JSON
and CSV carry plain numbers for machines.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from rich.table import Table
from rich.text import Text
from sqlalchemy.sql.elements import ColumnElement

from comms.danish import format_date, format_number, format_period
from comms.db import session_scope
from comms.models import MetricSample, Post, PostState

IMPORTED = "(importeret)"  # imported posts belong to no campaign
NO_CAMPAIGN = "(uden kampagne)"
NO_FOCUS_AREA = "(uden indsatsområde)"
TOTAL = "I alt"
MISSING = "–"  # a figure nobody knows, in the table and Markdown


@dataclass(frozen=True)
class Group:
    """Posts and figures for one channel, campaign or focus area (None: no figures known)."""

    name: str
    posts: int = 0
    reach_min: int | None = None
    reach_max: int | None = None
    reach_median: int | float | None = None
    reach_total: int | None = None
    impressions: int | None = None
    engagements: int | None = None


@dataclass(frozen=True)
class Report:
    """The report for one period; groups are ordered by name, labels in parentheses last."""

    start: date
    end: date
    timezone: str
    channels: dict[str, Group]
    campaigns: dict[str, Group]
    focus_areas: dict[str, Group]
    totals: Group
    channel_types: dict[str, str] = field(default_factory=dict)


def period_bounds(start: date, end: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start of `start`, start of the day after `end`) in `zone`, as UTC instants."""
    begin = datetime.combine(start, time.min, tzinfo=zone).astimezone(UTC)
    stop = datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
    return begin, stop


def build_report(
    url: str, *, start: date, end: date, zone: ZoneInfo, channel_types: dict[str, str]
) -> Report:
    """Count and sum the posts published from `start` to `end` (local dates, both included)."""
    if end < start:
        raise ValueError(f"the period ends ({end}) before it starts ({start})")
    begin, stop = period_bounds(start, end, zone)
    latest = sa.select(
        MetricSample.post_id,
        MetricSample.reach,
        MetricSample.impressions,
        MetricSample.engagements,
        sa.func.row_number()
        .over(
            partition_by=MetricSample.post_id,
            order_by=(MetricSample.collected_at.desc(), MetricSample.id.desc()),
        )
        .label("rn"),
    ).subquery("latest")
    campaign = sa.case(
        (Post.campaign.is_not(None), Post.campaign),
        (Post.source == "import", sa.literal(IMPORTED)),
        else_=sa.literal(NO_CAMPAIGN),
    )
    base = (
        sa.select(
            Post.channel.label("channel"),
            campaign.label("campaign"),
            sa.func.coalesce(Post.focus_area, NO_FOCUS_AREA).label("focus_area"),
            sa.literal("total").label("total"),
            latest.c.reach,
            latest.c.impressions,
            latest.c.engagements,
        )
        .outerjoin(latest, sa.and_(latest.c.post_id == Post.id, latest.c.rn == 1))
        .where(
            Post.state == PostState.PUBLISHED, Post.published_at >= begin, Post.published_at < stop
        )
        .subquery("base")
    )
    with session_scope(url) as session:
        groups = {
            kind: _groups(session, base, base.c[kind])
            for kind in ("channel", "campaign", "focus_area", "total")
        }
    return Report(
        start=start,
        end=end,
        timezone=zone.key,
        channels=groups["channel"],
        campaigns=groups["campaign"],
        focus_areas=groups["focus_area"],
        totals=replace(groups["total"].get("total", Group(name=TOTAL)), name=TOTAL),
        channel_types=dict(channel_types),
    )


def _groups(session: Any, base: Any, key: ColumnElement[Any]) -> dict[str, Group]:
    """One Group per value of `key`, with the median from a ranked window."""
    figures = sa.select(
        key.label("k"),
        sa.func.count().label("posts"),
        sa.func.min(base.c.reach),
        sa.func.max(base.c.reach),
        sa.func.sum(base.c.reach),
        sa.func.sum(base.c.impressions),
        sa.func.sum(base.c.engagements),
    ).group_by(key)
    ranked = (
        sa.select(
            key.label("k"),
            base.c.reach.label("r"),
            sa.func.row_number().over(partition_by=key, order_by=base.c.reach).label("rn"),
            sa.func.count().over(partition_by=key).label("n"),
        )
        .where(base.c.reach.is_not(None))
        .subquery("ranked")
    )
    middle = sa.or_(ranked.c.rn == (ranked.c.n + 1) // 2, ranked.c.rn == (ranked.c.n + 2) // 2)
    medians = dict(
        session.execute(
            sa.select(ranked.c.k, sa.func.avg(ranked.c.r)).where(middle).group_by(ranked.c.k)
        ).all()
    )
    result = {}
    for name, posts, rmin, rmax, rsum, impressions, engagements in session.execute(figures):
        result[name] = Group(
            name=name,
            posts=posts,
            reach_min=_int(rmin),
            reach_max=_int(rmax),
            reach_median=_median(medians.get(name)),
            reach_total=_int(rsum),
            impressions=_int(impressions),
            engagements=_int(engagements),
        )
    return dict(sorted(result.items(), key=lambda item: (item[0].startswith("("), item[0])))


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _median(value: Any) -> int | float | None:
    """The average of the middle one or two values: whole when it is, else x.5."""
    if value is None:
        return None
    number = float(value)
    return int(number) if number.is_integer() else number


# --- the Danish paragraph -------------------------------------------------------------------

# channel type -> (singular, plural), in the order the paragraph names them
_KINDS: dict[str, tuple[str, str]] = {
    "site": ("nyhed", "nyheder"),
    "wordpress": ("nyhed", "nyheder"),
    "email": ("nyhedsbrev", "nyhedsbreve"),
    "facebook": ("opslag på Facebook", "opslag på Facebook"),
    "instagram": ("opslag på Instagram", "opslag på Instagram"),
    "x": ("opslag på X", "opslag på X"),
    "linkedin": ("opslag på LinkedIn", "opslag på LinkedIn"),
    "mastodon": ("opslag på Mastodon", "opslag på Mastodon"),
    "bluesky": ("opslag på Bluesky", "opslag på Bluesky"),
    "webhook": ("besked", "beskeder"),
}


def danish_summary(report: Report, channel_types: dict[str, str] | None = None) -> str:
    """'Fra den 14. januar 2018 til den 7. januar 2019 har der været 95 nyheder og 9 opslag på
    Facebook, som har nået fra 3.555 til 25.056 personer.'"""
    types = report.channel_types if channel_types is None else channel_types
    if report.start == report.end:
        when = f"Den {format_date(report.start)}"
    else:
        when = f"Fra den {format_date(report.start)} til den {format_date(report.end)}"
    if report.totals.posts == 0:
        return f"{when} har der ikke været nogen nyheder eller opslag."

    counts: dict[tuple[str, str], int] = {}
    order: dict[tuple[str, str], int] = {}
    for name, group in report.channels.items():
        kind = types.get(name, "")
        words = _KINDS.get(kind, ("opslag på " + name, "opslag på " + name))
        counts[words] = counts.get(words, 0) + group.posts
        rank = list(_KINDS).index(kind) if kind in _KINDS else len(_KINDS)
        order[words] = min(order.get(words, rank), rank)
    parts = [
        f"{format_number(n)} {words[0] if n == 1 else words[1]}"
        for words, n in sorted(counts.items(), key=lambda item: order[item[0]])
    ]
    text = f"{when} har der været {_join(parts)}"

    low, high = report.totals.reach_min, report.totals.reach_max
    if low is not None and high is not None:
        people = "person" if high == 1 else "personer"
        if low == high:
            text += f", som har nået {format_number(high)} {people}"
        else:
            text += f", som har nået fra {format_number(low)} til {format_number(high)} {people}"
    return text + "."


def _join(parts: list[str]) -> str:
    """'a', 'a og b', 'a, b og c'."""
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " og " + parts[-1]


# --- renderers ------------------------------------------------------------------------------

_SECTIONS = (
    ("channels", "Kanaler", "Kanal"),
    ("campaigns", "Kampagner", "Kampagne"),
    ("focus_areas", "Indsatsområder", "Indsatsområde"),
)
_HEADINGS = (
    "Opslag",
    "Rækkevidde min.",
    "Rækkevidde maks.",
    "Rækkevidde median",
    "Rækkevidde i alt",
    "Visninger",
    "Interaktioner",
)
# the terminal is narrow: short headings (the caption says which are reach), numbers never cut
_TABLE_HEADINGS = ("Opslag", "Min.", "Maks.", "Median", "I alt", "Visninger", "Interakt.")
_TABLE_CAPTION = "Min., maks., median, i alt: rækkevidde. Interakt.: interaktioner. –: ukendt."


def _danish_cells(group: Group) -> list[str]:
    values = (
        group.posts,
        group.reach_min,
        group.reach_max,
        group.reach_median,
        group.reach_total,
        group.impressions,
        group.engagements,
    )
    return [MISSING if value is None else format_number(value) for value in values]


def render_table(report: Report) -> list[Table]:
    """One rich table per grouping, each ending with the totals row."""
    period = format_period(report.start, report.end)
    tables = []
    for attr, title, first in _SECTIONS:
        groups: dict[str, Group] = getattr(report, attr)
        rows = [(group.name, _danish_cells(group)) for group in groups.values()]
        rows.append((TOTAL, _danish_cells(report.totals)))
        table = Table(
            title=f"{title}, {period}",
            title_justify="left",
            show_edge=False,
            caption=_TABLE_CAPTION,
            caption_justify="left",
        )
        table.add_column(first, min_width=min(max(len(name) for name, _ in rows), 16))
        for index, heading in enumerate(_TABLE_HEADINGS):
            widest = max(len(cells[index]) for _, cells in rows)
            table.add_column(heading, justify="right", no_wrap=True, min_width=widest)
        for index, (name, cells) in enumerate(rows):
            is_total = index == len(rows) - 1
            table.add_row(
                Text(name),
                *cells,
                end_section=index == len(rows) - 2,
                style="bold" if is_total else None,
            )
        tables.append(table)
    return tables


def _group_json(group: Group) -> dict[str, Any]:
    return {
        "posts": group.posts,
        "reach": {
            "min": group.reach_min,
            "max": group.reach_max,
            "median": group.reach_median,
            "total": group.reach_total,
        },
        "impressions": group.impressions,
        "engagements": group.engagements,
    }


def to_json(report: Report) -> dict[str, Any]:
    """The report as plain data (see the issue for the shape); numbers are numbers, or null."""
    return {
        "period": {"from": report.start.isoformat(), "to": report.end.isoformat()},
        "channels": {name: _group_json(g) for name, g in report.channels.items()},
        "campaigns": {name: _group_json(g) for name, g in report.campaigns.items()},
        "focus_areas": {name: _group_json(g) for name, g in report.focus_areas.items()},
        "totals": _group_json(report.totals),
        "summary": danish_summary(report),
    }


CSV_HEADER = (
    "group_kind",
    "name",
    "posts",
    "reach_min",
    "reach_max",
    "reach_median",
    "reach_total",
    "impressions",
    "engagements",
)


def to_csv(report: Report) -> str:
    """One row per group (kinds channel, campaign, focus_area, total); unknown figures empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    kinds = (
        ("channel", report.channels),
        ("campaign", report.campaigns),
        ("focus_area", report.focus_areas),
        ("total", {"total": report.totals}),
    )
    for kind, groups in kinds:
        for name, g in groups.items():
            values = (
                g.posts,
                g.reach_min,
                g.reach_max,
                g.reach_median,
                g.reach_total,
                g.impressions,
                g.engagements,
            )
            writer.writerow([kind, name, *("" if v is None else v for v in values)])
    return out.getvalue()


def to_markdown(report: Report) -> str:
    """Markdown tables (Danish headings and numbers) and the Danish paragraph below them."""
    lines = [f"# Rapport {format_period(report.start, report.end)}", ""]
    for attr, title, first in _SECTIONS:
        lines += [
            f"## {title}",
            "",
            "| " + " | ".join((first, *_HEADINGS)) + " |",
            "|---" + "|---:" * len(_HEADINGS) + "|",
        ]
        groups: dict[str, Group] = getattr(report, attr)
        for group in groups.values():
            lines.append("| " + " | ".join((_md(group.name), *_danish_cells(group))) + " |")
        lines.append("| " + " | ".join((f"**{TOTAL}**", *_danish_cells(report.totals))) + " |")
        lines.append("")
    lines += [danish_summary(report), ""]
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|")

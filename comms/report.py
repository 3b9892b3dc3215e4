"""`comms report`: posts and their reach over a period, per channel, campaign and focus area.

A period is two local calendar dates, both included: from the start of `start`'s day to the end
of `end`'s day in the configured zone, converted to UTC for the query. A post counts when it is
published and its `published_at` falls in that window; its figures are those of its newest
MetricSample. Counts, min, max, sums and the median are computed by the database (the median with
window functions, which SQLite and PostgreSQL both have).

The table and Markdown are read by politicians, so they are in Danish with Danish numbers; JSON
and CSV carry plain numbers for machines.

Channels of one type add up in `channel_type_groups` (the municipality's and the police's Facebook
pages are both "facebook"); the type comes from the config, so the database groups by a CASE on
the channel name. `top_posts` are the posts with the highest reach. `to_json` keeps its documented
shape; `to_json_document` adds the types, the top posts and a comparison (report_compare.py).
The HTML and DOCX documents are report_html.py and report_docx.py, their charts report_charts.py.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
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
TOP_POSTS = 10  # how many of the posts with the highest reach the report lists


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
class TopPost:
    """One of the posts with the highest reach (newest figures)."""

    id: int
    channel: str
    campaign: str
    title: str
    published_at: datetime
    reach: int
    impressions: int | None
    engagements: int | None
    url: str | None


@dataclass(frozen=True)
class PostPoint:
    """One published post for the charts: when, where, which campaign, and its reach if known."""

    published_at: datetime
    channel: str
    campaign: str
    reach: int | None


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
    channel_type_groups: dict[str, Group] = field(default_factory=dict)
    top_posts: tuple[TopPost, ...] = ()


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
    latest = _latest_figures()
    query = (
        sa.select(
            Post.id,
            Post.channel.label("channel"),
            _channel_type(channel_types).label("channel_type"),
            _campaign_label().label("campaign"),
            sa.func.coalesce(Post.focus_area, NO_FOCUS_AREA).label("focus_area"),
            sa.literal("total").label("total"),
            Post.title,
            Post.text,
            Post.published_at,
            Post.external_url,
            Post.link,
            latest.c.reach,
            latest.c.impressions,
            latest.c.engagements,
        )
        .outerjoin(latest, sa.and_(latest.c.post_id == Post.id, latest.c.rn == 1))
        .where(
            Post.state == PostState.PUBLISHED, Post.published_at >= begin, Post.published_at < stop
        )
    )
    with session_scope(url) as session:
        base = _materialised(session, query)
        groups = {
            kind: _groups(session, base, base.c[kind])
            for kind in ("channel", "channel_type", "campaign", "focus_area", "total")
        }
        top = session.execute(
            sa.select(
                base.c.id,
                base.c.channel,
                base.c.campaign,
                sa.func.coalesce(base.c.title, sa.func.substr(base.c.text, 1, 80)),
                base.c.published_at,
                base.c.reach,
                base.c.impressions,
                base.c.engagements,
                sa.func.coalesce(base.c.external_url, base.c.link),
            )
            .where(base.c.reach.is_not(None))
            .order_by(base.c.reach.desc(), base.c.published_at, base.c.id)
            .limit(TOP_POSTS)
        ).all()
        base.drop(session.connection())
    return Report(
        start=start,
        end=end,
        timezone=zone.key,
        channels=groups["channel"],
        campaigns=groups["campaign"],
        focus_areas=groups["focus_area"],
        totals=replace(groups["total"].get("total", Group(name=TOTAL)), name=TOTAL),
        channel_types=dict(channel_types),
        channel_type_groups=groups["channel_type"],
        top_posts=tuple(TopPost(*row) for row in top),
    )


def _materialised(session: Any, query: sa.Select[Any]) -> sa.Table:
    """The period's posts with their newest figures, computed once into a temporary table.

    Every grouping and the top posts read these rows; as a subquery, the newest-sample window
    over all samples ran once per grouping (bench/report: 8x a single SQL aggregate, 1M samples).
    """
    table = sa.Table(
        "report_base",
        sa.MetaData(),
        *(sa.Column(column.key, column.type) for column in query.selected_columns),
        prefixes=["TEMPORARY"],
    )
    table.drop(session.connection(), checkfirst=True)
    table.create(session.connection())
    session.execute(table.insert().from_select(list(table.c.keys()), query))
    return table


def _latest_figures() -> Any:
    """Each post's newest MetricSample (rn = 1), as a subquery."""
    return sa.select(
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


def _campaign_label() -> ColumnElement[Any]:
    return sa.case(
        (Post.campaign.is_not(None), Post.campaign),
        (Post.source == "import", sa.literal(IMPORTED)),
        else_=sa.literal(NO_CAMPAIGN),
    )


def _channel_type(channel_types: dict[str, str]) -> ColumnElement[Any]:
    """The channel's configured type; a channel no longer in the config stands for itself."""
    if not channel_types:
        return Post.channel
    return sa.case(channel_types, value=Post.channel, else_=Post.channel)


def post_points(url: str, *, start: date, end: date, zone: ZoneInfo) -> list[PostPoint]:
    """Every post published in the period, oldest first, for the charts (one row a post)."""
    begin, stop = period_bounds(start, end, zone)
    latest = _latest_figures()
    query = (
        sa.select(Post.published_at, Post.channel, _campaign_label(), latest.c.reach)
        .outerjoin(latest, sa.and_(latest.c.post_id == Post.id, latest.c.rn == 1))
        .where(
            Post.state == PostState.PUBLISHED, Post.published_at >= begin, Post.published_at < stop
        )
        .order_by(Post.published_at, Post.id)
    )
    with session_scope(url) as session:
        return [PostPoint(*row) for row in session.execute(query)]


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

SECTIONS = (
    ("channels", "Kanaler", "Kanal"),
    ("channel_type_groups", "Kanaltyper", "Kanaltype"),
    ("campaigns", "Kampagner", "Kampagne"),
    ("focus_areas", "Indsatsområder", "Indsatsområde"),
)
HEADINGS = (
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


# channel type -> its name in a Danish report (a type not listed is shown as it is)
TYPE_NAMES = {
    "site": "Hjemmeside",
    "wordpress": "WordPress",
    "email": "Nyhedsbrev",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "x": "X",
    "linkedin": "LinkedIn",
    "mastodon": "Mastodon",
    "bluesky": "Bluesky",
    "webhook": "Webhook",
}


def section_rows(report: Report, attr: str) -> list[tuple[str, Group]]:
    """(name as shown, group) for one section of the report, without the totals row."""
    groups: dict[str, Group] = getattr(report, attr)
    if attr == "channel_type_groups":
        shown = [(TYPE_NAMES.get(name, name), group) for name, group in groups.items()]
        return sorted(shown, key=lambda row: row[0].casefold())
    return [(group.name, group) for group in groups.values()]


def top_post_cells(post: TopPost, zone: ZoneInfo) -> list[str]:
    """Date, channel, title, reach, impressions, engagements: Danish formats, for the tables."""
    figures = (post.reach, post.impressions, post.engagements)
    return [
        format_date(post.published_at.astimezone(zone)),
        post.channel,
        post.title or "",
        *(MISSING if value is None else format_number(value) for value in figures),
    ]


TOP_HEADINGS = ("Dato", "Kanal", "Opslag", "Rækkevidde", "Visninger", "Interaktioner")
TOP_TITLE = "Opslag med størst rækkevidde"


def danish_cells(group: Group) -> list[str]:
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
    for attr, title, first in SECTIONS:
        rows = [(name, danish_cells(group)) for name, group in section_rows(report, attr)]
        rows.append((TOTAL, danish_cells(report.totals)))
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
    if report.top_posts:
        table = Table(title=f"{TOP_TITLE}, {period}", title_justify="left", show_edge=False)
        for index, heading in enumerate(TOP_HEADINGS):
            table.add_column(heading, justify="right" if index >= 3 else "left", no_wrap=index != 2)
        zone = ZoneInfo(report.timezone)
        for post in report.top_posts:
            table.add_row(*(Text(cell) for cell in top_post_cells(post, zone)))
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


def to_json_document(report: Report, comparison: dict[str, Any] | None = None) -> dict[str, Any]:
    """`to_json` plus the channel types, the top posts and (when given) the comparison."""
    data = to_json(report)
    data["channel_types"] = {name: _group_json(g) for name, g in report.channel_type_groups.items()}
    data["top_posts"] = [
        {
            "id": post.id,
            "channel": post.channel,
            "campaign": post.campaign,
            "title": post.title,
            "published_at": post.published_at.isoformat(),
            "reach": post.reach,
            "impressions": post.impressions,
            "engagements": post.engagements,
            "url": post.url,
        }
        for post in report.top_posts
    ]
    if comparison is not None:
        data["comparison"] = comparison
    return data


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


def to_csv(
    report: Report, *, with_types: bool = False, earlier: Report | None = None, header: bool = True
) -> str:
    """One row per group (kinds channel, campaign, focus_area, total); unknown figures empty.

    `with_types` adds channel_type rows after the channels; `earlier` appends that period's rows
    with kinds prefixed "earlier_", so a spreadsheet can put the two periods side by side.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(CSV_HEADER)
    kinds: list[tuple[str, dict[str, Group]]] = [("channel", report.channels)]
    if with_types:
        kinds.append(("channel_type", report.channel_type_groups))
    kinds += [
        ("campaign", report.campaigns),
        ("focus_area", report.focus_areas),
        ("total", {"total": report.totals}),
    ]
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
    text = out.getvalue()
    if earlier is not None:
        rows = to_csv(earlier, with_types=with_types, header=False).splitlines(keepends=True)
        text += "".join("earlier_" + row for row in rows)
    return text


def to_markdown(report: Report, extra: Sequence[str] = ()) -> str:
    """Markdown tables (Danish headings and numbers) and the Danish paragraph below them.

    `extra` lines (the comparison with an earlier period) come just before the paragraph.
    """
    lines = [f"# Rapport {format_period(report.start, report.end)}", ""]
    for attr, title, first in SECTIONS:
        lines += [
            f"## {title}",
            "",
            "| " + " | ".join((first, *HEADINGS)) + " |",
            "|---" + "|---:" * len(HEADINGS) + "|",
        ]
        for name, group in section_rows(report, attr):
            lines.append("| " + " | ".join((_md(name), *danish_cells(group))) + " |")
        lines.append("| " + " | ".join((f"**{TOTAL}**", *danish_cells(report.totals))) + " |")
        lines.append("")
    if report.top_posts:
        lines += [
            f"## {TOP_TITLE}",
            "",
            "| " + " | ".join(TOP_HEADINGS) + " |",
            "|---|---|---" + "|---:" * 3 + "|",
        ]
        zone = ZoneInfo(report.timezone)
        for post in report.top_posts:
            lines.append("| " + " | ".join(_md(c) for c in top_post_cells(post, zone)) + " |")
        lines.append("")
    lines += [*extra, danish_summary(report), ""]
    return "\n".join(lines)


def _md(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())

"""`comms report`: posts and their reach over a period, per channel, campaign and focus area.

A period is two local calendar dates, both included: from the start of `start`'s day to the end
of `end`'s day in the configured zone, converted to UTC for the query. A post counts when it is
published and its `published_at` falls in that window; its figures are those of its newest
MetricSample. Counts, min, max, sums and the median are computed by the database (the median with
window functions, which SQLite and PostgreSQL both have).

Channels of one type add up in `channel_type_groups` (the municipality's and the police's Facebook
pages are both "facebook"); the type comes from the config, so the database groups by a CASE on
the channel name. `top_posts` are the posts with the highest reach.

This module builds the figures; showing them is elsewhere: report_render.py (terminal table, CSV,
JSON, Markdown and the Danish paragraph), report_html.py and report_docx.py (documents),
report_charts.py (their charts), report_compare.py (against an earlier period).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from comms.store.db import session_scope
from comms.store.models import MetricSample, Post, PostState

IMPORTED = "(importeret)"  # imported posts belong to no campaign
ONE_OFF = "(enkeltopslag)"  # a one-off post (a story: `comms post` or the workspace's compose)
NO_CAMPAIGN = "(uden kampagne)"
NO_FOCUS_AREA = "(uden indsatsområde)"
TOTAL = "I alt"
TOP_POSTS = 10  # how many of the posts with the highest reach the report lists


@dataclass(frozen=True)
class Group:
    """Posts and figures for one channel, campaign or focus area (None: no figures known)."""

    name: str
    posts: int = 0
    reach_known: int = 0  # how many of the posts the reach figures rest on
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
    final: bool = False  # the figures are the final snapshot before the service dropped them


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
    # only what the groupings and the ranking read: the texts of the few top posts are fetched
    # by id afterwards, not copied into the temporary table for every post
    query = (
        sa.select(
            col(Post.id),
            col(Post.channel).label("channel"),
            _channel_type(channel_types).label("channel_type"),
            _campaign_label().label("campaign"),
            sa.func.coalesce(col(Post.focus_area), NO_FOCUS_AREA).label("focus_area"),
            sa.literal("total").label("total"),
            col(Post.published_at),
            latest.c.reach,
            latest.c.impressions,
            latest.c.engagements,
            latest.c.final,
        )
        .outerjoin(latest, sa.and_(latest.c.post_id == Post.id, latest.c.rn == 1))
        .where(
            col(Post.state) == PostState.PUBLISHED,
            col(Post.published_at) >= begin,
            col(Post.published_at) < stop,
        )
    )
    with session_scope(url) as session:
        base = _materialised(session, query)
        groups = {
            kind: _groups(session, base, kind)
            for kind in ("channel", "channel_type", "campaign", "focus_area", "total")
        }
        ranked = (
            sa.select(base)
            .where(base.c.reach.is_not(None))
            .order_by(base.c.reach.desc(), base.c.published_at, base.c.id)
            .limit(TOP_POSTS)
            .subquery("top")
        )
        top = session.execute(
            sa.select(
                ranked.c.id,
                ranked.c.channel,
                ranked.c.campaign,
                sa.func.coalesce(col(Post.title), sa.func.substr(col(Post.text), 1, 80)),
                ranked.c.published_at,
                ranked.c.reach,
                ranked.c.impressions,
                ranked.c.engagements,
                sa.func.coalesce(col(Post.external_url), col(Post.link)),
                sa.func.coalesce(ranked.c.final, sa.false()),
            )
            .join(Post, col(Post.id) == ranked.c.id)
            .order_by(ranked.c.reach.desc(), ranked.c.published_at, ranked.c.id)
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
        top_posts=tuple(_top_post(row) for row in top),
    )


def _top_post(row: Any) -> TopPost:
    """A row of the top query: the TopPost fields in their order."""
    post_id, channel, campaign, title, published_at, reach, impressions, engagements, url, final = (
        row
    )
    return TopPost(
        post_id,
        channel,
        campaign,
        title,
        published_at,
        reach,
        impressions,
        engagements,
        url,
        bool(final),
    )


def _materialised(session: Any, query: sa.Select[Any]) -> sa.Table:
    """The period's posts with their newest figures, computed once into a temporary table.

    Every grouping and the top posts read these rows; as a subquery, the newest-sample window
    over all samples would run once per grouping.
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
        col(MetricSample.post_id),
        col(MetricSample.reach),
        col(MetricSample.impressions),
        col(MetricSample.engagements),
        col(MetricSample.final),
        sa.func.row_number()
        .over(
            partition_by=col(MetricSample.post_id),
            order_by=(col(MetricSample.collected_at).desc(), col(MetricSample.id).desc()),
        )
        .label("rn"),
    ).subquery("latest")


def _campaign_label() -> ColumnElement[Any]:
    return sa.case(
        (col(Post.campaign).is_not(None), col(Post.campaign)),
        (col(Post.source) == "import", sa.literal(IMPORTED)),
        (col(Post.story).is_not(None), sa.literal(ONE_OFF)),
        else_=sa.literal(NO_CAMPAIGN),
    )


def _channel_type(channel_types: dict[str, str]) -> sa.SQLColumnExpression[Any]:
    """The channel's configured type; a channel no longer in the config stands for itself."""
    if not channel_types:
        return col(Post.channel)
    return sa.case(channel_types, value=Post.channel, else_=Post.channel)


def post_points(url: str, *, start: date, end: date, zone: ZoneInfo) -> list[PostPoint]:
    """Every post published in the period, oldest first, for the charts (one row a post)."""
    begin, stop = period_bounds(start, end, zone)
    latest = _latest_figures()
    query = (
        sa.select(col(Post.published_at), col(Post.channel), _campaign_label(), latest.c.reach)
        .outerjoin(latest, sa.and_(latest.c.post_id == Post.id, latest.c.rn == 1))
        .where(
            col(Post.state) == PostState.PUBLISHED,
            col(Post.published_at) >= begin,
            col(Post.published_at) < stop,
        )
        .order_by(col(Post.published_at), col(Post.id))
    )
    with session_scope(url) as session:
        return [PostPoint(*row) for row in session.execute(query)]


def _groups(session: Any, base: Any, kind: str) -> dict[str, Group]:
    """One Group per value of the `kind` column, the median read off an index.

    An index of the temporary table on (key, reach, impressions, engagements) is one sort; the
    sums are then one GROUP BY along it that never reads the table (the index covers it), and
    each group's median is the middle one or two values found by OFFSET in it. A ranked window
    per grouping (row_number and count over each partition) is slower: SQLite's window
    functions cost more per row than the sort.
    """
    key, reach = base.c[kind], base.c.reach
    covering = (key, reach, base.c.impressions, base.c.engagements)
    sa.Index(f"{base.name}_{kind}", *covering).create(session.connection())
    figures = sa.select(
        key,
        sa.func.count(),
        sa.func.min(reach),
        sa.func.max(reach),
        sa.func.sum(reach),
        sa.func.sum(base.c.impressions),
        sa.func.sum(base.c.engagements),
        sa.func.count(reach),
    ).group_by(key)
    result = {}
    for name, posts, rmin, rmax, rsum, impressions, engagements, measured in session.execute(
        figures
    ).all():
        result[name] = Group(
            name=name,
            posts=posts,
            reach_known=measured,
            reach_min=_int(rmin),
            reach_max=_int(rmax),
            reach_median=_middle(session, base, key, name, measured),
            reach_total=_int(rsum),
            impressions=_int(impressions),
            engagements=_int(engagements),
        )
    return dict(sorted(result.items(), key=lambda item: (item[0].startswith("("), item[0])))


def _middle(session: Any, base: Any, key: Any, name: str, count: int) -> int | float | None:
    """The median reach of the `count` measured posts where `key` is `name`."""
    if not count:
        return None
    values = session.scalars(
        sa.select(base.c.reach)
        .where(key == name, base.c.reach.is_not(None))
        .order_by(base.c.reach)
        .offset((count - 1) // 2)
        .limit(1 if count % 2 else 2)
    ).all()
    return _median(sum(values) / len(values))


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _median(value: Any) -> int | float | None:
    """The average of the middle one or two values: whole when it is, else x.5."""
    if value is None:
        return None
    number = float(value)
    return int(number) if number.is_integer() else number

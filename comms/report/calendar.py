"""`comms calendar`: every planned and published post of a year as an iCalendar file or HTML.

A post is an event at the minute it is (or was) published: `published_at` once published, else
`scheduled_at`; cancelled posts are left out. Events last 15 minutes and are "transparent", so
they never block a calendar as busy. DTSTART is in UTC (…Z), which Outlook and Google Calendar
both show in the reader's own zone, without a VTIMEZONE block to get wrong. The UID is the post's
idempotency key (fixed when the post was made), so importing a newer export updates the events
instead of adding copies; DTSTAMP and LAST-MODIFIED are the post's last change, so exporting
twice gives the same bytes. The HTML month view has Monday-first weeks with ISO week numbers, as
Danes count them, and posts at the same minute with the same title on one line with their
channels.
"""

from __future__ import annotations

import calendar as stdcal
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import groupby
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from jinja2 import Environment
from sqlmodel import col

from comms.content.danish import format_time
from comms.content.link_from import describe, has_placeholder
from comms.content.links import safe_link
from comms.report.html import BASE_CSS, FILE_CSP, document_start
from comms.store.db import session_scope
from comms.store.models import Post, PostState, UTCDateTime
from comms.store.one_step import all_rows
from comms.timeutil import local_day_bounds

EVENT_MINUTES = 15
UID_DOMAIN = "comms.tryg-aalborg"
PRODID = "-//Tryg Aalborg//comms//DA"

# state -> (Danish name, iCalendar STATUS)
STATES: dict[str, tuple[str, str]] = {  # keyed by the stored text (a PostState is one)
    PostState.DRAFT: ("kladde", "TENTATIVE"),
    PostState.QUEUED: ("godkendt", "CONFIRMED"),
    PostState.PUBLISHING: ("udgives nu", "CONFIRMED"),
    PostState.PUBLISHED: ("udgivet", "CONFIRMED"),
    PostState.FAILED: ("fejlet", "CANCELLED"),
    PostState.UNKNOWN: ("uvis (afstemmes)", "TENTATIVE"),
    PostState.MISSED: ("ikke udgivet (for sent)", "CANCELLED"),
    PostState.HELD: ("tilbageholdt (krisestop)", "TENTATIVE"),  # a person decides what next
    PostState.CANCELLED: ("annulleret", "CANCELLED"),
}
MONTH_NAMES = (
    "januar",
    "februar",
    "marts",
    "april",
    "maj",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "december",
)
WEEKDAYS = ("man", "tir", "ons", "tor", "fre", "lør", "søn")


@dataclass(frozen=True)
class CalendarEntry:
    """One post as a calendar event."""

    id: int
    key: str
    campaign: str | None
    title: str
    text: str
    channel: str
    audience: str | None
    state: str
    link: str | None
    start: datetime  # UTC
    updated_at: datetime

    @property
    def state_name(self) -> str:
        return STATES.get(self.state, (self.state, ""))[0]


def calendar_entries(
    url: str,
    *,
    year: int,
    zone: ZoneInfo,
    first: date | None = None,
    last: date | None = None,
) -> list[CalendarEntry]:
    """Every post of `year` (local calendar) that is not cancelled, in time order; with `first`
    and `last`, only those of the local days `first`..`last` (a month, a week), read as such
    (the indexes on both times find them), not sifted from the year."""
    begin, stop = local_day_bounds(first or date(year, 1, 1), last or date(year, 12, 31), zone)
    published = sa.and_(col(Post.state) == PostState.PUBLISHED, col(Post.published_at).is_not(None))
    query = sa.select(*_ENTRY_COLUMNS).where(
        col(Post.state) != PostState.CANCELLED,
        sa.or_(
            sa.and_(published, col(Post.published_at) >= begin, col(Post.published_at) < stop),
            sa.and_(
                sa.not_(published), col(Post.scheduled_at) >= begin, col(Post.scheduled_at) < stop
            ),
        ),
    )
    with session_scope(url, read_only=True) as session:
        posts = session.execute(query).all()
    entries = [_entry(post) for post in posts]
    return sorted(entries, key=lambda e: (e.start, e.title, e.channel, e.id))


def month_days(
    url: str, *, year: int, month: int, zone: ZoneInfo, per_day: int
) -> tuple[dict[date, list[CalendarEntry]], dict[date, int]]:
    """A month as its day cells show it: the first `per_day` entries of each local day, in time
    order, and how many posts each day has in all (cancelled ones left out, as everywhere).

    A busy month has thousands of posts and a cell shows a few, so each day is asked for its
    own first few from the time indexes (an index range read that stops after `per_day` rows)
    and its count (an index range counted), each day bounded by its UTC instants worked out
    here for the zone (a day may have 23 or 25 hours). A post's time is its publishing time
    once published, else its scheduled time, so a day's first few are the first of each kind
    merged. Two statements for the whole month, the same text every month of that length, so
    the database keeps them prepared."""
    days = [date(year, month, n) for n in range(1, stdcal.monthrange(year, month)[1] + 1)]
    params: dict[str, datetime] = {}
    for n, day in enumerate(days):
        params[f"lo{n}"], params[f"hi{n}"] = local_day_bounds(day, day, zone)
    with session_scope(url, read_only=True) as session:  # each read in one step on SQLite
        rows = all_rows(session, _day_firsts(len(days), per_day), params)
        totals = all_rows(session, _day_counts(len(days)), params)
    candidates: dict[int, list[CalendarEntry]] = {}
    for row in rows:
        candidates.setdefault(row.day_number, []).append(_entry(row))
    shown: dict[date, list[CalendarEntry]] = {}
    for number, entries in candidates.items():
        entries.sort(key=lambda e: (e.start, e.id))
        firsts = entries[:per_day]
        firsts.sort(key=lambda e: (e.start, e.title, e.channel, e.id))
        shown[days[number]] = firsts
    counts = {days[row.day_number]: row.posts for row in totals if row.posts}
    return shown, counts


def _on_its_publishing_time() -> sa.ColumnElement[bool]:
    """Posts whose calendar time is `published_at` (published, with the time recorded)."""
    return sa.and_(col(Post.state) == PostState.PUBLISHED, col(Post.published_at).is_not(None))


def _on_its_schedule() -> sa.ColumnElement[bool]:
    """Posts whose calendar time is `scheduled_at`: the rest, cancelled ones left out."""
    return sa.and_(col(Post.state) != PostState.CANCELLED, sa.not_(_on_its_publishing_time()))


@functools.cache
def _day_firsts(days: int, per_day: int) -> sa.CompoundSelect:
    """Per day n (bounds :lo{n} and :hi{n}): its first `per_day` posts by publishing time and
    its first by scheduled time, each read in order from its index; with a `day_number`."""
    parts = []
    for n in range(days):
        lo, hi = (
            sa.bindparam(f"lo{n}", type_=UTCDateTime),
            sa.bindparam(f"hi{n}", type_=UTCDateTime),
        )
        for moment, kind in (
            (col(Post.published_at), _on_its_publishing_time()),
            (col(Post.scheduled_at), _on_its_schedule()),
        ):
            first = (
                sa.select(*_ENTRY_COLUMNS, sa.literal(n).label("day_number"))
                .where(moment >= lo, moment < hi, kind)
                .order_by(moment, col(Post.id))
                .limit(per_day)
                .subquery()
            )
            parts.append(sa.select(first))
    return sa.union_all(*parts)


@functools.cache
def _day_counts(days: int) -> sa.CompoundSelect:
    """(day_number, posts that day) for each day n, bounds as in _day_firsts.

    Each count is read from an index alone: published posts by (state, published_at), the
    others by (state, scheduled_at) state by state, and the rare published post without a
    publishing time from (state, published_at) too: its scheduled time sits inside COALESCE
    so the database does not walk every published post of the day to find it."""
    scheduled = [s for s in PostState if s not in (PostState.CANCELLED, PostState.PUBLISHED)]
    published, untimed = col(Post.published_at), col(Post.published_at).is_(None)
    parts = []
    for n in range(days):
        lo = sa.bindparam(f"lo{n}", type_=UTCDateTime)
        hi = sa.bindparam(f"hi{n}", type_=UTCDateTime)
        timed_at = sa.func.coalesce(published, col(Post.scheduled_at))
        counts = [
            sa.select(sa.func.count()).where(*where).scalar_subquery()
            for where in (
                (col(Post.state) == PostState.PUBLISHED, published >= lo, published < hi),
                (
                    # each state its own bound value: an expanding IN is rebuilt per run
                    col(Post.state).in_([sa.literal(state) for state in scheduled]),
                    col(Post.scheduled_at) >= lo,
                    col(Post.scheduled_at) < hi,
                ),
                (col(Post.state) == PostState.PUBLISHED, untimed, timed_at >= lo, timed_at < hi),
            )
        ]
        total = (counts[0] + counts[1] + counts[2]).label("posts")
        parts.append(sa.select(sa.literal(n).label("day_number"), total))
    return sa.union_all(*parts)


def _entry(post: Any) -> CalendarEntry:
    """A post (or a row of _ENTRY_COLUMNS) as the calendar shows it."""
    text = describe(post.text)  # a page address not out yet, in words
    return CalendarEntry(
        id=int(post.id or 0),
        key=post.idempotency_key,
        campaign=post.campaign,
        title=post.title or _first_words(text),
        text=text,
        channel=post.channel,
        audience=post.audience,
        state=post.state,
        link=safe_link(post.external_url)
        or (None if has_placeholder(post.link) else safe_link(post.link)),
        start=post.published_at
        if post.state == PostState.PUBLISHED and post.published_at
        else post.scheduled_at,
        updated_at=post.updated_at,
    )


# what an entry is made of: the columns alone, not whole posts
_ENTRY_COLUMNS = (
    col(Post.id),
    col(Post.idempotency_key),
    col(Post.campaign),
    col(Post.title),
    col(Post.text),
    col(Post.channel),
    col(Post.audience),
    col(Post.state),
    col(Post.external_url),
    col(Post.link),
    col(Post.published_at),
    col(Post.scheduled_at),
    col(Post.updated_at),
)


def _first_words(text: str, limit: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _href(value: str | None) -> str | None:
    """A link the page may write: a web address (safe_link) or a path of the web view."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return safe_link(value)


# --- iCalendar ------------------------------------------------------------------------------


def to_ics(
    entries: Sequence[CalendarEntry], *, year: int, zone: ZoneInfo, name: str | None = None
) -> bytes:
    """An iCalendar (RFC 5545) file with one VEVENT a post; `name` is the calendar's title."""
    from icalendar import Calendar, Event

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name or f"Tryg Aalborg: opslag {year}")
    cal.add("x-wr-timezone", zone.key)
    for entry in entries:
        event = Event()
        start = entry.start.astimezone(UTC)
        changed = entry.updated_at.astimezone(UTC)
        event.add("uid", f"{entry.key}@{UID_DOMAIN}")
        event.add("dtstamp", changed)
        event.add("last-modified", changed)
        event.add("dtstart", start)
        event.add("dtend", start + timedelta(minutes=EVENT_MINUTES))
        event.add("summary", f"{entry.title} ({entry.channel})")
        event.add("description", _description(entry))
        event.add("location", entry.channel)
        event.add("status", STATES.get(entry.state, ("", "CONFIRMED"))[1])
        event.add("transp", "TRANSPARENT")
        event.add("categories", [c for c in (entry.campaign, entry.channel) if c])
        if entry.link:
            event.add("url", entry.link)
        cal.add_component(event)
    return cal.to_ical()


def _description(entry: CalendarEntry) -> str:
    lines = [
        f"Kanal: {entry.channel}",
        f"Målgruppe: {entry.audience or '–'}",
        f"Status: {entry.state_name}",
    ]
    if entry.campaign:
        lines.append(f"Kampagne: {entry.campaign}")
    if entry.link:
        lines.append(f"Link: {entry.link}")
    return "\n".join([*lines, "", entry.text])


# --- the HTML month view --------------------------------------------------------------------

_CSS = """
.legend span { display: inline-block; margin-right: 12px; font-size: 13px; }
.month { margin: 22px 0 30px; break-inside: avoid; }
.month table { table-layout: fixed; }
.month th { text-align: center; font-size: 12px; }
.month td { height: 78px; padding: 3px 4px; font-size: 11.5px; line-height: 1.3; }
.month .week { width: 44px; }
.month td.week { color: var(--muted); text-align: center; background: var(--bg); }
.month td.out { background: #fafafa; color: #b8bec6; }
.month td.weekend { background: #fbfbf6; }
.day { font-weight: bold; font-size: 12px; color: var(--muted); }
.entry { margin: 2px 0; padding: 1px 4px; border-left: 3px solid #999; background: #f3f5f8;
  border-radius: 2px; }
.entry .time { font-weight: bold; }
.entry .ch { display: inline-block; font-size: 10px; padding: 0 4px; margin: 1px 1px 0 0;
  border-radius: 3px; background: #fff; border: 1px solid var(--line); color: var(--ink);
  text-decoration: none; }
.state-draft { border-color: #b0b6be; background: #f4f4f4; }
.state-queued { border-color: #1f5fa8; background: #eaf1fa; }
.state-publishing { border-color: #e0a800; }
.state-published { border-color: #2e9a4b; background: #ebf6ee; }
.state-failed, .state-missed, .state-held { border-color: #c23b3b; background: #fbecec; }
.state-unknown { border-color: #e07b18; background: #fdf2e6; }
"""

_TEMPLATE = (
    document_start("Kalender {{ year }}")
    + """<h1>Kalender {{ year }}</h1>
<p class="muted">{{ count }} opslag, planlagte og udgivne. Tider i {{ zone }}.</p>
<p class="legend">{% for state, name in legend %}
<span class="entry state-{{ state }}">{{ name }}</span>{% endfor %}</p>
{% for month in months %}
<section class="month" id="maaned-{{ month.number }}">
<h2>{{ month.name }} {{ year }}</h2>
<table>
<thead><tr><th class="week">uge</th>{% for d in weekdays %}<th>{{ d }}</th>{% endfor %}</tr></thead>
<tbody>
{% for week in month.weeks %}<tr><td class="week">{{ week.number }}</td>
{% for day in week.days %}<td class="{{ day.classes }}">{% if day.inside %}
<div class="day">{{ day.number }}</div>
{% for line in day.lines %}<div class="entry state-{{ line.state }}" title="{{ line.state_name }}">
<span class="time">{{ line.time }}</span> {{ line.title }}<br>
{% for ch in line.channels %}{% if ch.href %}<a class="ch" href="{{ ch.href }}">{{ ch.name }}</a>
{% else %}<span class="ch">{{ ch.name }}</span>{% endif %}{% endfor %}
</div>
{% endfor %}{% endif %}</td>
{% endfor %}</tr>
{% endfor %}</tbody>
</table>
</section>
{% endfor %}
</main>
</body>
</html>
"""
)

_template = Environment(autoescape=True).from_string(_TEMPLATE)


def to_html(
    entries: Sequence[CalendarEntry],
    *,
    year: int,
    zone: ZoneInfo,
    post_href: Callable[[CalendarEntry], str | None] = lambda entry: entry.link,
    nav: Sequence[tuple[str, str]] = (),
) -> str:
    """A self-contained HTML page: the year's twelve months, posts in their day cells."""
    by_day: dict[date, list[CalendarEntry]] = {}
    for entry in entries:
        by_day.setdefault(entry.start.astimezone(zone).date(), []).append(entry)
    months = []
    for month in range(1, 13):
        weeks = []
        for days in stdcal.Calendar(firstweekday=0).monthdatescalendar(year, month):
            weeks.append(
                {
                    "number": days[0].isocalendar().week,
                    "days": [
                        _day(day, month, by_day.get(day, []), zone, post_href) for day in days
                    ],
                }
            )
        months.append(
            {"number": month, "name": MONTH_NAMES[month - 1].capitalize(), "weeks": weeks}
        )
    shown = {e.state for e in entries} | {PostState.DRAFT, PostState.QUEUED, PostState.PUBLISHED}
    return _template.render(
        css=BASE_CSS + _CSS,
        file_csp=FILE_CSP,
        year=year,
        zone=zone.key,
        count=len(entries),
        legend=[(state, name) for state, (name, _) in STATES.items() if state in shown],
        months=months,
        weekdays=WEEKDAYS,
        nav=list(nav),
    )


def _day(
    day: date,
    month: int,
    entries: list[CalendarEntry],
    zone: ZoneInfo,
    post_href: Callable[[CalendarEntry], str | None],
) -> dict[str, object]:
    inside = day.month == month
    classes = " ".join(
        name for name, on in (("out", not inside), ("weekend", day.weekday() >= 5)) if on
    )
    lines = []

    def same_line(entry: CalendarEntry) -> tuple[datetime, str, str]:
        return (entry.start, entry.title, entry.state)

    for (start, title, state), group in groupby(entries, key=same_line):
        members = list(group)
        lines.append(
            {
                "time": format_time(start.astimezone(zone)),
                "title": title,
                "state": state,
                "state_name": members[0].state_name,
                "channels": [{"name": e.channel, "href": _href(post_href(e))} for e in members],
            }
        )
    return {"number": day.day, "inside": inside, "classes": classes, "lines": lines}

"""The calendar: a month of planned and published posts, with a form to move one (no JS needed).

The entries are comms.report.calendar's (the same as `comms calendar`); the year's iCalendar
file stays at /calendar/YEAR.ics, and each person may make a secret feed address
(comms.web.calendar_feed).
"""

from __future__ import annotations

import calendar as stdcal
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from comms.access import Action
from comms.content.danish import format_datetime, format_time
from comms.report.calendar import (
    MONTH_NAMES,
    WEEKDAYS,
    CalendarEntry,
    calendar_entries,
    month_days,
    to_ics,
)
from comms.store.models import Post, PostState
from comms.web.calendar_feed import active_feed
from comms.web.context import Ctx, Refused, page
from comms.web.posts import move, visible_post
from comms.web.render import today_in

# a held post moved on the calendar is queued again at its new time
MOVABLE = (PostState.DRAFT, PostState.QUEUED, "rejected", PostState.HELD)
COLOURS = 8  # campaign colours in comms.css: .camp-0 … .camp-7
# posts a month's day cell shows; the rest are counted, with a link to the week that lists all
DAY_LIMIT = 8


def campaign_colours(entries: list[CalendarEntry]) -> dict[str, int]:
    """A colour number per campaign shown, in name order (one-off posts have none)."""
    names = sorted({e.campaign for e in entries if e.campaign})
    return {name: index % COLOURS for index, name in enumerate(names)}


def entry_links(
    entries: Iterable[CalendarEntry], zone: ZoneInfo, shown: dict[str, Any]
) -> list[Markup]:
    """Each entry as the link its day cell shows: state and campaign colour, its time, title
    and channel, and for those who may move it what drag and drop needs. Written here, not in
    the template: a month shows hundreds, and each is ten values put in and escaped."""
    colours, movable = shown["colours"], shown["movable_ids"]
    links = []
    for e in entries:
        local = e.start.astimezone(zone)
        colour = f" camp-{colours[e.campaign]}" if e.campaign in colours else ""
        move = (
            f' draggable="true" data-move="{e.id}" data-time="{local.strftime("%H:%M")}"'
            if e.id in movable
            else ""
        )
        links.append(
            Markup(
                f'<a class="entry state-{escape(e.state)}{colour}" href="/posts/{e.id}"'
                f' title="{escape(e.state_name)}"{move}><span class="time">'
                f"{format_time(local)}</span> {escape(e.title)}"
                f' <span class="muted">{escape(e.channel)}</span></a>'
            )
        )
    return links


def move_options(entries: Iterable[CalendarEntry], zone: ZoneInfo) -> list[Markup]:
    """The move form's choice of each post that may be moved: when, where and what."""
    return [
        Markup(
            f'<option value="{e.id}">{escape(format_datetime(e.start, zone))} · '
            f"{escape(e.channel)} · {escape(e.title)}</option>"
        )
        for e in entries
    ]


def routes() -> list[Route]:
    return [
        Route("/calendar", this_month, methods=["GET"]),
        Route("/calendar/{year:int}.ics", ics, methods=["GET"]),
        Route("/calendar/{year:int}", year_start, methods=["GET"]),
        Route("/calendar/{year:int}/{month:int}", month_view, methods=["GET"]),
        Route("/calendar/{year:int}/uge/{week:int}", week_view, methods=["GET"]),
        Route("/calendar/move", move_post, methods=["POST"]),
    ]


@page
def this_month(ctx: Ctx) -> Response:
    today = today_in(ctx.settings.zone, ctx.now)
    return RedirectResponse(f"/calendar/{today.year}/{today.month}", status_code=302)


@page
def year_start(ctx: Ctx, year: int) -> Response:
    return RedirectResponse(f"/calendar/{year}/1", status_code=302)


def _check(year: int, month: int = 1) -> None:
    if not (1900 <= year <= 9998 and 1 <= month <= 12):
        raise Refused(404, "Den måned findes ikke i kalenderen.")


@page
def month_view(ctx: Ctx, year: int, month: int) -> Response:
    """GET /calendar/YEAR/MONTH: the month's weeks, posts in their day cells."""
    _check(year, month)
    zone = ctx.settings.zone
    by_day, counts = month_days(
        ctx.settings.database_url, year=year, month=month, zone=zone, per_day=DAY_LIMIT
    )
    shown = [e for day_entries in by_day.values() for e in day_entries]
    facts = _shown(ctx, shown, count=sum(counts.values()))
    weeks = [
        {
            "number": days[0].isocalendar().week,
            "year": days[0].isocalendar().year,
            "days": [
                {
                    "number": day.day,
                    "iso": day.isoformat(),
                    "inside": day.month == month,
                    "classes": " ".join(
                        name
                        for name, on in (
                            ("out", day.month != month),
                            ("weekend", day.weekday() >= 5),
                        )
                        if on
                    ),
                    "entries": entry_links(by_day.get(day, []), zone, facts),
                    "more": counts.get(day, 0) - len(by_day.get(day, [])),
                }
                for day in days
            ],
        }
        for days in stdcal.Calendar(firstweekday=0).monthdatescalendar(year, month)
    ]
    before = (year, month - 1) if month > 1 else (year - 1, 12)
    after = (year, month + 1) if month < 12 else (year + 1, 1)
    name = f"{MONTH_NAMES[month - 1].capitalize()} {year}"
    return ctx.page(
        "calendar.html",
        title=f"Kalender: {name}",
        month_name=name,
        year=year,
        month=month,
        weeks=weeks,
        weekdays=WEEKDAYS,
        before=before,
        after=after,
        **facts,
    )


@page
def week_view(ctx: Ctx, year: int, week: int) -> Response:
    """GET /calendar/YEAR/uge/WEEK: the seven days of an ISO week, posts under their day."""
    try:
        monday = date.fromisocalendar(year, week, 1)
    except ValueError:
        raise Refused(404, "Den uge findes ikke i kalenderen.") from None
    _check(year)
    zone = ctx.settings.zone
    days = [monday + timedelta(days=offset) for offset in range(7)]
    entries = [
        e
        for y in sorted({d.year for d in days})
        for e in calendar_entries(
            ctx.settings.database_url,
            year=y,
            zone=zone,
            first=max(days[0], date(y, 1, 1)),
            last=min(days[-1], date(y, 12, 31)),
        )
    ]
    facts = _shown(ctx, entries)
    columns = [
        {
            "day": day,
            "name": f"{WEEKDAYS[day.weekday()]} {day.day}. {MONTH_NAMES[day.month - 1]}",
            "weekend": day.weekday() >= 5,
            "entries": entry_links(
                (e for e in entries if e.start.astimezone(zone).date() == day), zone, facts
            ),
        }
        for day in days
    ]
    before = (monday - timedelta(days=7)).isocalendar()
    after = (monday + timedelta(days=7)).isocalendar()
    return ctx.page(
        "calendar_week.html",
        title=f"Kalender: uge {week} {year}",
        year=year,
        month=monday.month,
        columns=columns,
        before=(before.year, before.week),
        after=(after.year, after.week),
        **facts,
    )


def _shown(ctx: Ctx, entries: list[Any], *, count: int | None = None) -> dict[str, Any]:
    """What the month and the week view both show of their posts: how many there are (`count`,
    when not all are shown), colours, the move form's posts (for those who may move them) and
    the person's calendar feed."""
    movable = [e for e in entries if e.state in MOVABLE] if ctx.may(Action.RESCHEDULE) else []
    return {
        "count": len(entries) if count is None else count,
        "zone": ctx.settings.zone.key,
        "movable": movable,
        "move_options": move_options(movable, ctx.settings.zone),
        "movable_ids": {e.id for e in movable},
        "states": sorted({e.state for e in entries} | {"draft", "queued", "published"}),
        "colours": campaign_colours(entries),
        "feed": active_feed(ctx.db, int(ctx.user.id or 0)),
    }


@page
def ics(ctx: Ctx, year: int) -> Response:
    """GET /calendar/YEAR.ics: the year as an iCalendar file."""
    _check(year)
    zone = ctx.settings.zone
    entries = calendar_entries(ctx.settings.database_url, year=year, zone=zone)
    return Response(
        to_ics(entries, year=year, zone=zone),
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="opslag-{year}.ics"'},
    )


@page
def move_post(ctx: Ctx) -> Response:
    """POST /calendar/move: reschedule the chosen post, then back to its new month."""
    try:
        post_id = int(ctx.field("post_id"))
    except ValueError:
        raise Refused(400, "Vælg et opslag at flytte.") from None
    post: Post = visible_post(ctx, post_id)
    move(ctx, post, ctx.field("date"), ctx.field("time"))
    ctx.db.refresh(post)
    local = post.scheduled_at.astimezone(ctx.settings.zone)
    return RedirectResponse(f"/calendar/{local.year}/{local.month}?ok=rescheduled", status_code=303)

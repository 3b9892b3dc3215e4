"""A personal calendar feed: a secret address (/calendar/feed/TOKEN.ics) that a calendar program
subscribes to without signing in.

The token is shown once, when it is made; only its sha256 is stored, so a copy of the database
opens no feed. Renewing makes a new address and ends the old one; revoking ends it. A revoked
token, an unknown one and a disabled person's token all answer 404. The feed holds the planned
and published posts of last year, this year and next year that its owner may see, as the
year's export does (comms.report.calendar).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from comms.access import Action, Actor, PostFacts, Role, decide
from comms.config import Settings
from comms.report.calendar import CalendarEntry, calendar_entries, to_ics
from comms.store import audit
from comms.store.db import session_scope
from comms.store.models import CalendarFeed, User, utcnow
from comms.web.context import Ctx, Refused, channel_organisation, page
from comms.web.render import today_in

MAX_TOKEN = 100


def routes() -> list[Route]:
    return [
        Route("/calendar/feed", manage, methods=["POST"]),
        Route("/calendar/feed/{token}.ics", feed, methods=["GET"]),
    ]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def active_feed(db: Session, user_id: int) -> CalendarFeed | None:
    """This person's feed that still answers, if any."""
    return db.exec(
        select(CalendarFeed)
        .where(col(CalendarFeed.user_id) == user_id, col(CalendarFeed.revoked_at).is_(None))
        .order_by(col(CalendarFeed.id).desc())
    ).first()


def revoke(db: Session, user: User, now: datetime) -> bool:
    """End this person's feed addresses; True when there was one."""
    ended = False
    for row in db.exec(
        select(CalendarFeed).where(
            col(CalendarFeed.user_id) == user.id, col(CalendarFeed.revoked_at).is_(None)
        )
    ).all():
        row.revoked_at = now
        db.add(row)
        ended = True
    return ended


def new_feed(db: Session, user: User, now: datetime) -> str:
    """A new secret address for this person (the old one ends); the token, shown once."""
    revoke(db, user, now)
    token = secrets.token_urlsafe(32)
    db.add(CalendarFeed(user_id=int(user.id or 0), token_hash=_hash(token), created_at=now))
    db.flush()
    return token


def feed_owner(db: Session, token: str) -> tuple[User, CalendarFeed] | None:
    """The person behind a token, when it is theirs, not revoked, and they are not disabled."""
    if not token or len(token) > MAX_TOKEN:
        return None
    found = db.exec(
        select(CalendarFeed, User)
        .join(User, col(User.id) == CalendarFeed.user_id)
        .where(col(CalendarFeed.token_hash) == _hash(token), col(CalendarFeed.revoked_at).is_(None))
    ).first()
    if found is None or found[1].disabled:
        return None
    feed_row, user = found
    return user, feed_row


def feed_url(request: Request, token: str) -> str:
    return f"{request.base_url}calendar/feed/{token}.ics"


@page
def manage(ctx: Ctx) -> Response:
    """POST /calendar/feed: make (or renew) the address and show it once, or revoke it."""
    action = ctx.field("action")
    me = ctx.user.username
    if action == "revoke":
        if revoke(ctx.db, ctx.user, ctx.now):
            audit.record(ctx.db, actor=me, action="calendar-feed:revoke")
        return RedirectResponse("/calendar?ok=feed-revoked", status_code=303)
    if action not in ("create", "renew"):
        raise Refused(400, "Ukendt handling for kalenderadressen.")
    token = new_feed(ctx.db, ctx.user, ctx.now)
    audit.record(ctx.db, actor=me, action=f"calendar-feed:{action}")
    return ctx.page(
        "calendar_feed.html", title="Din kalenderadresse", url=feed_url(ctx.request, token)
    )


async def feed(request: Request) -> Response:
    """GET /calendar/feed/TOKEN.ics: the owner's calendar, with no session: the token is the key."""
    token = request.path_params["token"]
    settings: Settings = request.app.state.settings
    body = await run_in_threadpool(_feed_body, settings, token)
    if body is None:
        raise Refused(404, "Kalenderadressen findes ikke eller er trukket tilbage.")
    return Response(body, media_type="text/calendar; charset=utf-8")


def _feed_body(settings: Settings, token: str) -> bytes | None:
    now = utcnow()
    with session_scope(settings.database_url) as db:
        found = feed_owner(db, token)
        if found is None:
            return None
        user, row = found
        row.last_used_at = now
        db.add(row)
        actor = Actor(username=user.username, role=Role(user.role), organisation=user.organisation)
    year = today_in(settings.zone, now).year
    entries = [
        entry
        for y in (year - 1, year, year + 1)
        for entry in calendar_entries(settings.database_url, year=y, zone=settings.zone)
        if _may_see(settings, actor, entry)
    ]
    return to_ics(entries, year=year, zone=settings.zone, name=f"Tryg Aalborg: {actor.username}")


def _may_see(settings: Settings, actor: Actor, entry: CalendarEntry) -> bool:
    facts = PostFacts(
        organisation=channel_organisation(settings, entry.channel),
        author=None,
        last_editor=None,
        state=entry.state,
    )
    return bool(decide(actor, Action.VIEW, facts, four_eyes=settings.web.four_eyes))

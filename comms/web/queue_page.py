"""The queue: every post, filtered by state, channel, organisation, campaign, author, story and
dates.

Paging is by keyset, never OFFSET: the page after is "scheduled after this post" in
(scheduled_at, id) order, so page 500 costs what page 1 costs at 100,000 posts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar
from starlette.responses import Response

from comms.access import Action
from comms.config import Settings
from comms.queue.links import waits
from comms.store.models import Post
from comms.store.one_step import all_models
from comms.timeutil import local_day_bounds
from comms.web.context import Ctx, Refused, page
from comms.web.render import today_in
from comms.web.words import STATE_NAMES

PAGE_SIZE = 50
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FILTERS = ("state", "channel", "organisation", "campaign", "author", "story", "from", "to")


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after this post in (scheduled_at, id) order."""

    at: datetime
    id: int

    def text(self) -> str:
        """`MICROSECONDS_ID`: the UTC instant as whole microseconds since 1970, then the id."""
        micros = (self.at - EPOCH) // timedelta(microseconds=1)
        return f"{micros}_{self.id}"

    @classmethod
    def parse(cls, value: str) -> Cursor | None:
        if not value:
            return None
        micros, _, ident = value.partition("_")
        try:
            return cls(EPOCH + timedelta(microseconds=int(micros)), int(ident))
        except (ValueError, OverflowError):
            raise Refused(400, "Sideangivelsen er ugyldig; begynd forfra.") from None


def parse_day(value: str, name: str) -> date | None:
    """A date field (YYYY-MM-DD as the browser's date picker sends it), or None when empty."""
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise Refused(400, f"{name} skal være en dato som 2027-05-29.") from None


def queue_query(
    settings: Settings,
    chosen: dict[str, str],
    start: date | None,
    end: date | None,
    cursor: Cursor | None,
) -> SelectOfScalar[Post]:
    """One page of the filtered queue in (scheduled_at, id) order, served by an index."""
    query = select(Post)
    if chosen["state"]:
        query = query.where(Post.state == chosen["state"])
    if chosen["channel"]:
        query = query.where(Post.channel == chosen["channel"])
    if chosen["organisation"]:
        names = [
            n for n, c in settings.channels.items() if c.organisation == chosen["organisation"]
        ]
        query = query.where(col(Post.channel).in_(names))
    if chosen["campaign"]:
        query = query.where(Post.campaign == chosen["campaign"])
    if chosen["author"]:
        query = query.where(Post.author == chosen["author"])
    if chosen["story"]:
        query = query.where(Post.story == chosen["story"][:64])
    if start or end:
        low, high = local_day_bounds(
            start or date(1900, 1, 1), end or date(9998, 12, 31), settings.zone
        )
        query = query.where(Post.scheduled_at >= low, Post.scheduled_at < high)
    if cursor is not None:
        query = query.where(
            sa.or_(
                col(Post.scheduled_at) > cursor.at,
                sa.and_(col(Post.scheduled_at) == cursor.at, col(Post.id) > cursor.id),
            )
        )
    return query.order_by(col(Post.scheduled_at), col(Post.id)).limit(PAGE_SIZE + 1)


def campaign_names(db: Session) -> list[str]:
    """Every campaign's name in order, for the filter's list.

    A DISTINCT would read the whole campaign index, one entry per post; stepping from each name
    to the next larger one costs one index look-up per campaign instead.
    """
    names = (
        sa.select(sa.func.min(col(Post.campaign)).label("name"))
        .where(col(Post.campaign).is_not(None))
        .cte("names", recursive=True)
    )
    after = sa.select(sa.func.min(col(Post.campaign))).where(col(Post.campaign) > names.c.name)
    names = names.union_all(sa.select(after.scalar_subquery()).where(names.c.name.is_not(None)))
    query = sa.select(names.c.name).where(names.c.name.is_not(None)).order_by(names.c.name)
    return list(db.execute(query).scalars())


@page
def queue(ctx: Ctx) -> Response:
    """GET /queue: the filtered posts, PAGE_SIZE at a time."""
    settings = ctx.settings
    params = ctx.request.query_params
    today = today_in(settings.zone, ctx.now)
    chosen = {name: params.get(name, "").strip() for name in FILTERS}
    if "from" not in params and not params.get("after"):
        chosen["from"] = today.isoformat()  # by default the queue starts today
    if chosen["state"] and chosen["state"] not in STATE_NAMES:
        raise Refused(400, "Ukendt status.")
    start = parse_day(chosen["from"], "Fra")
    end = parse_day(chosen["to"], "Til")
    cursor = Cursor.parse(params.get("after", ""))
    query = queue_query(settings, chosen, start, end, cursor)
    rows = all_models(ctx.db, query, Post, lambda post: (post.scheduled_at, post.id))
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    posts = [p for p in rows if ctx.may(Action.VIEW, p)]
    kept = {k: v for k, v in chosen.items() if v or k == "from"}
    next_href = None
    if more and rows:
        last = rows[-1]
        next_href = "/queue?" + urlencode(
            {**kept, "after": Cursor(last.scheduled_at, int(last.id or 0)).text()}
        )
    campaigns = campaign_names(ctx.db)
    return ctx.page(
        "queue.html",
        title="Kø",
        posts=posts,
        chosen=chosen,
        states=STATE_NAMES,
        channels=sorted(settings.channels),
        organisations=sorted(
            {c.organisation for c in settings.channels.values() if c.organisation}
        ),
        campaigns=campaigns,
        waiting=waits(ctx.db, posts),  # posts held until the page they link to is out
        next_href=next_href,
        first_href="/queue?" + urlencode(kept) if cursor else None,
    )

"""The overview: what needs the signed-in person now, and what goes out in the next seven days."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar
from starlette.responses import Response

from comms.access import Action
from comms.config import Settings
from comms.content.danish import format_date
from comms.queue.links import waits
from comms.store.models import ChannelState, Notice, Post, PostState
from comms.store.one_step import all_models
from comms.web.context import Ctx, page

LIMIT = 50  # look at most at this many of a kind
SHOWN = 10  # show this many; the rest are a link to the queue away
WANTED = SHOWN + 1  # one more than is shown tells the page to link to the rest
TROUBLE = ("failed", "unknown", "missed", "expired", "held")
# The coming week is shown post by post up to this many (a usual week has a handful); a busier
# week links to the queue for those seven days instead of growing the overview without end.
COMING = 50


@dataclass(frozen=True)
class ChannelProblem:
    """A channel that cannot publish now, and why (in Danish)."""

    name: str
    organisation: str | None
    why: str
    short: str  # for the list of posts it holds back


def channel_problems(settings: Settings, paused: dict[str, str | None]) -> list[ChannelProblem]:
    """Channels paused after an auth error, or whose secret's variable is not set here."""
    problems = []
    for name, channel in sorted(settings.channels.items()):
        if name in paused:
            reason = paused[name] or "uden begrundelse"
            why = f"sat på pause: {reason}"
            problems.append(ChannelProblem(name, channel.organisation, why, "er sat på pause"))
        missing = [var for var in channel.secret_env_names() if not os.environ.get(var)]
        if missing:
            why = f"mangler sin hemmelighed ({', '.join(missing)} er ikke sat)"
            short = "mangler sin hemmelighed"
            problems.append(ChannelProblem(name, channel.organisation, why, short))
    return problems


def my_channels(ctx: Ctx) -> list[str] | None:
    """The channels of the user's organisation (and those of none), or None for all."""
    org = ctx.user.organisation
    if org is None:
        return None
    return [n for n, c in ctx.settings.channels.items() if c.organisation in (org, None)]


def expiring_tokens(ctx: Ctx) -> list[ChannelProblem]:
    """Channels whose token the daemon found expiring (its token-expiring notices), not past."""
    today = ctx.now.astimezone(ctx.settings.zone).date()
    since = ctx.now - timedelta(days=max(ctx.settings.token_warning_days, 1) + 1)
    rows = ctx.db.exec(
        select(Notice.key).where(Notice.kind == "token-expiring", Notice.sent_at >= since)
    ).all()
    found: dict[str, date] = {}
    for key in rows:
        name, _, day = key.rpartition(":")
        try:
            expires = date.fromisoformat(day)
        except ValueError:
            continue
        if name in ctx.settings.channels and expires >= today:
            found[name] = min(expires, found.get(name, expires))
    return [
        ChannelProblem(
            name,
            ctx.settings.channels[name].organisation,
            f"adgangsnøglen udløber {format_date(expires)}: forny den i tide",
            "adgangsnøglen udløber snart",
        )
        for name, expires in sorted(found.items())
    ]


def first_allowed(
    db: Session,
    query: SelectOfScalar[Post],
    allowed: Callable[[Post], object],
    scan: int,
    wanted: int = WANTED,
    *,
    newest_first: bool = False,
) -> list[Post]:
    """The first `wanted` posts of `query` that `allowed` lets through, among its first `scan`;
    `query` is ordered by scheduled time and id (`newest_first`: both descending).

    The page shows SHOWN of a kind and links to the queue for the rest, so the first `wanted`
    are read first, and the rest of the `scan` only when some of those were not allowed. Each
    read is one step of the database (comms.store.one_step): a busy server's threads would
    otherwise wait for the interpreter once per row."""
    found: list[Post] = []
    offset, batch = 0, wanted
    while offset < scan:
        posts = all_models(
            db,
            query.offset(offset).limit(min(batch, scan - offset)),
            Post,
            lambda post: (post.scheduled_at, post.id),
            reverse=newest_first,
        )
        for post in posts:
            if allowed(post):
                found.append(post)
                if len(found) == wanted:
                    return found
        if len(posts) < min(batch, scan - offset):
            break
        offset += len(posts)
        batch = scan - offset
    return found


@functools.cache  # the same statement on every request: built once
def latest_in_states(states: tuple[str, ...], limit: int) -> sa.Select[tuple[int]]:
    """The ids of the `limit` latest posts (by scheduled time, then id) of each of `states`:
    the latest `limit` of them all are among these. Each state's are read backwards from the
    (state, scheduled_at) index, where one IN over all states would fetch and sort every post
    in them."""
    latest = []
    for state in states:
        ids = (
            sa.select(col(Post.id))
            .where(col(Post.state) == state)
            .order_by(col(Post.scheduled_at).desc(), col(Post.id).desc())
            .limit(limit)
            .subquery()
        )
        latest.append(sa.select(ids.c.id))
    found = sa.union_all(*latest).subquery()
    return sa.select(found.c.id)


@page
def overview(ctx: Ctx) -> Response:
    """GET /: awaiting my approval, rejected back to me, trouble, blocked, the coming week."""
    db, now = ctx.db, ctx.now
    awaiting: list[Post] = []
    if ctx.may(Action.APPROVE):
        query = select(Post).where(Post.state == PostState.DRAFT)
        mine = my_channels(ctx)
        if mine is not None:
            query = query.where(col(Post.channel).in_(mine))
        awaiting = first_allowed(
            db,
            query.order_by(col(Post.scheduled_at), col(Post.id)),
            lambda p: ctx.may(Action.APPROVE, p),
            LIMIT * 4,
        )
    rejected = db.exec(
        select(Post)
        .where(Post.state == "rejected", Post.author == ctx.user.username)
        .order_by(col(Post.updated_at).desc())
        .limit(WANTED)
    ).all()
    visible = lambda p: ctx.may(Action.VIEW, p)  # noqa: E731
    trouble = first_allowed(
        db,
        select(Post)
        .where(col(Post.id).in_(latest_in_states(TROUBLE, LIMIT)))
        .order_by(col(Post.scheduled_at).desc(), col(Post.id).desc()),
        visible,
        LIMIT,
        newest_first=True,
    )
    paused = {
        row.name: row.paused_reason
        for row in db.exec(select(ChannelState).where(ChannelState.paused)).all()
    }
    problems = channel_problems(ctx.settings, paused)
    bad = {problem.name: problem.short for problem in problems}
    problems += expiring_tokens(ctx)  # a warning: their posts still go out
    late = col(Post.scheduled_at) < now - timedelta(minutes=5)
    # with no channel in trouble only the late ones: an empty IN in the OR would keep the
    # database from finding them through the (state, scheduled_at) index
    held_back = sa.or_(col(Post.channel).in_(list(bad)), late) if bad else late
    blocked_rows = first_allowed(
        db,
        select(Post)
        .where(Post.state == PostState.QUEUED, held_back)
        .order_by(col(Post.scheduled_at), col(Post.id)),
        visible,
        LIMIT,
    )
    waiting = waits(db, blocked_rows)  # held until the page they link to is out
    blocked = [
        (
            post,
            f"kanalen {bad[post.channel]}"
            if post.channel in bad
            else waiting[post.id].words(ctx.settings.zone)
            if post.id in waiting
            else "tiden er passeret",
        )
        for post in blocked_rows
    ]
    coming = first_allowed(
        db,
        select(Post)
        .where(
            col(Post.state).in_([PostState.DRAFT, PostState.QUEUED]),
            Post.scheduled_at >= now,
            Post.scheduled_at < now + timedelta(days=7),
        )
        .order_by(col(Post.scheduled_at), col(Post.id)),
        visible,
        COMING * 4,
        wanted=COMING + 1,  # one more tells the page to link to the rest
    )
    today = ctx.now.astimezone(ctx.settings.zone).date()
    week_href = f"/queue?from={today.isoformat()}&to={(today + timedelta(days=7)).isoformat()}"
    org = f"&organisation={ctx.user.organisation}" if ctx.user.organisation else ""
    return ctx.page(
        "overview.html",
        title="Overblik",
        shown=SHOWN,
        awaiting=awaiting,
        awaiting_href=f"/queue?state=draft&from={org}",
        may_approve=bool(ctx.may(Action.APPROVE)),
        rejected=rejected,
        trouble=trouble,
        problems=problems,
        blocked=blocked,
        coming=coming[:COMING],
        more_coming=len(coming) > COMING,
        week_href=week_href,
    )

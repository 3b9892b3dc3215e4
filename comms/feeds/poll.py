"""Poll a feed and make each new entry into posts exactly once.

Exactly once, across restarts and several daemons, comes from the database: an entry dealt with
has a `feed_entry` row under the unique (feed, entry_key), and the row and the entry's posts are
written in ONE transaction. Two pollers that find the same new entry both try; the second
insert fails on the unique constraint, its transaction (posts included) rolls back, and it
moves on. No transaction is held across the HTTP request.

The first poll of a feed records every entry already there as seen and makes no posts, so
turning a feed on does not flood the team with last month's news; `backfill` (the feed's key,
or `comms feeds poll --backfill`) makes posts of them instead, and of entries an earlier first
poll only recorded, as long as the feed still lists them.

A failure (the server, the network, XML that is not a feed, a template that does not render) is
one log line and a note in `feed_state` (`failing_since`, `last_error`); the next poll tries
again. The validators for the conditional GET are kept only when every entry was dealt with, so
an entry a failure left behind is fetched again rather than hidden behind a 304.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from comms.config import Settings
from comms.content.render import TemplateRenderer
from comms.errors import CommsError, FeedError, RenderError
from comms.feeds.drafts import render_entry, write_posts
from comms.feeds.fetch import fetch
from comms.feeds.parse import Entry, Feed, parse_feed
from comms.feeds.settings import FeedSettings
from comms.store.db import session_scope
from comms.store.models import FeedEntry, FeedState, UTCDateTime, utcnow

log = logging.getLogger("comms.feeds")
MAX_ERROR = 300  # feed_state.last_error: a short reason, never a page of HTML
NOTICE_AFTER = timedelta(days=1)  # a feed failing this long is worth telling the team


@dataclass
class PollResult:
    """What one poll of one feed did."""

    feed: str
    ok: bool = True
    not_modified: bool = False
    first: bool = False  # the feed's first poll: its entries were recorded, not posted
    seen: int = 0  # entries recorded without posts (the first poll)
    made: int = 0  # entries this poll made into posts
    taken: int = 0  # new entries another poller made into posts first
    recorded: int = 0  # entries this poll added to those dealt with (not backfills of seen)
    post_ids: list[int] = field(default_factory=list)
    error: str | None = None


def poll_feeds(
    settings: Settings,
    names: list[str] | None = None,
    *,
    now: datetime | None = None,
    backfill: bool = False,
) -> list[PollResult]:
    """Poll the named feeds (all by default), one after another; one failing stops no other."""
    results = []
    for name in names or sorted(settings.feeds):
        results.append(poll_feed(settings, settings.feeds[name], now=now, backfill=backfill))
    return results


def poll_feed(
    settings: Settings, feed: FeedSettings, *, now: datetime | None = None, backfill: bool = False
) -> PollResult:
    """Fetch `feed` once and deal with its new entries; failures are recorded, never raised
    (but for the database itself failing)."""
    now = now or utcnow()
    url = settings.database_url
    result = PollResult(feed.name)
    state = _state(url, feed.name)
    first = state.first_polled_at is None
    try:
        conditional = not (first or backfill)  # a backfill reads every entry there is
        fetched = fetch(
            feed.url,
            etag=state.etag if conditional else None,
            last_modified=state.last_modified if conditional else None,
        )
        if fetched.not_modified:
            result.not_modified = True
            _record_ok(url, feed.name, now, etag=fetched.etag, last_modified=state.last_modified)
            return result
        assert fetched.body is not None
        parsed = parse_feed(fetched.body, url=fetched.url, content_type=fetched.content_type)
        if first and not (backfill or feed.backfill):
            result.first = True
            result.seen = _record_seen(url, feed.name, parsed.entries, now)
        else:
            _make_posts(settings, feed, parsed, now, result, backfill=backfill)
    except (FeedError, RenderError) as exc:
        return _failed(url, feed, now, result, exc)
    _record_ok(
        url,
        feed.name,
        now,
        etag=fetched.etag,
        last_modified=fetched.last_modified,
        first=first,
        seen=result.seen + result.recorded,
    )
    return result


def _make_posts(
    settings: Settings,
    feed: FeedSettings,
    parsed: Feed,
    now: datetime,
    result: PollResult,
    *,
    backfill: bool,
) -> None:
    """Each entry not dealt with yet -> its posts, oldest entry first, one transaction each."""
    url = settings.database_url
    done = _known(url, feed.name)  # entry key -> whether it became posts
    renderer: TemplateRenderer | None = None  # made for the first new entry: most polls have none
    for entry in parsed.entries:
        seen_only = entry.key in done and not done[entry.key]
        if entry.key in done and not (backfill and seen_only):
            continue
        renderer = renderer or TemplateRenderer(settings.templates_dir)
        rendered = render_entry(settings, renderer, feed, parsed, entry, now=now)
        try:
            with session_scope(url) as session:
                if not _claim(session, feed.name, entry, now, seen_only=seen_only):
                    raise _Taken
                ids, story = write_posts(session, settings, feed, entry, rendered)
                _set_story(session, feed.name, entry.key, story)
        except (_Taken, sa.exc.IntegrityError):
            result.taken += 1  # another poller made it first; its posts are the ones
            continue
        done[entry.key] = True
        result.made += 1
        result.recorded += 0 if seen_only else 1
        result.post_ids += ids
        log.info(
            "feed %s: entry %r -> post(s) %s", feed.name, entry.title[:80], ", ".join(map(str, ids))
        )


class _Taken(Exception):
    """An entry recorded as seen was backfilled by another poller meanwhile."""


def _claim(session: Session, feed: str, entry: Entry, now: datetime, *, seen_only: bool) -> bool:
    """Take the entry for this transaction: insert its row (IntegrityError when another poller
    has it), or for a backfill of an entry only seen, mark it if nobody else did."""
    if seen_only:
        changed = session.exec(
            sa.update(FeedEntry)
            .where(
                col(FeedEntry.feed) == feed,
                col(FeedEntry.entry_key) == entry.key,
                col(FeedEntry.story).is_(None),
            )
            .values(story="")
        ).rowcount
        return bool(changed)
    session.add(FeedEntry(feed=feed, entry_key=entry.key, title=entry.title[:500], created_at=now))
    session.flush()
    return True


def _set_story(session: Session, feed: str, key: str, story: str) -> None:
    session.execute(
        sa.update(FeedEntry)
        .where(col(FeedEntry.feed) == feed, col(FeedEntry.entry_key) == key)
        .values(story=story)
    )


def _known(url: str, feed: str) -> dict[str, bool]:
    """Every entry key of the feed dealt with, and whether it became posts."""
    with session_scope(url) as session:
        rows = session.exec(
            select(FeedEntry.entry_key, FeedEntry.story).where(FeedEntry.feed == feed)
        ).all()
    return {key: bool(story) for key, story in rows}


def _record_seen(url: str, feed: str, entries: list[Entry], now: datetime) -> int:
    """Record the entries as seen without posts; how many this poller recorded."""
    for _attempt in range(3):  # another first poll of the same feed may insert some meanwhile
        known = _known(url, feed)
        fresh = [e for e in entries if e.key not in known]
        if not fresh:
            return 0
        try:
            with session_scope(url) as session:
                session.execute(
                    sa.insert(FeedEntry),
                    [
                        {
                            "feed": feed,
                            "entry_key": e.key,
                            "title": e.title[:500],
                            "story": None,
                            "created_at": now,
                        }
                        for e in {e.key: e for e in fresh}.values()
                    ],
                )
            return len({e.key for e in fresh})
        except sa.exc.IntegrityError:
            continue
    raise FeedError("could not record the feed's entries (other pollers kept writing them)")


# --- feed_state -------------------------------------------------------------------------------


def _state(url: str, feed: str) -> FeedState:
    """The feed's state row, created on its first poll (once, however many pollers race)."""
    with session_scope(url) as session:
        state = session.get(FeedState, feed)
        if state is not None:
            return state
    try:
        with session_scope(url) as session:
            session.add(FeedState(name=feed))
    except sa.exc.IntegrityError:
        pass
    with session_scope(url) as session:
        state = session.get(FeedState, feed)
        assert state is not None
        return state


def _record_ok(
    url: str,
    feed: str,
    now: datetime,
    *,
    etag: str | None,
    last_modified: str | None,
    first: bool = False,
    seen: int = 0,
) -> None:
    values: dict[str, object] = {
        "etag": etag,
        "last_modified": last_modified,
        "last_polled_at": now,
        "last_ok_at": now,
        "failing_since": None,
        "last_error": None,
        "entries_seen": col(FeedState.entries_seen) + seen,
    }
    if first:
        values["first_polled_at"] = sa.func.coalesce(col(FeedState.first_polled_at), _at(now))
    with session_scope(url) as session:
        session.execute(sa.update(FeedState).where(col(FeedState.name) == feed).values(**values))


def _failed(
    url: str, feed: FeedSettings, now: datetime, result: PollResult, exc: CommsError
) -> PollResult:
    """Record the failure (keeping when it began) and log one line."""
    message = " ".join(str(exc).split())
    if len(message) > MAX_ERROR:
        message = message[: MAX_ERROR - 1] + "…"
    log.warning("feed %s: poll failed: %s", feed.name, message)
    with session_scope(url) as session:
        session.execute(
            sa.update(FeedState)
            .where(col(FeedState.name) == feed.name)
            .values(
                last_polled_at=now,
                last_error=message,
                failing_since=sa.func.coalesce(col(FeedState.failing_since), _at(now)),
            )
        )
    result.ok, result.error = False, message
    return result


def _at(now: datetime) -> sa.ColumnElement[datetime]:
    """`now` as a bound value of a UTC column (stored naive on SQLite, as the column is)."""
    return sa.literal(now, type_=UTCDateTime())


def failing_feeds(
    settings: Settings, *, now: datetime, after: timedelta = NOTICE_AFTER
) -> list[FeedState]:
    """The configured feeds that have failed without a success for at least `after`."""
    if not settings.feeds:
        return []
    with session_scope(settings.database_url) as session:
        return list(
            session.exec(
                select(FeedState).where(
                    col(FeedState.name).in_(sorted(settings.feeds)),
                    col(FeedState.failing_since).is_not(None),
                    col(FeedState.failing_since) <= now - after,
                )
            ).all()
        )

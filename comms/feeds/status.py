"""What each configured feed has given: its last poll, whether it works, what it made."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select

from comms.config import Settings
from comms.store.db import session_scope
from comms.store.models import FeedEntry, FeedState, Post


@dataclass(frozen=True)
class FeedStatus:
    """One feed as `comms feeds list` shows it."""

    name: str
    url: str
    channels: tuple[str, ...]
    last_polled_at: datetime | None
    last_ok_at: datetime | None
    failing_since: datetime | None
    last_error: str | None
    entries_seen: int  # entries dealt with: recorded on the first poll, or made into posts
    entries_posted: int  # entries that became posts
    posts: int  # the posts they became (one per channel)


def feed_statuses(settings: Settings) -> list[FeedStatus]:
    """Every configured feed, by name; a feed never polled has no times and zero counts."""
    names = sorted(settings.feeds)
    if not names:
        return []
    with session_scope(settings.database_url) as session:
        states = {
            s.name: s
            for s in session.exec(select(FeedState).where(col(FeedState.name).in_(names))).all()
        }
        posted = dict(
            session.execute(
                sa.select(col(FeedEntry.feed), sa.func.count())
                .where(col(FeedEntry.feed).in_(names), sa.func.coalesce(FeedEntry.story, "") != "")
                .group_by(col(FeedEntry.feed))
            ).all()
        )
        posts = dict(
            session.execute(
                sa.select(col(FeedEntry.feed), sa.func.count(col(Post.id)))
                .join(Post, col(Post.story) == col(FeedEntry.story))
                .where(col(FeedEntry.feed).in_(names))
                .group_by(col(FeedEntry.feed))
            ).all()
        )
    result = []
    for name in names:
        feed, state = settings.feeds[name], states.get(name)
        result.append(
            FeedStatus(
                name=name,
                url=feed.url,
                channels=feed.channels,
                last_polled_at=state.last_polled_at if state else None,
                last_ok_at=state.last_ok_at if state else None,
                failing_since=state.failing_since if state else None,
                last_error=state.last_error if state else None,
                entries_seen=state.entries_seen if state else 0,
                entries_posted=int(posted.get(name, 0)),
                posts=int(posts.get(name, 0)),
            )
        )
    return result

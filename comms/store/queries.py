"""Read-only look-ups of posts for the CLI (filters by state, channel, campaign and dates)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from comms.errors import QueueError
from comms.store.models import ALL_STATES, Post
from comms.timeutil import local_day_bounds


def list_posts(
    session: Session,
    *,
    states: Sequence[str] = (),
    channels: Sequence[str] = (),
    campaigns: Sequence[str] = (),
    start: date | None = None,
    end: date | None = None,
    zone: ZoneInfo,
    limit: int = 200,
) -> list[Post]:
    """Posts matching every given filter, in scheduled order."""
    unknown = [s for s in states if s not in ALL_STATES]
    if unknown:
        raise QueueError(f"unknown state {unknown[0]!r}; states: {', '.join(ALL_STATES)}")
    query = select(Post)
    if states:
        query = query.where(col(Post.state).in_(list(states)))
    if channels:
        query = query.where(col(Post.channel).in_(list(channels)))
    if campaigns:
        query = query.where(col(Post.campaign).in_(list(campaigns)))
    if start or end:
        low, high = local_day_bounds(
            start or date.min.replace(year=1900), end or date.max.replace(year=9998), zone
        )
        query = query.where(Post.scheduled_at >= low, Post.scheduled_at < high)
    return list(
        session.exec(query.order_by(col(Post.scheduled_at), col(Post.id)).limit(limit)).all()
    )


STORY_SHOWN = 8  # characters of a story id shown to people: enough to tell stories apart


def short_story(story: str) -> str:
    """A story id as tables show it; the whole id is in `queue list --format json`."""
    return story[:STORY_SHOWN]

"""When to read a published post's figures, and storing them as samples.

A post is read after each offset of the schedule (default +1 h, +1 d, +7 d, +28 d after
publishing): a read is due when an offset has passed and no sample was taken since that offset
came due. The newest sample of a post is what reports count. Channels without figures (the
static site) are skipped and said so; imported posts keep the figures they came with.

Some services keep a post's figures for a while only (Meta: two years, `Channel.figures_kept`).
In the last `FINAL_WINDOW` before that, every published post the service numbers (planned or
imported with its post id) is read once more and the sample marked `final`: the report then still
has its figures after the service has thrown them away, and says they are a final snapshot.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from comms.channels.answers import checked_figures
from comms.channels.base import Channel, Receipt
from comms.channels.registry import build_adapters
from comms.channels.scrub import Scrubber, channel_secrets
from comms.config import Settings
from comms.errors import CommsError
from comms.store.db import session_scope
from comms.store.models import MetricSample, Post, PostState, table_of, utcnow

log = logging.getLogger("comms.metrics")
_OFFSET = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
FINAL_WINDOW = timedelta(days=30)  # how long before the service's horizon the final read is due


def parse_offset(text: str) -> timedelta:
    """'1h', '7d', '30m', '2w' -> timedelta; a clear error otherwise."""
    match = _OFFSET.match(text.strip())
    if not match:
        raise CommsError(f"metrics schedule entry {text!r} is not like 1h, 1d, 7d or 28d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def due_offset(
    published_at: datetime, last_sample: datetime | None, now: datetime, schedule: list[timedelta]
) -> timedelta | None:
    """The latest schedule offset that has passed without a sample after it, if any."""
    passed = [o for o in schedule if published_at + o <= now]
    if not passed:
        return None
    latest = max(passed)
    if last_sample is not None and last_sample >= published_at + latest:
        return None
    return latest


@dataclass
class CollectSummary:
    """What a collection run did."""

    collected: int = 0
    errors: int = 0
    skipped_channels: set[str] = field(default_factory=set)
    failed_posts: list[int] = field(default_factory=list)  # ids whose read failed this run
    final: int = 0  # of `collected`: final snapshots before the service's horizon

    def line(self) -> str:
        text = f"collected figures for {self.collected} post(s), {self.errors} error(s)"
        if self.failed_posts:
            text += " (posts " + ", ".join(str(i) for i in self.failed_posts) + ")"
        if self.final:
            text += f"; {self.final} final snapshot(s) before the service drops the figures"
        if self.skipped_channels:
            text += "; no figures available from: " + ", ".join(sorted(self.skipped_channels))
        return text


def _scrubbed(adapter: Channel) -> Scrubber:
    return Scrubber(channel_secrets(adapter.settings, type(adapter).secret_urls))


def collect_due(
    settings: Settings,
    *,
    now: datetime | None = None,
    force: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> CollectSummary:
    """Read figures for every published post that is due by the schedule (or all, `force`)."""
    now = now or utcnow()
    schedule = [parse_offset(s) for s in settings.metrics_schedule]
    summary = CollectSummary()
    from comms.publishing.credentials import StoredTokens

    built, missing = build_adapters(StoredTokens(settings).channels())  # connected: stored token
    adapters = {name: adapter for name, adapter in built.items() if adapter.has_metrics}
    summary.skipped_channels.update(set(built) - set(adapters))
    summary.skipped_channels.update(missing)
    if not adapters:
        return summary
    horizon = now - max(schedule) - timedelta(days=1)
    last = (
        select(MetricSample.post_id, sa.func.max(MetricSample.collected_at).label("last"))
        .group_by(col(MetricSample.post_id))
        .subquery()
    )
    with session_scope(settings.database_url) as session:
        rows = session.exec(
            select(Post, sa.type_coerce(last.c.last, table_of(Post).c.published_at.type))
            .join(last, last.c.post_id == Post.id, isouter=True)
            .where(
                Post.state == PostState.PUBLISHED,
                Post.source == "plan",
                col(Post.channel).in_(sorted(adapters)),
                col(Post.published_at) >= horizon,
            )
        ).all()
    for done, (post, last_sample) in enumerate(rows, start=1):
        # the query reads published rows, which have both
        assert post.published_at is not None
        if progress:
            progress(f"reading figures ({post.channel})", done, len(rows))
        if not force and due_offset(post.published_at, last_sample, now, schedule) is None:
            continue
        _read(settings, adapters, post, now, summary, final=False)
    for post in _final_due(settings, adapters, now):
        _read(settings, adapters, post, now, summary, final=True)
    return summary


def _final_due(settings: Settings, adapters: dict[str, Any], now: datetime) -> list[Post]:
    """Posts in the last FINAL_WINDOW before their service stops keeping figures, not yet read
    for the last time."""
    finals = select(MetricSample.post_id).where(col(MetricSample.final).is_(True))
    due: list[Post] = []
    with session_scope(settings.database_url) as session:
        for channel, adapter in sorted(adapters.items()):
            kept = adapter.figures_kept
            if kept is None:
                continue
            due += session.exec(
                select(Post)
                .where(
                    Post.state == PostState.PUBLISHED,
                    Post.channel == channel,
                    col(Post.external_id).is_not(None),
                    col(Post.published_at) > now - kept,
                    col(Post.published_at) <= now - kept + FINAL_WINDOW,
                    col(Post.id).not_in(finals),
                )
                .order_by(col(Post.published_at), col(Post.id))
            ).all()
    return due


def _read(
    settings: Settings,
    adapters: dict[str, Any],
    post: Post,
    now: datetime,
    summary: CollectSummary,
    *,
    final: bool,
) -> None:
    """Read one post's figures and store them as a sample (errors are counted and logged)."""
    assert post.id is not None
    try:
        figures = checked_figures(
            adapters[post.channel].metrics(
                Receipt(external_id=post.external_id or "", url=post.external_url)
            ),
            what=post.channel,
        )
    except Exception as exc:
        # one post's answer of the wrong shape (or any other failure) fails that post's read
        # only: the run goes on for the others and the summary names it
        summary.errors += 1
        summary.failed_posts.append(post.id)
        log.warning(
            "metrics for post %d on %s: %s: %s", post.id, post.channel, type(exc).__name__, exc
        )
        return
    with session_scope(settings.database_url) as session:
        session.add(
            MetricSample(
                post_id=post.id,
                collected_at=now,
                reach=figures.reach,
                impressions=figures.impressions,
                engagements=figures.engagements,
                clicks=figures.clicks,
                # the service's own words, stored: a token it echoed must not be among them
                raw=_scrubbed(adapters[post.channel])(json.dumps(figures.raw, default=str)),
                final=final,
            )
        )
    summary.collected += 1
    summary.final += final

"""One feed entry -> the posts of one story, made as a person composes a one-off post.

The text of each channel is rendered from the feed's template through the campaigns' renderer
(the same variant look-up per channel name, type and audience, the same Danish filters),
its links to our own sites UTM-tagged (utm_campaign is the feed's name) and linted as the
planner lints. The posts are then written by `comms.queue.transitions.compose`, the path of the
workspace's "Nyt opslag": one post per channel, one shared story.

Without approval (`require_approval = false`) the posts are approved at once by the actor
`feed:NAME`, audited as any approval; a post that lint finds fault with stays a draft for a
person to mend, approval or not.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from comms.config import Settings
from comms.content.lint import add_utm, errors_of, tag_url
from comms.content.oneoff import lint_one_off
from comms.content.render import TemplateRenderer
from comms.feeds.fetch import safe_url
from comms.feeds.parse import Entry, Feed
from comms.feeds.settings import FeedSettings
from comms.queue import transitions as queue
from comms.store.models import Post

log = logging.getLogger("comms.feeds")


def actor_of(feed: FeedSettings) -> str:
    """Who wrote (and, without approval, approved) a feed's posts, in the audit log."""
    return f"feed:{feed.name}"


@dataclass(frozen=True)
class Rendered:
    """An entry's posts before they are written: each channel's text and link, and what lint
    found (`problems`: "channel: message")."""

    texts: dict[str, str]
    links: dict[str, str]
    title: str | None
    problems: tuple[str, ...]
    scheduled_at: datetime | None  # None: when approved
    local_time: str | None


def render_entry(
    settings: Settings,
    renderer: TemplateRenderer,
    feed: FeedSettings,
    parsed: Feed,
    entry: Entry,
    *,
    now: datetime,
) -> Rendered:
    """Each channel's text for `entry`; a template error raises RenderError."""
    zone = settings.zone
    texts: dict[str, str] = {}
    links: dict[str, str] = {}
    problems: list[str] = []
    for name in feed.channels:
        channel = settings.channel(name)
        utm: dict[str, Any] = {
            "domains": settings.utm.domains,
            "source": name,
            "medium": settings.utm.medium,
            "campaign": feed.name,
        }
        link = tag_url(entry.link, **utm) if entry.link else None
        text = renderer.render(
            feed.template,
            channel_name=name,
            channel_type=channel.type,
            audience=feed.audience or "",
            context=_context(feed, parsed, entry, name, channel.type, link, zone, now),
        )
        texts[name] = add_utm(text, **utm)
        if link:
            links[name] = link
        found = lint_one_off(
            settings, name, texts[name], title=entry.title or None, image=None, alt=None
        )
        # readability advice is the approver's to weigh; only errors keep a post a draft
        problems += [f"{name}: {problem.message}" for problem in errors_of(found)]
    scheduled_at = _when(feed, entry, now=now)
    return Rendered(
        texts=texts,
        links=links,
        title=entry.title[:500] or None,
        problems=tuple(problems),
        scheduled_at=scheduled_at,
        local_time=scheduled_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        if scheduled_at
        else None,
    )


def _context(
    feed: FeedSettings,
    parsed: Feed,
    entry: Entry,
    channel: str,
    kind: str,
    link: str | None,
    zone: ZoneInfo,
    now: datetime,
) -> dict[str, Any]:
    """What a feed template sees: the entry's fields (times in the configured zone, so the
    Danish date filters show local dates), the feed and the channel."""
    published = (entry.published or entry.updated or now).astimezone(zone)
    updated = (entry.updated or entry.published or now).astimezone(zone)
    return {
        "title": entry.title,
        "summary": entry.summary,
        "link": link,
        "image": entry.image,
        "published": published,
        "updated": updated,
        "feed": {"name": feed.name, "title": parsed.title, "url": safe_url(feed.url)},
        "channel": {"name": channel, "type": kind},
        "audience": feed.audience or "",
    }


def _when(feed: FeedSettings, entry: Entry, *, now: datetime) -> datetime | None:
    """`delay_minutes` after the entry was published, or now if that has passed; None (when
    approved) without a delay, or for a draft whose time would already have come: it would
    expire before anyone could approve it."""
    if feed.delay_minutes is None:
        return None
    published = entry.published or entry.updated or now
    when = max(published + timedelta(minutes=feed.delay_minutes), now)
    if feed.require_approval and when <= now:
        return None
    return when


def write_posts(
    session: Session, settings: Settings, feed: FeedSettings, entry: Entry, rendered: Rendered
) -> tuple[list[int], str]:
    """Compose the entry's posts in `session` (the caller's transaction); their ids and story.

    Drafts are submitted for approval at once, so approvers hear of them as of any submitted
    post; without approval and without lint findings they are queued.
    """
    actor = actor_of(feed)
    first = feed.channels[0]
    ids = queue.compose(
        session,
        actor=actor,
        channels=list(feed.channels),
        text=rendered.texts[first],
        variants=rendered.texts,
        title=rendered.title,
        links=rendered.links or None,
        scheduled_at=rendered.scheduled_at,
        local_time=rendered.local_time,
        submit=True,
        audience=feed.audience,
    )
    post = session.get(Post, ids[0])
    story = (post.story if post is not None else None) or ""
    if not feed.require_approval:
        if rendered.problems:
            log.warning(
                "feed %s: entry %r stays a draft, lint found: %s",
                feed.name,
                entry.title[:80],
                "; ".join(rendered.problems),
            )
        else:
            queue.approve(session, ids, actor=actor)
    return ids, story

"""Notices to the team: a post failed for good, a channel was paused, a post is left `unknown`,
a token expires soon. Each goes out once per event through the channel named in the config
(`[notifications] channel = "team"`, an email or webhook channel).

Once-ness comes from the database, not from memory: a notice is recorded in the `notice` table
under a unique (kind, key) after it was sent, and what is due is found by looking for events
without a notice. So a retrying post, a restarted daemon or a second daemon never repeats a
notice, and a notice that could not be sent is tried again at the next pass.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from comms.channels.base import Channel, OutgoingPost
from comms.config import Settings
from comms.errors import CommsError
from comms.store.db import session_scope
from comms.store.models import ChannelState, Notice, Post, PostState, utcnow

log = logging.getLogger("comms.publishing.notify")
LOOKBACK = timedelta(days=7)  # events older than this when notices were configured are history


@dataclass(frozen=True)
class PendingNotice:
    """A notice that is due: what happened, to what, in words for the team."""

    kind: str
    key: str
    subject: str
    text: str


def pending_notices(session: Session, *, now: datetime, zone: ZoneInfo) -> list[PendingNotice]:
    """Notices for recent failed and unknown posts and for paused channels (sent or not)."""
    since = now - LOOKBACK
    notices: list[PendingNotice] = []
    posts = session.exec(
        select(Post).where(
            col(Post.state).in_([PostState.FAILED, PostState.UNKNOWN]),
            Post.updated_at >= since,
            Post.source == "plan",
        )
    ).all()
    for post in posts:
        kind = f"post-{post.state}"
        what = (
            "failed for good"
            if post.state == PostState.FAILED
            else "may or may not have been published (run `comms reconcile`)"
        )
        notices.append(
            PendingNotice(
                kind,
                str(post.id),
                f"comms: post {post.id} on {post.channel} {what.split(' (')[0]}",
                f"Post {post.id} ({post.campaign or 'no campaign'}, {post.channel}, due "
                f"{post.scheduled_at.astimezone(zone):%Y-%m-%d %H:%M} {zone.key}) {what}."
                f"\n\nReason: {post.last_error}\n\n"
                f"See `comms queue show {post.id}`.",
            )
        )
    for state in session.exec(select(ChannelState).where(ChannelState.paused)).all():
        key = f"{state.name}:{state.paused_at:%Y%m%dT%H%M%S}" if state.paused_at else state.name
        notices.append(
            PendingNotice(
                "channel-paused",
                key,
                f"comms: channel {state.name} is paused",
                f"Channel {state.name} was paused: {state.paused_reason}\n\nRenew its credentials, "
                f"check with `comms channels check {state.name}`, then `comms channels resume "
                f"{state.name}`. Its posts wait in the queue meanwhile.",
            )
        )
    return notices


def _not_sent(session: Session, candidates: list[PendingNotice]) -> list[PendingNotice]:
    """The candidates without a notice row; only their own keys are read, never the whole log."""
    keys = sorted({n.key for n in candidates})
    sent: set[tuple[str, str]] = set()
    for start in range(0, len(keys), 500):  # stay under SQLite's bound-parameter limit
        rows = session.exec(
            select(Notice.kind, Notice.key).where(col(Notice.key).in_(keys[start : start + 500]))
        ).all()
        sent.update((kind, key) for kind, key in rows)
    return [n for n in candidates if (n.kind, n.key) not in sent]


def token_notice(channel: str, expires_at: datetime, *, now: datetime) -> PendingNotice:
    """The notice for a token that expires soon (one per channel and expiry date)."""
    days = max(0, (expires_at - now).days)
    return PendingNotice(
        "token-expiring",
        f"{channel}:{expires_at:%Y-%m-%d}",
        f"comms: the token of channel {channel} expires in {days} days",
        f"The access token of channel {channel} expires on {expires_at:%Y-%m-%d %H:%M} UTC "
        f"({days} days). Renew it before then, or its posts will stop.",
    )


class Notifier:
    """Sends due notices through the configured notification channel, once each."""

    def __init__(self, settings: Settings, adapter: Channel | None) -> None:
        self.settings = settings
        self.adapter = adapter

    @property
    def enabled(self) -> bool:
        return self.adapter is not None

    def send_pending(
        self, *, now: datetime | None = None, extra: list[PendingNotice] | None = None
    ) -> int:
        """Send every due notice; return how many went out."""
        if self.adapter is None:
            return 0
        now = now or utcnow()
        with session_scope(self.settings.database_url) as session:
            candidates = pending_notices(session, now=now, zone=self.settings.zone)
            candidates += extra or []
            due = _not_sent(session, candidates)
        sent = 0
        for notice in due:
            if self._send(notice, now):
                sent += 1
        return sent

    def _send(self, notice: PendingNotice, now: datetime) -> bool:
        """Claim the notice (unique row), send it, and give the claim back if sending failed.

        Claiming first means two daemons never both send it; a crash between claim and send
        loses that one notice (logged nowhere), which we prefer to sending it twice.
        """
        assert self.adapter is not None
        if not self._claim(notice, now):
            return False
        key = str(uuid.uuid5(uuid.NAMESPACE_URL, f"comms-notice:{notice.kind}:{notice.key}"))
        try:
            self.adapter.publish(
                OutgoingPost(
                    post_id=0,
                    idempotency_key=key,
                    channel=self.adapter.settings.name,
                    text=notice.text,
                    title=notice.subject,
                )
            )
        except CommsError as exc:
            log.error(
                "notice %s %s could not be sent (will try again): %s", notice.kind, notice.key, exc
            )
            with session_scope(self.settings.database_url) as session:
                session.execute(
                    sa.delete(Notice).where(
                        col(Notice.kind) == notice.kind, col(Notice.key) == notice.key
                    )
                )
            return False
        log.info("notice sent: %s", notice.subject)
        return True

    def _claim(self, notice: PendingNotice, now: datetime) -> bool:
        try:
            with session_scope(self.settings.database_url) as session:
                session.execute(
                    sa.insert(Notice).values(
                        kind=notice.kind, key=notice.key, sent_at=now, subject=notice.subject
                    )
                )
        except sa.exc.IntegrityError:
            return False  # another daemon has it
        return True

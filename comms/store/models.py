"""The SQLModel tables, and nothing else: posts and their history, the channels' runtime state,
and the workspace's accounts (User, WebSession, CalendarFeed, LoginAttempt).

Every datetime column is `UTCDateTime`: SQLite hands back naive datetimes even for
`DateTime(timezone=True)`, so the type stores UTC and re-attaches UTC on the way out. Comparing
an aware "now" with a naive value is then impossible by construction.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """An aware datetime stored as UTC; naive input is refused, output is always aware UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a timezone first")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(UTC)


def table_of(model: type[SQLModel]) -> sa.Table:
    """The Core table behind a table model, for statements built once on its columns."""
    # SQLModel's metaclass sets __table__ on every table model, but its types do not declare it
    return model.__table__  # type: ignore[attr-defined]  # SQLModel does not declare it


def new_key() -> str:
    return str(uuid.uuid4())


# byte 6 of a version 4 UUID is 0100xxxx, byte 8 (the RFC 4122 variant) 10xxxxxx
_UUID_VERSION_4 = bytes((byte & 0x0F) | 0x40 for byte in range(256))
_UUID_VARIANT = bytes((byte & 0x3F) | 0x80 for byte in range(256))


def new_keys(count: int) -> list[str]:
    """`count` random (version 4) UUID strings, as new_key makes them, from one read.

    The version and variant bits are set for all keys at once (bytes.translate over every 16th
    byte) and the hex is made once, instead of an int and a format per key.
    """
    data = bytearray(os.urandom(16 * count))
    data[6::16] = data[6::16].translate(_UUID_VERSION_4)
    data[8::16] = data[8::16].translate(_UUID_VARIANT)
    hexed = data.hex()
    keys = []
    for start in range(0, 32 * count, 32):
        k = hexed[start : start + 32]
        keys.append(f"{k[:8]}-{k[8:12]}-{k[12:16]}-{k[16:20]}-{k[20:]}")
    return keys


class PostState(StrEnum):
    """The post state machine's states (see comms/queue/transitions.py for the transitions)."""

    DRAFT = "draft"  # planned, waits for approval
    QUEUED = "queued"  # approved; publishes when due (and when next_attempt_at passed)
    PUBLISHING = "publishing"  # claimed by a daemon under a lease
    PUBLISHED = "published"
    FAILED = "failed"  # permanent error, auth error, or retries exhausted
    UNKNOWN = "unknown"  # the channel may or may not have it: reconcile, never resend blindly
    MISSED = "missed"  # due while no daemon ran, and outside the grace window
    CANCELLED = "cancelled"
    REJECTED = "rejected"  # an approver sent it back to its author with a comment
    EXPIRED = "expired"  # still unapproved at its time: needs a new time and a new approval
    HELD = "held"  # due while a crisis pause covered its channel: a person decides what next


ALL_STATES = tuple(PostState)
EDITABLE_STATES = (PostState.DRAFT, PostState.QUEUED)  # plan may rewrite these; others are history
FINAL_STATES = (PostState.PUBLISHED, PostState.FAILED, PostState.MISSED, PostState.CANCELLED)


class Post(SQLModel, table=True):
    """One message on one channel: planned from a campaign step, or imported."""

    __tablename__ = "post"
    __table_args__ = (
        sa.Index("ix_post_due", "state", "scheduled_at"),
        sa.Index("ix_post_campaign_year", "campaign", "year"),
        sa.Index("ix_post_channel_published", "channel", "published_at"),
        sa.Index("ix_post_story", "story"),
        sa.Index("ix_post_author_state", "author", "state"),
        sa.Index("ix_post_scheduled_at_id", "scheduled_at", "id"),  # the queue page's order
        sa.Index("ix_post_link_from_post_id", "link_from_post_id"),  # the posts a page releases
        sa.Index("ix_post_channel_external_id", "channel", "external_id"),  # import's matching
        sa.Index("ix_post_state_published", "state", "published_at"),  # the calendar's months
        sa.Index(  # the daemon's next wake-up: only posts waiting to be tried again
            "ix_post_retry",
            "state",
            "next_attempt_at",
            sqlite_where=sa.text("next_attempt_at IS NOT NULL"),
            postgresql_where=sa.text("next_attempt_at IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    plan_key: str | None = Field(default=None, unique=True, max_length=400)
    source: str = Field(default="plan", max_length=20)  # plan | import
    campaign: str | None = Field(default=None, max_length=100)
    focus_area: str | None = Field(default=None, max_length=200)
    year: int | None = None
    occurrence: date | None = None
    step: str | None = Field(default=None, max_length=100)
    audience: str | None = Field(default=None, max_length=100)
    channel: str = Field(max_length=100)
    title: str | None = Field(default=None, max_length=500)
    text: str = Field(default="", sa_type=sa.Text)
    link: str | None = Field(default=None, max_length=2000)
    image_path: str | None = Field(default=None, max_length=1000)
    image_alt: str | None = Field(default=None, max_length=2000)
    content_hash: str | None = Field(default=None, max_length=64)
    scheduled_at: datetime = Field(sa_type=UTCDateTime)
    local_time: str | None = Field(default=None, max_length=40)  # the author's wall time
    dst_adjusted: bool = False
    state: str = Field(default=PostState.DRAFT, max_length=20)
    approved_by: str | None = Field(default=None, max_length=100)
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    idempotency_key: str = Field(default_factory=new_key, max_length=64)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempt_id: str | None = Field(default=None, max_length=64)
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sending_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    external_id: str | None = Field(default=None, max_length=500)
    external_url: str | None = Field(default=None, max_length=2000)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    author: str | None = Field(default=None, max_length=100)  # who wrote it (None: planned)
    last_editor: str | None = Field(default=None, max_length=100)
    story: str | None = Field(default=None, max_length=64)  # shared by one story's posts
    review_comment: str | None = Field(default=None, sa_type=sa.Text)  # why it was rejected
    # "when approved": goes out as soon as it is approved (its scheduled_at is set then), and
    # never expires while it waits
    on_approval: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # when its author asked for approval (None: still being written, or planned/imported)
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # the post whose published page this one links to (a step's `link_from`): it is not due
    # before that page is out, and its link is that page's address
    link_from_post_id: int | None = Field(default=None, foreign_key="post.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PostVersion(SQLModel, table=True):
    """One version of a post's content, kept when a person edits it (the post holds the newest)."""

    __tablename__ = "post_version"
    __table_args__ = (sa.UniqueConstraint("post_id", "number", name="uq_post_version_number"),)

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="post.id", index=True)
    number: int
    title: str | None = Field(default=None, max_length=500)
    text: str = Field(default="", sa_type=sa.Text)
    link: str | None = Field(default=None, max_length=2000)
    image_alt: str | None = Field(default=None, max_length=2000)
    editor: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Attempt(SQLModel, table=True):
    """One try to publish a post: when, by whom, and how it ended."""

    __tablename__ = "attempt"

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="post.id", index=True)
    attempt_id: str = Field(max_length=64)
    worker: str | None = Field(default=None, max_length=200)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome: str | None = Field(default=None, max_length=30)
    http_status: int | None = None
    error: str | None = Field(default=None, sa_type=sa.Text)


class MetricSample(SQLModel, table=True):
    """A post's figures as read at one moment (or as imported); the newest one counts."""

    __tablename__ = "metric_sample"

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="post.id", index=True)
    collected_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    reach: int | None = None
    impressions: int | None = None
    engagements: int | None = None
    clicks: int | None = None
    raw: str | None = Field(default=None, sa_type=sa.Text)
    # the last read before the service stops keeping the post's figures (Meta: two years)
    final: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


class AuditEvent(SQLModel, table=True):
    """Append-only: who did what to which post, when. Never updated, never deleted."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str = Field(max_length=200)
    action: str = Field(max_length=50)
    post_id: int | None = Field(default=None, index=True)
    campaign: str | None = Field(default=None, max_length=100)
    detail: str | None = Field(default=None, sa_type=sa.Text)


class CrisisPause(SQLModel, table=True):
    """A stop of every scheduled post on a scope, set by a person when something serious
    happens; it lasts until a person resumes it (resumed_at set). Rows are kept for the record.

    `channels` is the scope resolved when the pause was made, one channel name a line (an
    organisation's channels at that moment, or the ones named); None covers every channel.
    Resolving it once means the daemons need no config to know what a pause covers.
    """

    __tablename__ = "crisis_pause"

    id: int | None = Field(default=None, primary_key=True)
    organisation: str | None = Field(default=None, max_length=100)  # the scope as it was asked
    channels: str | None = Field(default=None, sa_type=sa.Text)
    reason: str = Field(sa_type=sa.Text)
    paused_by: str = Field(max_length=200)
    paused_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    resumed_by: str | None = Field(default=None, max_length=200)
    resumed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def channel_names(self) -> frozenset[str] | None:
        """The channels it covers, or None for all of them."""
        if self.channels is None:
            return None
        return frozenset(name for name in self.channels.split("\n") if name)

    def covers(self, channel: str) -> bool:
        names = self.channel_names
        return names is None or channel in names


class ChannelState(SQLModel, table=True):
    """Per-channel runtime state: paused after an auth error until a person resumes it."""

    __tablename__ = "channel_state"

    name: str = Field(primary_key=True, max_length=100)
    paused: bool = False
    paused_reason: str | None = Field(default=None, sa_type=sa.Text)
    paused_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ChannelToken(SQLModel, table=True):
    """A channel's stored credentials: everything secret sealed in `sealed` (comms/store/sealed.py),
    beside only the facts a person or the refresher may read without the key.

    `version` grows by one with every write, so a refresh that lost a race is seen (a
    compare-and-set) and a rotated refresh token is never overwritten by a stale one."""

    __tablename__ = "channel_token"

    channel: str = Field(primary_key=True, max_length=100)
    kind: str = Field(max_length=30)  # oauth2, oauth1, session, static
    sealed: str = Field(sa_type=sa.Text)
    key_id: str = Field(max_length=20)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    refreshed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    connected_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    connected_by: str = Field(max_length=200)
    version: int = 1
    last_error: str | None = Field(default=None, sa_type=sa.Text)  # scrubbed, for the page


class Notice(SQLModel, table=True):
    """A notice sent (failed post, paused channel, unknown post, expiring token, posts awaiting
    approval, a rejected or expired post).

    The unique (kind, key) pair is what makes a notice go out once per event, not once per retry
    or per daemon. A batched notice also records `through`, the newest event it covers.
    """

    __tablename__ = "notice"
    __table_args__ = (sa.UniqueConstraint("kind", "key", name="uq_notice_kind_key"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=30)
    key: str = Field(max_length=200)
    sent_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    subject: str = Field(max_length=500)
    through: datetime | None = Field(default=None, sa_type=UTCDateTime)


class User(SQLModel, table=True):
    """A workspace account: a role, optionally bound to one organisation (None: all of them)."""

    __tablename__ = "app_user"  # "user" is reserved in PostgreSQL

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=100, unique=True)
    # None: single sign-on only. Left out of repr(), so a logged or printed User shows no hash
    password_hash: str | None = Field(default=None, max_length=300, repr=False)
    role: str = Field(max_length=20)
    organisation: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=320)
    display_name: str | None = Field(default=None, max_length=200)
    disabled: bool = False
    oidc_subject: str | None = Field(default=None, max_length=300, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WebSession(SQLModel, table=True):
    """A signed-in browser: only the sha256 of its cookie is stored, so a leaked table signs in
    no one. Ended sessions keep their row (ended_at set) for the audit trail."""

    __tablename__ = "web_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, repr=False)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    csrf_token: str = Field(max_length=100, repr=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)  # absolute end, whatever the activity
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CalendarFeed(SQLModel, table=True):
    """A person's secret calendar address (/calendar/feed/TOKEN.ics): only its sha256 is kept.

    Revoking or renewing sets revoked_at; the row stays for the record."""

    __tablename__ = "calendar_feed"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    token_hash: str = Field(max_length=64, unique=True, repr=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginAttempt(SQLModel, table=True):
    """One sign-in try, kept for throttling per account and per address."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        sa.Index("ix_login_attempt_username_at", "username", "at"),
        sa.Index("ix_login_attempt_address_at", "address", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=100)
    address: str = Field(max_length=100)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    succeeded: bool = False


class FeedState(SQLModel, table=True):
    """One configured news feed's polling state: what the last answer said, and since when it
    fails. The validators (etag, last_modified) make the next poll a conditional GET."""

    __tablename__ = "feed_state"

    name: str = Field(primary_key=True, max_length=100)
    etag: str | None = Field(default=None, max_length=500)
    last_modified: str | None = Field(default=None, max_length=100)
    first_polled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_polled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_ok_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failing_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=500)  # scrubbed and short
    entries_seen: int = 0


class FeedEntry(SQLModel, table=True):
    """An entry of a feed that has been dealt with: made into posts (`story`), or seen on the
    first poll and left alone (`story` None). The unique (feed, key) pair is what makes an
    entry become posts once, however many daemons poll: the row and the posts are written in
    one transaction, and the loser's insert fails."""

    __tablename__ = "feed_entry"
    __table_args__ = (sa.UniqueConstraint("feed", "entry_key", name="uq_feed_entry_key"),)

    id: int | None = Field(default=None, primary_key=True)
    feed: str = Field(max_length=100)
    entry_key: str = Field(max_length=500)
    title: str | None = Field(default=None, max_length=500)
    story: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PendingAuthorisation(SQLModel, table=True):
    """A sign-in or channel connection sent to a service and not yet back (comms/store/pending.py).

    Kept in the database rather than one process's memory, so the callback may land on any
    workspace process or server, or on one restarted in between. `id` is a hash of the key the
    browser brings back (never the key); `payload` is sealed."""

    __tablename__ = "pending_authorisation"
    __table_args__ = (
        sa.Index("ix_pending_authorisation_kind_created", "kind", "created_at"),
        sa.Index("ix_pending_authorisation_expires_at", "expires_at"),
    )

    id: str = Field(primary_key=True, max_length=64)  # SHA-256 hex of the state / cookie id
    kind: str = Field(max_length=20)  # oidc, channel
    channel: str | None = Field(default=None, max_length=100)
    username: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    payload: str = Field(sa_type=sa.Text)

"""Notices to the team: a post failed for good, a channel was paused, a post is left `unknown`,
a token expires soon, a crisis pause stopped publishing or was lifted (this one in Danish). Each
goes out once per event through the channel named in the config (`[notifications] channel =
"team"`, an email or webhook channel).

Notices to people, in Danish: posts submitted for approval, batched into one notice per
organisation and approver (see `approval_notices`); a rejection, with its comment, to the
post's author; a post that expired unapproved, to its author. On an email channel each goes to
the person's own address (`User.email`); without one, or on a webhook, to the channel's own
recipients.

Once-ness comes from the database, not from memory: a notice is recorded in the `notice` table
under a unique (kind, key) after it was sent, and what is due is found by looking for events
without a notice. So a retrying post, a restarted daemon or a second daemon never repeats a
notice, and a notice that could not be sent is tried again at the next pass.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from comms.channels.base import Channel, OutgoingPost
from comms.config import Settings
from comms.content.danish import format_date, format_datetime
from comms.content.link_from import describe
from comms.errors import CommsError
from comms.store.db import session_scope
from comms.store.models import (
    AuditEvent,
    ChannelState,
    CrisisPause,
    Notice,
    Post,
    PostState,
    User,
    utcnow,
)

log = logging.getLogger("comms.publishing.notify")
LOOKBACK = timedelta(days=7)  # events older than this when notices were configured are history


@dataclass(frozen=True)
class PendingNotice:
    """A notice that is due: what happened, to what, in words for the team."""

    kind: str
    key: str
    subject: str
    text: str
    recipients: tuple[str, ...] = ()  # addresses on an email channel; (): the channel's own
    through: datetime | None = None  # a batch: the newest event it covers
    also: tuple[str, ...] = ()  # a batch of single events: their keys, claimed with `key`


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
        notices.append(paused_notice(state, key, zone=zone))
    return notices + crisis_notices(session, since=since, zone=zone)


CRISIS_PAUSE = "crisis-pause"
CRISIS_RESUME = "crisis-resume"


def _crisis_scope(pause: CrisisPause) -> str:
    if pause.organisation:
        return f"organisationen {pause.organisation}s kanaler"
    names = pause.channel_names
    return "alle kanaler" if names is None else "kanalerne " + ", ".join(sorted(names))


def crisis_notices(session: Session, *, since: datetime, zone: ZoneInfo) -> list[PendingNotice]:
    """A notice, in Danish, when a crisis pause stops publishing and when it is lifted."""
    held = session.exec(
        select(sa.func.count()).select_from(Post).where(Post.state == PostState.HELD)
    ).one()
    notices: list[PendingNotice] = []
    for pause in session.exec(select(CrisisPause).where(CrisisPause.paused_at >= since)).all():
        scope = _crisis_scope(pause)
        notices.append(
            PendingNotice(
                CRISIS_PAUSE,
                str(pause.id),
                f"comms: KRISESTOP – alle udgivelser på {scope} er stoppet",
                f"{pause.paused_by} stoppede alle planlagte opslag på {scope} "
                f"{format_datetime(pause.paused_at, zone)}.\n\nÅrsag: {pause.reason}\n\n"
                "Intet udgives der, før en person ophæver stoppet (`comms resume` eller "
                "arbejdsrummet). Opslag, der falder i mellemtiden, tilbageholdes og udgives "
                "ikke af sig selv.",
            )
        )
    resumed = session.exec(select(CrisisPause).where(col(CrisisPause.resumed_at) >= since)).all()
    for pause in resumed:
        assert pause.resumed_at is not None  # the WHERE compared it with `since`
        scope = _crisis_scope(pause)
        notices.append(
            PendingNotice(
                CRISIS_RESUME,
                str(pause.id),
                f"comms: krisestoppet på {scope} er ophævet",
                f"{pause.resumed_by} ophævede krisestoppet på {scope} "
                f"{format_datetime(pause.resumed_at, zone)} (stoppet siden "
                f"{format_datetime(pause.paused_at, zone)}: {pause.reason}).\n\n"
                f"{held} opslag er tilbageholdt og venter på, at en person udgiver dem for "
                "sent, flytter dem eller annullerer dem (`comms queue list --state held`). "
                "Opslag med et senere tidspunkt udgives som planlagt.",
            )
        )
    return notices


def send_now(settings: Settings) -> int:
    """Send the notices that are due now, from a command rather than the daemon's pass: a
    pause's notice should not wait for the daemon's next look (or for a daemon at all)."""
    from comms.channels.registry import build_adapters

    name = settings.notify_channel
    if not name or name not in settings.channels:
        return 0
    from comms.publishing.credentials import StoredTokens

    adapters, _missing = build_adapters([StoredTokens(settings).channel(name)])
    try:
        return Notifier(settings, adapters.get(name)).send_pending()
    except CommsError as exc:
        log.error("notices could not be sent now (the daemon tries again): %s", exc)
        return 0


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


def paused_notice(state: ChannelState, key: str, *, zone: ZoneInfo) -> PendingNotice:
    """The notice for a paused channel, in Danish: why, and the commands that bring it back
    (connecting it again resumes it by itself)."""
    name = state.name
    when = f" {format_datetime(state.paused_at, zone)}" if state.paused_at else ""
    return PendingNotice(
        "channel-paused",
        key,
        f"comms: kanalen {name} er sat på pause",
        f"Kanalen {name} blev sat på pause{when}: {state.paused_reason}\n\n"
        f"Forbind den igen med `comms channels connect {name}` (så kører den igen af sig "
        "selv), eller forny tokenet i dens miljøvariabel, tjek den med "
        f"`comms channels check {name}` og genoptag den med `comms channels resume {name}`. "
        "Dens opslag venter i køen så længe.",
    )


def token_notice(
    channel: str, expires_at: datetime, *, now: datetime, zone: ZoneInfo | None = None
) -> PendingNotice:
    """The notice for a token that expires soon (one per channel and expiry date)."""
    days = max(0, (expires_at - now).days)
    when = format_datetime(expires_at, zone or ZoneInfo("Europe/Copenhagen"))
    return PendingNotice(
        "token-expiring",
        f"{channel}:{expires_at:%Y-%m-%d}",
        f"comms: tokenet for kanalen {channel} udløber om {days} dage",
        f"Adgangstokenet for kanalen {channel} udløber {when} (om {days} dage). Forny det "
        "inden da, ellers holder kanalens opslag op med at blive udgivet.",
    )


def reconnect_notice(
    channel: str, expires_at: datetime, *, what: str, now: datetime, zone: ZoneInfo
) -> PendingNotice:
    """The notice, some days ahead, for a connected channel whose token (or refresh token)
    runs out and cannot be renewed by comms: only a person connecting it again can. Keyed by
    channel and expiry day, as `token_notice` is (the overview lists both), so it goes out once
    per connection however many daemons look."""
    days = max(0, (expires_at - now).days)
    day = format_date(expires_at.astimezone(zone))
    return PendingNotice(
        "token-expiring",
        f"{channel}:{expires_at.astimezone(zone):%Y-%m-%d}",
        f"comms: kanalen {channel} skal forbindes igen inden {day}",
        f"{what[:1].upper()}{what[1:]} for kanalen {channel} udløber "
        f"{format_datetime(expires_at, zone)} "
        f"(om {days} dage), og comms kan ikke forny det selv. Forbind kanalen igen inden da:\n\n"
        f"    comms channels connect {channel}\n\n"
        "Ellers sættes kanalen på pause, når det udløber, og dens opslag venter i køen.",
    )


FEED_FAILING = "feed-failing"


def feed_notice(
    name: str, address: str, *, since: datetime, error: str | None, zone: ZoneInfo
) -> PendingNotice:
    """The notice for a news feed that has failed for a day: once per spell of failing (the
    key holds when it began), however often it is polled meanwhile."""
    return PendingNotice(
        FEED_FAILING,
        f"{name}:{since:%Y%m%dT%H%M%S}",
        f"comms: nyhedsfeedet {name} har fejlet i over et døgn",
        f"Nyhedsfeedet {name} ({address}) har ikke kunnet læses siden "
        f"{format_datetime(since, zone)}.\n\nSeneste fejl: {error or 'ukendt'}\n\n"
        "comms prøver igen ved hver hentning; nye nyheder bliver til opslag, når feedet virker "
        "igen. Se `comms feeds list`.",
    )


# --- notices to people: approval wanted, rejected, expired ---------------------------------

APPROVAL = "approval-requested"
REJECTED = "post-rejected"
EXPIRED = "post-expired"
# A submission this young waits for the next pass: a request that took its time before this
# pass read the posts but commits after it must not fall behind the batch's `through` (and it
# gathers what one editor submits in a minute into one notice).
SETTLE = timedelta(minutes=1)
TEAM = "team"  # the scope of notices to the channel's own recipients


@dataclass(frozen=True)
class Recipient:
    """Who a notice is for: a person with an address, or the channel's own recipients."""

    scope: str  # part of the notice key: a hash of the address, or TEAM
    address: str | None = None
    name: str | None = None
    username: str | None = None


def review_notices(
    session: Session, *, now: datetime, settings: Settings, addressable: bool
) -> list[PendingNotice]:
    """Notices for people: posts awaiting approval, rejected posts and expired posts."""
    users = {u.username: u for u in session.exec(select(User).where(sa.not_(col(User.disabled))))}
    review = Review(now, settings, users, addressable)
    return (
        approval_notices(session, review)
        + rejection_notices(session, review)
        + expiry_notices(session, review)
    )


@dataclass(frozen=True)
class Review:
    """What each kind of review notice is built from in one pass."""

    now: datetime
    settings: Settings
    users: dict[str, User]  # the accounts that are not disabled, by username
    addressable: bool  # the notification channel can write to a person's own address


def approval_notices(session: Session, review: Review) -> list[PendingNotice]:
    """One notice per organisation and approver for the drafts submitted since their last one.

    Each notice records the newest submission it covers (`through`) and is keyed by where the
    previous one ended, so two daemons building the same batch claim the same key and only one
    sends it; a notice that failed is given back and its posts go into the next pass's batch.
    """
    waiting = session.exec(
        select(Post)
        .where(
            Post.state == PostState.DRAFT,
            col(Post.submitted_at).is_not(None),
            col(Post.submitted_at) <= review.now - SETTLE,
            col(Post.submitted_at) >= review.now - LOOKBACK,
        )
        .order_by(col(Post.submitted_at), col(Post.id))
    ).all()
    by_organisation: dict[str | None, list[Post]] = defaultdict(list)
    for post in waiting:
        by_organisation[_organisation(review.settings, post.channel)].append(post)
    approvers = [u for u in review.users.values() if u.role == "approver"]
    notices = []
    for organisation, posts in sorted(by_organisation.items(), key=lambda i: i[0] or ""):
        for recipient in _approvers(organisation, approvers, review.addressable):
            notice = _approval_notice(
                session,
                review.settings,
                organisation,
                recipient,
                posts,
                four_eyes=review.settings.web.four_eyes,
            )
            if notice is not None:
                notices.append(notice)
    return notices


def _organisation(settings: Settings, channel: str) -> str | None:
    configured = settings.channels.get(channel)
    return configured.organisation if configured is not None else None


def _approvers(
    organisation: str | None, approvers: list[User], addressable: bool
) -> list[Recipient]:
    """The organisation's approvers with an address (those bound to none approve all), or the
    channel's own recipients when there are none or the channel cannot address a person."""
    people = [
        _person(u)
        for u in sorted(approvers, key=lambda u: u.username)
        if u.email and (organisation is None or u.organisation in (None, organisation))
    ]
    return people if addressable and people else [Recipient(TEAM)]


def _person(user: User) -> Recipient:
    address = (user.email or "").strip()
    digest = hashlib.sha256(address.lower().encode()).hexdigest()[:16]
    return Recipient(digest, address, user.display_name or user.username, user.username)


def _approval_notice(
    session: Session,
    settings: Settings,
    organisation: str | None,
    recipient: Recipient,
    posts: list[Post],
    *,
    four_eyes: bool,
) -> PendingNotice | None:
    """The notice for one approver: the posts submitted after their last notice ended."""
    scope = f"{organisation or '-'}|{recipient.scope}|"
    since = session.exec(
        select(sa.func.max(Notice.through)).where(
            Notice.kind == APPROVAL, col(Notice.key).startswith(scope, autoescape=True)
        )
    ).one()
    batch = [p for p in posts if since is None or (p.submitted_at and p.submitted_at > since)]
    if four_eyes and recipient.username:  # nobody is asked to approve what they wrote
        batch = [p for p in batch if recipient.username not in (p.author, p.last_editor)]
    if not batch:
        return None
    through = max(p.submitted_at for p in batch if p.submitted_at is not None)
    where = f"for {organisation}" if organisation else "uden organisation"
    lines = [f"Hej {recipient.name}," if recipient.name else "Hej godkendere,", ""]
    lines.append(f"{len(batch)} opslag {where} venter på godkendelse:")
    for post in batch:
        lines += ["", *_post_lines(settings, post)]
    overview = _link(settings, "/")
    lines += [
        "",
        f"Godkend eller afvis dem i arbejdsområdet: {overview}"
        if overview
        else "Godkend dem med `comms approve ID ...`, eller afvis dem i arbejdsområdet.",
    ]
    return PendingNotice(
        APPROVAL,
        scope + (since.strftime("%Y%m%dT%H%M%S.%fZ") if since else "start"),
        f"comms: {len(batch)} opslag {where} venter på godkendelse",
        "\n".join(lines),
        recipients=(recipient.address,) if recipient.address else (),
        through=through,
    )


def _post_lines(settings: Settings, post: Post) -> list[str]:
    """One post in a list: what, where, when, by whom, and where to see it."""
    zone = settings.zone
    when = (
        "udgives, når det er godkendt"
        if post.on_approval
        else f"skal udgives {format_datetime(post.scheduled_at, zone)}"
    )
    lines = [f"- Opslag {post.id} på {post.channel}: {_headline(post)}", f"  {when}"]
    if post.submitted_at is not None:
        who = f" af {post.author}" if post.author else ""
        lines.append(f"  sendt til godkendelse{who} {format_datetime(post.submitted_at, zone)}")
    lines.append(f"  {_post_link(settings, post)}")
    return lines


def _headline(post: Post) -> str:
    """The post's title, else its first line, cut to a readable length."""
    first = (post.title or "").strip() or next(
        (line.strip() for line in describe(post.text).splitlines() if line.strip()), ""
    )
    return first if len(first) <= 80 else first[:79].rstrip() + "…"


def _link(settings: Settings, path: str) -> str | None:
    base = settings.web.base_url
    return f"{base}{path}" if base else None


def _post_link(settings: Settings, post: Post) -> str:
    return _link(settings, f"/posts/{post.id}") or f"Se det med `comms queue show {post.id}`."


@dataclass(frozen=True)
class _Event:
    """One post's event for one person (a rejection, an expiry), before it is batched."""

    key: str
    post: Post
    recipient: Recipient
    lines: tuple[str, ...]


def rejection_notices(session: Session, review: Review) -> list[PendingNotice]:
    """A notice to the author of recently rejected posts, with each approver's comment.

    Each rejection is keyed by its audit event, so a post rejected again after a new version
    is noticed again, and one rejection only once; an author's rejections of one pass (a story
    on three channels) share one notice.
    """
    rows = session.exec(
        select(Post, AuditEvent)
        .join(AuditEvent, col(AuditEvent.post_id) == col(Post.id))
        .where(
            Post.state == PostState.REJECTED,
            Post.updated_at >= review.now - LOOKBACK,
            AuditEvent.action == "reject",
        )
        .order_by(col(Post.id), col(AuditEvent.id))
    ).all()
    latest = {post.id: (post, event) for post, event in rows}  # the newest rejection wins
    events = []
    for post, event in latest.values():
        comment = (event.detail or post.review_comment or "").strip()
        lines = (
            f"{_name(review.users, event.actor)} har afvist opslag {post.id} på {post.channel}: "
            f"{_headline(post)}",
            "",
            "Kommentar:",
            *(f"  {line}" for line in comment.splitlines()),
            "",
            "Ret opslaget og send det til godkendelse igen.",
            _post_link(review.settings, post),
        )
        events.append(
            _Event(
                f"{post.id}:{event.id}",
                post,
                _author(post, review.users, review.addressable),
                lines,
            )
        )
    return _batched(session, REJECTED, events, happened="er afvist")


def expiry_notices(session: Session, review: Review) -> list[PendingNotice]:
    """A notice to the author of posts that expired unapproved (planned ones: the channel's
    own recipients); what expired in one pass for one person is one notice."""
    posts = session.exec(
        select(Post)
        .where(Post.state == PostState.EXPIRED, Post.updated_at >= review.now - LOOKBACK)
        .order_by(col(Post.id))
    ).all()
    events = []
    for post in posts:
        lines = (
            f"Opslag {post.id} på {post.channel} ({_headline(post)}) skulle udgives "
            f"{format_datetime(post.scheduled_at, review.settings.zone)}, "
            "men var ikke godkendt inden da. "
            "Det er ikke udgivet.",
            "",
            "Giv det et nyt tidspunkt, og få det godkendt igen, hvis det stadig skal ud.",
            _post_link(review.settings, post),
        )
        key = f"{post.id}:{post.scheduled_at:%Y%m%dT%H%M%S}"
        events.append(_Event(key, post, _author(post, review.users, review.addressable), lines))
    return _batched(session, EXPIRED, events, happened="er udløbet uden godkendelse")


def _batched(
    session: Session,
    kind: str,
    events: list[_Event],
    *,
    happened: str,
) -> list[PendingNotice]:
    """The events not yet noticed, one notice per person; each event's key is claimed with it.

    The subject names the one post or counts them, followed by what `happened` to them.
    """
    keys = {e.key for e in _not_sent(session, [PendingNotice(kind, e.key, "", "") for e in events])}
    groups: dict[tuple[str, str | None], list[_Event]] = defaultdict(list)
    for event in events:
        if event.key in keys:  # the channel's own recipients: one notice per author
            author = None if event.recipient.address else event.post.author
            groups[(event.recipient.scope, author)].append(event)
    notices = []
    for group in groups.values():
        first = group[0]
        lines = [_greeting(first.post, first.recipient)]
        for event in group:
            lines += ["", *event.lines]
        notices.append(
            PendingNotice(
                kind,
                first.key,
                f"comms: opslag {first.post.id} på {first.post.channel} {happened}"
                if len(group) == 1
                else f"comms: {len(group)} opslag {happened}",
                "\n".join(lines),
                recipients=(first.recipient.address,) if first.recipient.address else (),
                also=tuple(e.key for e in group[1:]),
            )
        )
    return notices


def _author(post: Post, users: dict[str, User], addressable: bool) -> Recipient:
    """The post's author at their address, else the channel's own recipients."""
    user = users.get(post.author or "")
    if addressable and user is not None and user.email:
        return _person(user)
    return Recipient(TEAM)


def _name(users: dict[str, User], username: str) -> str:
    """A person's display name where their account has one, else their username."""
    user = users.get(username)
    return (user.display_name if user is not None else None) or username


def _greeting(post: Post, recipient: Recipient) -> str:
    if recipient.name:
        return f"Hej {recipient.name},"
    return f"Til {post.author}:" if post.author else "Til holdet:"


class Notifier:
    """Sends due notices through the configured notification channel, once each."""

    def __init__(self, settings: Settings, adapter: Channel | None) -> None:
        self.settings = settings
        self.adapter = adapter

    @property
    def enabled(self) -> bool:
        return self.adapter is not None

    @property
    def addressable(self) -> bool:
        """Whether a notice can go to one person's address (an email channel), not only to
        the channel's own recipients."""
        return self.adapter is not None and self.adapter.settings.type == "email"

    def _adapter_for(self, recipients: Sequence[str]) -> Channel:
        """The notification channel, sending to `recipients` instead of its own `to`."""
        assert self.adapter is not None
        if not recipients or not self.addressable:
            return self.adapter
        options = {k: v for k, v in self.adapter.settings.options.items() if k != "to_header"}
        options["to"] = list(recipients)
        return type(self.adapter)(replace(self.adapter.settings, options=options))

    def send_pending(
        self, *, now: datetime | None = None, extra: list[PendingNotice] | None = None
    ) -> int:
        """Send every due notice; return how many went out."""
        if self.adapter is None:
            return 0
        now = now or utcnow()
        with session_scope(self.settings.database_url) as session:
            candidates = pending_notices(session, now=now, zone=self.settings.zone)
            candidates += review_notices(
                session, now=now, settings=self.settings, addressable=self.addressable
            )
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
            self._adapter_for(notice.recipients).publish(
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
                        col(Notice.kind) == notice.kind,
                        col(Notice.key).in_([notice.key, *notice.also]),
                    )
                )
            return False
        log.info("notice sent: %s", notice.subject)
        return True

    def _claim(self, notice: PendingNotice, now: datetime) -> bool:
        try:
            with session_scope(self.settings.database_url) as session:
                session.execute(
                    sa.insert(Notice),
                    [
                        {
                            "kind": notice.kind,
                            "key": key,
                            "sent_at": now,
                            "subject": notice.subject[:500],
                            "through": notice.through,
                        }
                        for key in (notice.key, *notice.also)
                    ],
                )
        except sa.exc.IntegrityError:
            return False  # another daemon has it
        return True

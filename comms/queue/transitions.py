"""The post state machine: approve, cancel, reschedule, claim, lease, complete, fail, reap,
and the crisis pause: pause, resume, hold, release held.

States (comms.store.models.PostState): draft -> queued -> publishing -> published, and from
publishing: failed, unknown or back to queued; missed when due while no daemon ran and the grace
window passed; cancelled from draft or queued; held when due (or claimed but not yet sending)
while a crisis pause covers its channel, and from held only by a person's hand: queued again
(published late, or at a new time) or cancelled.

Every change is a compare-and-set UPDATE whose WHERE clause names the state it expects (and for
a claimed post its `attempt_id`), and the rowcount is checked: a daemon that lost its lease can
never overwrite what another one recorded. No transaction is held open across a channel call:
claim and commit, mark sending and commit, call, record and commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from comms.access import STATE_NAMES
from comms.channels.base import OutgoingPost, Receipt
from comms.config import DaemonSettings, UtmSettings
from comms.content import link_from
from comms.content.links import safe_link
from comms.content.lint import tag_url
from comms.errors import (
    ChannelError,
    QueueError,
)
from comms.queue import pauses
from comms.queue.policy import decide
from comms.store import audit
from comms.store.models import (
    Attempt,
    AuditEvent,
    ChannelState,
    CrisisPause,
    Post,
    PostState,
    PostVersion,
    UTCDateTime,
    table_of,
    utcnow,
)
from comms.timeutil import zoned_text

DAEMON_ACTOR = "daemon"

# --- the daemon's statements, built once --------------------------------------------------
#
# Every published post runs a claim, mark-sending, record and attempt UPDATE. Built per call
# through the ORM they cost more than the database's own work: constructing the statement and
# its cache key, and the ORM's bulk-update bookkeeping, which compares each UPDATE's WHERE
# clause with every Post loaded in the session (the claim had up to 20 loaded: 20 x 20 checks
# a batch). These are Core statements on the tables with bound parameters, built at import:
# one `session.exec(statement, params=...)` each, which still autoflushes pending changes
# first. The session's loaded objects are not updated by them; every caller reads a post again
# in a new session (expire_on_commit is off, so an object loaded before one of these calls
# keeps its old values).

_POSTS = table_of(Post)
_ATTEMPTS = table_of(Attempt)
_AT = sa.bindparam("p_at", type_=UTCDateTime())
_POST_ID = sa.bindparam("p_post_id", type_=sa.Integer())
_ATTEMPT_ID = sa.bindparam("p_attempt_id", type_=sa.String())
_HOLDING = (  # this attempt still holds the post
    _POSTS.c.id == _POST_ID,
    _POSTS.c.attempt_id == _ATTEMPT_ID,
    _POSTS.c.state == PostState.PUBLISHING,
)

_MARK_SENDING = (
    sa.update(_POSTS)
    .where(*_HOLDING, _POSTS.c.lease_expires_at > _AT)
    .values(sending_at=_AT, updated_at=_AT)
)
# the sending mark of the usual case, with no pause in force anywhere: the pause read and the
# mark in one statement (which must still come after the pause lock: its snapshot then holds
# every pause committed before it). It changes nothing while any pause is in force, and the
# caller then reads the pauses and decides which case it is.
_PAUSES = table_of(CrisisPause)
_MARK_SENDING_UNPAUSED = _MARK_SENDING.where(~sa.exists().where(_PAUSES.c.resumed_at.is_(None)))
_PUBLISHED = (
    sa.update(_POSTS)
    .where(*_HOLDING)
    .values(
        state=PostState.PUBLISHED,
        external_id=sa.bindparam("p_external_id", type_=sa.String()),
        external_url=sa.bindparam("p_external_url", type_=sa.String()),
        published_at=_AT,
        lease_owner=None,
        lease_expires_at=None,
        last_error=None,
        updated_at=_AT,
    )
)
_FINISH_ATTEMPT = (
    # post_id first: attempt_id has no index, post_id has, so this is not a scan of every
    # attempt ever made for every recorded result
    sa.update(_ATTEMPTS)
    .where(_ATTEMPTS.c.post_id == _POST_ID, _ATTEMPTS.c.attempt_id == _ATTEMPT_ID)
    .values(
        finished_at=_AT,
        outcome=sa.bindparam("p_outcome", type_=sa.String()),
        http_status=sa.bindparam("p_status", type_=sa.Integer()),
        error=sa.bindparam("p_error", type_=sa.Text()),
    )
)


def _published_at_once() -> sa.Insert:
    """A success recorded in one statement on PostgreSQL: the post's compare-and-set, its
    attempt finished, and the audit event of the change, written only if the post changed
    (data-modifying WITH clauses; SQLite has none and runs the three statements)."""
    changed = _PUBLISHED.returning(_POSTS.c.id, _POSTS.c.campaign).cte("changed")
    finished = _FINISH_ATTEMPT.cte("finished")
    events = table_of(AuditEvent)
    event = sa.select(
        sa.bindparam("p_event_at", type_=UTCDateTime()),
        sa.literal(DAEMON_ACTOR),
        sa.literal("publish"),
        changed.c.id,
        changed.c.campaign,
        sa.bindparam("p_detail", type_=sa.Text()),
    )
    return (
        sa.insert(events)
        .from_select(["at", "actor", "action", "post_id", "campaign", "detail"], event)
        .add_cte(finished)
        .returning(events.c.post_id)
    )


# --- posts that link to an earlier post's page (a campaign step's `link_from`) ---------------
#
# Such a post is held until its source is published with a public http(s) address: it is not
# claimed before, never missed for waiting, and if its source never comes out (failed,
# cancelled, missed) it waits for good, shown as waiting (comms/queue/links.py), never sent with
# a wrong link. Once the source is out, the post is due at the later of its own time and the
# source's publication, and the grace window counts from that instant.

_SOURCE = _POSTS.alias("link_source")


def _source_column(column: str) -> sa.ScalarSelect[Any]:
    """A column of the post's link source, where that source is published (else NULL)."""
    return (
        sa.select(_SOURCE.c[column])
        .where(_SOURCE.c.id == _POSTS.c.link_from_post_id, _SOURCE.c.state == PostState.PUBLISHED)
        .scalar_subquery()
    )


_SOURCE_URL = _source_column("external_url")
_SOURCE_PUBLISHED_AT = _source_column("published_at")


def _is_public_url(column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """An http:// or https:// address (a receipt may carry a relative path or none at all)."""
    lowered = sa.func.lower(column)
    return sa.or_(lowered.like("http://%"), lowered.like("https://%"))


# not held back by a source: none, or one published with a public address
_RELEASED = sa.or_(_POSTS.c.link_from_post_id.is_(None), _is_public_url(_SOURCE_URL))

_FILL_LINK = (
    sa.update(_POSTS)
    .where(*_HOLDING)
    .values(
        text=sa.bindparam("p_text", type_=sa.Text()),
        link=sa.bindparam("p_link", type_=sa.String()),
        updated_at=_AT,
    )
)

# what a claim reads of a post: its OutgoingPost, attempts, due time and attempt id
_CLAIMED_COLUMNS = (
    _POSTS.c.attempt_id,
    _POSTS.c.id,
    _POSTS.c.attempts,
    _POSTS.c.scheduled_at,
    _POSTS.c.idempotency_key,
    _POSTS.c.channel,
    _POSTS.c.text,
    _POSTS.c.title,
    _POSTS.c.link,
    _POSTS.c.image_path,
    _POSTS.c.image_alt,
    _POSTS.c.campaign,
    _POSTS.c.audience,
    _POSTS.c.link_from_post_id,
)


@dataclass(frozen=True)
class Claim:
    """A post this worker holds under a lease for one attempt."""

    post_id: int
    attempt_id: str
    attempt: int
    scheduled_at: datetime
    outgoing: OutgoingPost


# --- people's actions -----------------------------------------------------------------------


def approve(session: Session, post_ids: list[int], *, actor: str) -> int:
    """Move drafts to the queue; returns how many changed. Non-drafts are left as they are."""
    now = utcnow()
    return _update_drafts(
        session,
        post_ids,
        {
            "state": PostState.QUEUED,
            "approved_by": actor,
            "approved_at": now,
            "updated_at": now,
            # a "when approved" post goes out now
            "scheduled_at": sa.case((col(Post.on_approval), now), else_=col(Post.scheduled_at)),
        },
        actor=actor,
        action="approve",
    )


def _update_drafts(
    session: Session,
    post_ids: list[int],
    values: dict[str, Any],
    *where: sa.ColumnElement[bool],
    actor: str,
    action: str,
) -> int:
    """Set `values` on the drafts among `post_ids` (that also meet `where`), audited per post."""
    if not post_ids:
        return 0
    return _update_audited(
        session,
        sa.update(Post)
        .where(col(Post.id).in_(post_ids), col(Post.state) == PostState.DRAFT, *where)
        .values(**values),
        actor=actor,
        action=action,
    )


def _update_audited(
    session: Session,
    statement: sa.Update,
    *,
    actor: str,
    action: str,
    detail: str | None = None,
) -> int:
    """Run a bulk state change and append one audit event per post it changed."""
    rows = session.execute(statement.returning(col(Post.id), col(Post.campaign))).all()
    audit.record_many(
        session,
        [
            {"actor": actor, "action": action, "post_id": pid, "campaign": c, "detail": detail}
            for pid, c in rows
        ],
    )
    return len(rows)


def _set_audited(
    session: Session,
    statement: sa.Update,
    parameters: dict[str, Any] | None = None,
    *,
    actor: str,
    action: str,
    post_id: int | None,
    campaign: str | None,
    detail: str | None = None,
) -> bool:
    """Run one post's compare-and-set UPDATE; if it changed the post, audit that and say so."""
    changed = session.exec(statement, params=parameters).rowcount == 1
    if changed:
        audit.record(
            session, actor=actor, action=action, post_id=post_id, campaign=campaign, detail=detail
        )
    return changed


# what has not started publishing: a person may still cancel or move it
_NOT_STARTED = (
    PostState.DRAFT,
    PostState.QUEUED,
    PostState.REJECTED,
    PostState.EXPIRED,
    PostState.HELD,
)


def cancel(session: Session, post_id: int, *, actor: str, reason: str | None = None) -> None:
    """Cancel a post that has not started publishing; anything later is history."""
    post = _get(session, post_id)
    if not _set_audited(
        session,
        sa.update(Post)
        .where(col(Post.id) == post_id, col(Post.state).in_(_NOT_STARTED))
        .values(state=PostState.CANCELLED, updated_at=utcnow()),
        actor=actor,
        action="cancel",
        post_id=post_id,
        campaign=post.campaign,
        detail=reason,
    ):
        raise QueueError(
            f"post {post_id} is {post.state}; only draft or queued posts can be cancelled "
            "(and rejected or expired ones)"
        )


def reschedule(
    session: Session,
    post_id: int,
    when: datetime,
    *,
    actor: str,
    local_text: str | None = None,
    zone: tzinfo = UTC,
) -> None:
    """Move a post that has not started publishing to another instant (UTC, aware).

    An expired post becomes a draft again: a new time needs a new approval.
    The audit detail shows both times in `zone` (the configured one), each with its label.
    """
    post = _get(session, post_id)
    old, before = post.scheduled_at, post.state
    if not _set_audited(
        session,
        sa.update(Post)
        .where(col(Post.id) == post_id, col(Post.state).in_(_NOT_STARTED))
        .values(
            scheduled_at=when,
            local_time=local_text,
            next_attempt_at=None,
            updated_at=utcnow(),
            on_approval=False,
            state=sa.case(
                (col(Post.state) == PostState.EXPIRED, PostState.DRAFT),
                (col(Post.state) == PostState.HELD, PostState.QUEUED),
                else_=col(Post.state),
            ),
        ),
        actor=actor,
        action="reschedule",
        post_id=post_id,
        campaign=post.campaign,
        detail=f"{zoned_text(old, zone)} -> {zoned_text(when, zone)}"
        + (", expired -> draft" if before == PostState.EXPIRED else "")
        + (", held -> queued" if before == PostState.HELD else ""),
    ):
        raise QueueError(
            f"post {post_id} is {post.state}; only draft or queued posts can be rescheduled "
            "(and rejected or expired ones)"
        )


def resolve_unknown(
    session: Session,
    post_id: int,
    outcome: str,
    *,
    actor: str,
    url: str | None = None,
    external_id: str | None = None,
) -> None:
    """Settle an `unknown` post: published (it is there), queued (send) or failed.

    A person does it by hand, reconcile when the channel shows the post (with its id and URL).
    """
    if outcome not in (PostState.PUBLISHED, PostState.QUEUED, PostState.FAILED):
        raise QueueError("an unknown post resolves to published, queued or failed")
    post = _get(session, post_id)
    values: dict = {
        "state": outcome,
        "updated_at": utcnow(),
        "lease_owner": None,
        "lease_expires_at": None,
    }
    if outcome == PostState.PUBLISHED:
        values.update(published_at=post.sending_at or utcnow(), external_url=safe_link(url))
        if external_id is not None:
            values.update(external_id=external_id)
    if outcome == PostState.QUEUED:
        values.update(next_attempt_at=None)
    if not _set_audited(
        session,
        sa.update(Post)
        .where(col(Post.id) == post_id, col(Post.state) == PostState.UNKNOWN)
        .values(**values),
        actor=actor,
        action=f"resolve:{outcome}",
        post_id=post_id,
        campaign=post.campaign,
        detail=url,
    ):
        raise QueueError(f"post {post_id} is {post.state}, not unknown")


def require_posts(session: Session, post_ids: list[int]) -> None:
    """QueueError naming every id in `post_ids` that is no post, so nothing is half done."""
    unique = sorted(set(post_ids))
    found: set[int | None] = set()  # ids read back are never None, but typed so
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        found.update(session.exec(select(col(Post.id)).where(col(Post.id).in_(chunk))).all())
    missing = [post_id for post_id in unique if post_id not in found]
    if len(missing) == 1:
        raise QueueError(f"no post with id {missing[0]}")
    if missing:
        raise QueueError(f"no posts with ids {', '.join(map(str, missing))}")


def reject(session: Session, post_id: int, *, actor: str, comment: str) -> None:
    """Send a draft back to its author with a comment (kept on the post and in the audit log)."""
    comment = comment.strip()
    if not comment:
        raise QueueError("Skriv en kommentar til forfatteren: hvorfor afvises opslaget?")
    post = _get(session, post_id)
    if not _set_audited(
        session,
        sa.update(Post)
        .where(col(Post.id) == post_id, col(Post.state) == PostState.DRAFT)
        .values(
            state=PostState.REJECTED, review_comment=comment, submitted_at=None, updated_at=utcnow()
        ),
        actor=actor,
        action="reject",
        post_id=post_id,
        campaign=post.campaign,
        detail=comment,
    ):
        raise QueueError(
            f"Opslag {post_id} er {_state_name(post.state)}; kun en kladde kan afvises."
        )


def compose(
    session: Session,
    *,
    actor: str,
    channels: list[str],
    text: str,
    variants: dict[str, str] | None = None,
    title: str | None = None,
    link: str | None = None,
    links: dict[str, str] | None = None,
    image_path: str | None = None,
    image_alt: str | None = None,
    scheduled_at: datetime | None = None,
    local_time: str | None = None,
    submit: bool = False,
    campaign: str | None = None,
    audience: str | None = None,
) -> list[int]:
    """A one-off story: one draft per channel sharing a story id, written by `actor`.

    `variants` gives a channel its own text instead of `text`, `links` its own link (tagged
    for it) instead of `link`. `scheduled_at` None means "when
    approved" (it goes out at its approval and never expires). `submit` asks for approval at
    once. Permissions and lint are the caller's to check first; returns the new posts' ids.
    """
    if not channels:
        raise QueueError("Vælg mindst én kanal.")
    if len(set(channels)) != len(channels):
        raise QueueError("En kanal er valgt to gange.")
    now = utcnow()
    story = uuid.uuid4().hex
    ids = []
    for channel in channels:
        post = Post(
            source="compose",
            channel=channel,
            campaign=campaign,
            audience=audience or None,
            title=title or None,
            text=(variants or {}).get(channel) or text,
            link=(links or {}).get(channel) or link or None,
            image_path=image_path,
            image_alt=image_alt or None,
            scheduled_at=scheduled_at or now,
            local_time=local_time if scheduled_at else None,
            on_approval=scheduled_at is None,
            state=PostState.DRAFT,
            author=actor,
            last_editor=actor,
            story=story,
            submitted_at=now if submit else None,
            created_at=now,
            updated_at=now,
        )
        session.add(post)
        session.flush()
        ids.append(int(post.id or 0))
    audit.record_many(
        session,
        [{"actor": actor, "action": "compose", "post_id": pid, "campaign": campaign} for pid in ids]
        + (
            [
                {"actor": actor, "action": "submit", "post_id": pid, "campaign": campaign}
                for pid in ids
            ]
            if submit
            else []
        ),
    )
    return ids


def submit(session: Session, post_ids: list[int], *, actor: str) -> int:
    """Ask for approval of drafts not yet submitted; returns how many were."""
    now = utcnow()
    return _update_drafts(
        session,
        post_ids,
        {"submitted_at": now, "updated_at": now},
        col(Post.submitted_at).is_(None),
        actor=actor,
        action="submit",
    )


def story_posts(session: Session, story: str) -> list[Post]:
    """The posts of one story, by channel."""
    return list(
        session.exec(
            select(Post).where(col(Post.story) == story).order_by(col(Post.channel), col(Post.id))
        ).all()
    )


# an edited post's new state: an approved one needs approval again, a rejected one goes back
_AFTER_EDIT: dict[str, PostState] = {
    PostState.DRAFT: PostState.DRAFT,
    PostState.QUEUED: PostState.DRAFT,
    PostState.REJECTED: PostState.DRAFT,
    PostState.EXPIRED: PostState.EXPIRED,  # still needs a new time (reschedule) first
}


def edit(
    session: Session,
    post_id: int,
    *,
    actor: str,
    text: str,
    title: str | None = None,
    link: str | None = None,
    image_alt: str | None = None,
) -> int:
    """Save a new version of a post's content; returns its version number.

    `title`, `link` and `image_alt` left None keep their value ("" clears one). An approved
    post goes back to draft and needs a new approval; `last_editor` becomes `actor`. The change
    is one compare-and-set on the state read, so an edit never slips into a post approved (or
    claimed) meanwhile.
    """
    post = _get(session, post_id)
    before = post.state
    after = _AFTER_EDIT.get(before)
    if after is None:
        raise QueueError(
            f"Opslag {post_id} er {_state_name(post.state)}; det kan ikke længere redigeres."
        )
    refused = link_from.placeholder_kept(post.text, text, post.link, link)
    if refused is not None:
        raise QueueError(f"Opslag {post_id} kan ikke gemmes sådan. {refused}")
    content = {
        "text": text,
        "title": post.title if title is None else (title or None),
        "link": post.link if link is None else (link or None),
        "image_alt": post.image_alt if image_alt is None else (image_alt or None),
    }
    now = utcnow()
    # read before the UPDATE: an ORM update brings the loaded post up to date with it
    original = _content_of(post)
    values: dict[str, Any] = {**content, "state": after, "last_editor": actor, "updated_at": now}
    if before == PostState.QUEUED:
        values.update(approved_by=None, approved_at=None)
    changed = session.exec(
        sa.update(Post).where(col(Post.id) == post_id, col(Post.state) == before).values(**values)
    ).rowcount
    if changed != 1:
        raise QueueError(f"Opslag {post_id} blev ændret imens; hent det igen og prøv igen.")
    number = _add_version(session, post_id, original, content, editor=actor, now=now)
    audit.record(
        session,
        actor=actor,
        action="edit",
        post_id=post_id,
        campaign=post.campaign,
        detail=f"version {number}" + (f", {before} -> {after}" if after != before else ""),
    )
    return number


def _content_of(post: Post) -> dict[str, Any]:
    """A post's content as a version row holds it, with who wrote it and when."""
    return {
        "text": post.text,
        "title": post.title,
        "link": post.link,
        "image_alt": post.image_alt,
        "editor": post.last_editor or post.author,
        "created_at": post.updated_at if post.last_editor else post.created_at,
    }


def _add_version(
    session: Session,
    post_id: int,
    original: dict[str, Any],
    content: dict[str, Any],
    *,
    editor: str,
    now: datetime,
) -> int:
    """Keep the new content as the next version (the first edit keeps the original as 1)."""
    newest = session.execute(
        sa.select(sa.func.max(col(PostVersion.number))).where(col(PostVersion.post_id) == post_id)
    ).scalar()
    rows = []
    if newest is None:
        rows.append({"post_id": post_id, "number": 1, **original})
        newest = 1
    rows.append(
        {"post_id": post_id, "number": newest + 1, **content, "editor": editor, "created_at": now}
    )
    session.execute(sa.insert(PostVersion), rows)
    return newest + 1


def versions(session: Session, post_id: int) -> list[PostVersion]:
    """A post's kept versions, oldest first (empty until its first edit)."""
    return list(
        session.exec(
            select(PostVersion)
            .where(col(PostVersion.post_id) == post_id)
            .order_by(col(PostVersion.number))
        ).all()
    )


def _state_name(state: str) -> str:
    return STATE_NAMES.get(state, state)


def _get(session: Session, post_id: int) -> Post:
    post = session.get(Post, post_id)
    if post is None:
        raise QueueError(f"no post with id {post_id}")
    return post


# --- the daemon's side ----------------------------------------------------------------------


def paused_channels(session: Session) -> set[str]:
    return set(session.exec(select(ChannelState.name).where(ChannelState.paused)).all())


def pause_channel(session: Session, name: str, reason: str) -> None:
    """Stop publishing to a channel (its credentials failed) until a person resumes it."""
    state = session.get(ChannelState, name) or ChannelState(name=name)
    state.paused, state.paused_reason, state.paused_at = True, reason, utcnow()
    session.add(state)
    audit.record(session, actor=DAEMON_ACTOR, action="pause-channel", detail=f"{name}: {reason}")


def resume_channel(session: Session, name: str, *, actor: str) -> None:
    state = session.get(ChannelState, name)
    if state is not None and state.paused:
        state.paused, state.paused_reason = False, None
        session.add(state)
        audit.record(session, actor=actor, action="resume-channel", detail=name)


def mark_missed(
    session: Session, *, now: datetime, grace: timedelta, clock_jump: timedelta = timedelta(0)
) -> int:
    """Queued posts never tried whose time passed beyond the grace window: `missed`.

    `clock_jump` is how far the wall clock leapt forward since the daemon's last look (beyond
    the time that really passed): posts that fell due inside the leap were not missed by
    anyone, so the window is counted from before the leap.

    A post linking to an earlier post's page is due at the later of its own time and that
    page's publication, so it is missed only when both passed beyond the window; while the page
    is not out it waits, and is never missed for that.
    """
    cutoff = now - max(clock_jump, timedelta(0)) - grace
    return _update_audited(
        session,
        sa.update(Post)
        .where(
            col(Post.state) == PostState.QUEUED,
            col(Post.attempts) == 0,
            col(Post.scheduled_at) < cutoff,
            sa.or_(col(Post.link_from_post_id).is_(None), cutoff > _SOURCE_PUBLISHED_AT),
        )
        .values(
            state=PostState.MISSED,
            updated_at=now,
            last_error=f"due more than {grace} ago while no daemon ran",
        ),
        actor=DAEMON_ACTOR,
        action="missed",
    )


def mark_expired(session: Session, *, now: datetime) -> int:
    """Drafts still unapproved at their time: `expired`, never published without a new time
    (reschedule, which makes them drafts again) and a new approval. "When approved" posts
    have no time to miss."""
    return _update_audited(
        session,
        sa.update(Post)
        .where(
            col(Post.state) == PostState.DRAFT,
            col(Post.scheduled_at) <= now,
            sa.not_(col(Post.on_approval)),
        )
        .values(
            state=PostState.EXPIRED,
            updated_at=now,
            last_error="ikke godkendt inden sit tidspunkt",
        ),
        actor=DAEMON_ACTOR,
        action="expired",
    )


def claim_due(
    session: Session,
    *,
    worker: str,
    now: datetime,
    channels: set[str],
    limit: int,
    lease: timedelta,
    utm: UtmSettings | None = None,
) -> list[Claim]:
    """Take up to `limit` due, approved posts on `channels` under a lease, in due order.

    A post linking to an earlier post's page is taken only once that page is out; its text and
    link get the page's address then (tagged by `utm` as the plan tags links), kept on the post.

    On PostgreSQL, `FOR UPDATE SKIP LOCKED` lets several daemons claim side by side; on SQLite the
    session's `BEGIN IMMEDIATE` serialises claimers, and the state-guarded UPDATE decides.
    """
    # a pause committed before this read is seen here; one committed later is caught when
    # the claim is marked sending (start_sending), the last commit before any request
    channels = channels - pauses.covered(pauses.active(session), channels)
    if not channels or limit < 1:
        return []
    due = (
        sa.select(_POSTS.c.id)
        .where(
            _POSTS.c.state == PostState.QUEUED,
            _POSTS.c.scheduled_at <= now,
            sa.or_(_POSTS.c.next_attempt_at.is_(None), _POSTS.c.next_attempt_at <= now),
            _POSTS.c.channel.in_(sorted(channels)),
            _RELEASED,
        )
        .order_by(_POSTS.c.scheduled_at, _POSTS.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        # computed once, before the update: PostgreSQL may re-run an `IN (subquery)` for
        # every row it updates and take more than `limit`
        .cte("due")
        .prefix_with("MATERIALIZED")
    )
    # one statement takes the whole batch: the state guard is the compare-and-set, and each
    # post's attempt id is this batch's token and its post id (unique, and unguessable to a
    # worker that did not make it)
    batch = uuid.uuid4().hex
    attempt_id = sa.literal(batch + "-") + sa.cast(_POSTS.c.id, sa.String())
    returned = session.execute(
        sa.update(_POSTS)
        # `state || ''`: the same guard, but not a term SQLite may look posts up by, so it
        # takes the batch by id, not by walking every queued post's entry of a state index
        .where(_POSTS.c.id.in_(sa.select(due.c.id)), _POSTS.c.state.concat("") == PostState.QUEUED)
        .values(
            state=PostState.PUBLISHING,
            attempt_id=attempt_id,
            lease_owner=worker,
            lease_expires_at=now + lease,
            sending_at=None,
            attempts=_POSTS.c.attempts + 1,
            updated_at=now,
        )
        .returning(*_CLAIMED_COLUMNS)
    ).all()
    if not returned:
        return []
    rows = sorted(returned, key=lambda row: (row.scheduled_at, row.id))  # RETURNING has no order
    session.execute(
        sa.insert(_ATTEMPTS),
        [
            {"post_id": row.id, "attempt_id": row.attempt_id, "worker": worker, "started_at": now}
            for row in rows
        ],
    )
    linked = [row.id for row in rows if row.link_from_post_id is not None]
    sources = (
        dict(
            session.execute(
                sa.select(_POSTS.c.id, _SOURCE_URL).where(_POSTS.c.id.in_(linked))
            ).all()
        )
        if linked
        else {}
    )
    claims: list[Claim] = []
    for row in rows:
        outgoing = outgoing_of(row)
        if row.link_from_post_id is not None:
            outgoing = _fill_link(
                session,
                row,
                str(sources[row.id]),
                outgoing,
                row.attempt_id,
                now=now,
                utm=utm,
            )
        claims.append(
            Claim(
                post_id=row.id,
                attempt_id=row.attempt_id,
                attempt=row.attempts,
                scheduled_at=row.scheduled_at,
                outgoing=outgoing,
            )
        )
    return claims


def _fill_link(
    session: Session,
    post: sa.Row[Any],
    source_url: str,
    outgoing: OutgoingPost,
    attempt_id: str,
    *,
    now: datetime,
    utm: UtmSettings | None,
) -> OutgoingPost:
    """The claimed post with its source page's address where the plan left a placeholder.

    Kept on the post (and audited), so the queue shows what went out; the approved content hash
    is left as it was: the approver saw that the link is that page's, only its address is new.
    """
    url = source_url
    if utm is not None:
        url = tag_url(
            url,
            domains=utm.domains,
            source=post.channel,
            medium=utm.medium,
            campaign=post.campaign or "",
        )
    text = link_from.fill(post.text, url)
    link = link_from.fill(post.link, url) if post.link else post.link
    if (text, link) == (post.text, post.link):
        return outgoing
    session.exec(
        _FILL_LINK,
        params={
            "p_post_id": post.id,
            "p_attempt_id": attempt_id,
            "p_text": text,
            "p_link": link,
            "p_at": now,
        },
    )
    audit.record(
        session,
        actor=DAEMON_ACTOR,
        action="link-filled",
        post_id=post.id,
        campaign=post.campaign,
        detail=f"from post {post.link_from_post_id}: {url}",
    )
    return replace(outgoing, text=text, link=link)


def outgoing_of(post: Post | sa.Row[Any]) -> OutgoingPost:
    """What a channel is given of a post (a Post, or a row of the same columns)."""
    return OutgoingPost(
        post_id=post.id or 0,
        idempotency_key=post.idempotency_key,
        channel=post.channel,
        text=post.text,
        title=post.title,
        link=post.link,
        image_path=Path(post.image_path) if post.image_path else None,
        image_alt=post.image_alt,
        campaign=post.campaign,
        audience=post.audience,
        scheduled_at=post.scheduled_at,
    )


class SendStart(StrEnum):
    """What marking a claim as sending came to: only SENDING may call the channel."""

    SENDING = "sending"
    HELD = "held"  # a crisis pause covers its channel: held, not sent
    LOST = "lost-lease"


def mark_sending(session: Session, claim: Claim, *, now: datetime) -> bool:
    """The recovery point just before the call: False if it must not be sent."""
    return start_sending(session, claim, now=now) is SendStart.SENDING


def start_sending(session: Session, claim: Claim, *, now: datetime) -> SendStart:
    """The last commit before the request leaves: mark the claim sending, unless a crisis
    pause covers its channel (then the post is held, its attempt given back) or the lease
    was lost. The pause is read under the lock that orders this with the pause's own
    transaction (comms/queue/pauses.py), so nothing is sent after a pause has committed.
    """
    pauses.lock_for_sending(session)
    parameters = {"p_post_id": claim.post_id, "p_attempt_id": claim.attempt_id, "p_at": now}
    if session.exec(_MARK_SENDING_UNPAUSED, params=parameters).rowcount == 1:
        return SendStart.SENDING
    # a pause is in force somewhere, or the lease was lost: which, for this channel? (still
    # under the lock, so no pause can have committed since the statement above)
    pause = pauses.covering(pauses.active(session), claim.outgoing.channel)
    if pause is None:
        changed = session.exec(_MARK_SENDING, params=parameters).rowcount
        return SendStart.SENDING if changed == 1 else SendStart.LOST
    held = _set_audited(
        session,
        sa.update(Post)
        .where(
            col(Post.id) == claim.post_id,
            col(Post.attempt_id) == claim.attempt_id,
            col(Post.state) == PostState.PUBLISHING,
            col(Post.sending_at).is_(None),
        )
        .values(
            state=PostState.HELD,
            lease_owner=None,
            lease_expires_at=None,
            attempts=Post.attempts - 1,
            updated_at=now,
        ),
        actor=DAEMON_ACTOR,
        action="hold",
        post_id=claim.post_id,
        campaign=claim.outgoing.campaign,
        detail=_held_by(pause),
    )
    if not held:
        return SendStart.LOST
    _finish_attempt(session, claim, outcome="held", now=now)
    return SendStart.HELD


def record_success(session: Session, claim: Claim, receipt: Receipt, *, now: datetime) -> bool:
    """Published: store the channel's id and URL. False if another worker took the post over."""
    if session.get_bind().dialect.name == "postgresql":
        parameters = {
            "p_post_id": claim.post_id,
            "p_attempt_id": claim.attempt_id,
            "p_external_id": receipt.external_id,
            "p_external_url": safe_link(receipt.url),
            "p_at": now,
            "p_outcome": "published",
            "p_status": None,
            "p_error": None,
            "p_event_at": utcnow(),
            "p_detail": safe_link(receipt.url) or receipt.external_id,
        }
        return session.execute(_PUBLISHED_AT_ONCE, parameters).first() is not None
    changed = _set_audited(
        session,
        _PUBLISHED,
        {
            "p_post_id": claim.post_id,
            "p_attempt_id": claim.attempt_id,
            "p_external_id": receipt.external_id,
            "p_external_url": safe_link(receipt.url),
            "p_at": now,
        },
        actor=DAEMON_ACTOR,
        action="publish",
        post_id=claim.post_id,
        campaign=claim.outgoing.campaign,
        detail=safe_link(receipt.url) or receipt.external_id,
    )
    _finish_attempt(session, claim, outcome="published", now=now)
    return changed


_PUBLISHED_AT_ONCE = _published_at_once()


def record_failure(
    session: Session,
    claim: Claim,
    error: Exception,
    *,
    now: datetime,
    settings: DaemonSettings,
    idempotent: bool,
) -> str:
    """Apply `decide`'s verdict on the error with one compare-and-set; returns the new state."""
    message = str(error)[:2000]
    status = error.status if isinstance(error, ChannelError) else None
    decision = decide(
        error,
        attempt=claim.attempt,
        scheduled_at=claim.scheduled_at,
        now=now,
        settings=settings,
        idempotent=idempotent,
    )
    values: dict = {
        "state": decision.state,
        "lease_owner": None,
        "lease_expires_at": None,
        "last_error": (decision.note or message)[:2000],
        "updated_at": now,
    }
    if decision.retry_in is not None:
        values["next_attempt_at"] = now + timedelta(seconds=decision.retry_in)
    if decision.refund_attempt:
        values["attempts"] = Post.attempts - 1
    if decision.pause_channel:
        pause_channel(session, claim.outgoing.channel, message)
    outcome = str(decision.outcome)
    changed = _set_audited(
        session,
        sa.update(Post)
        .where(
            col(Post.id) == claim.post_id,
            col(Post.attempt_id) == claim.attempt_id,
            col(Post.state) == PostState.PUBLISHING,
        )
        .values(**values),
        actor=DAEMON_ACTOR,
        action=f"attempt:{outcome}",
        post_id=claim.post_id,
        campaign=claim.outgoing.campaign,
        detail=message,
    )
    _finish_attempt(session, claim, outcome=outcome, now=now, status=status, error=message)
    return str(values["state"]) if changed else "lost-lease"


def _finish_attempt(
    session: Session,
    claim: Claim,
    *,
    outcome: str,
    now: datetime,
    status: int | None = None,
    error: str | None = None,
) -> None:
    session.execute(
        _FINISH_ATTEMPT,
        {
            "p_post_id": claim.post_id,
            "p_attempt_id": claim.attempt_id,
            "p_at": now,
            "p_outcome": outcome,
            "p_status": status,
            "p_error": error,
        },
    )


def reap_expired(session: Session, *, now: datetime, idempotent_channels: set[str]) -> int:
    """Posts whose daemon died holding them: back to the queue if nothing can have been sent
    (or the channel is idempotent), else `unknown` for reconciliation. Never a blind resend."""
    expired = list(
        session.exec(
            select(Post).where(
                col(Post.state) == PostState.PUBLISHING, col(Post.lease_expires_at) < now
            )
        ).all()
    )
    for post in expired:
        safe = post.sending_at is None or post.channel in idempotent_channels
        new_state = PostState.QUEUED if safe else PostState.UNKNOWN
        _set_audited(
            session,
            sa.update(Post)
            .where(
                col(Post.id) == post.id,
                col(Post.attempt_id) == post.attempt_id,
                col(Post.state) == PostState.PUBLISHING,
            )
            .values(
                state=new_state,
                lease_owner=None,
                lease_expires_at=None,
                attempts=Post.attempts - (1 if post.sending_at is None else 0),
                last_error=f"lease of {post.lease_owner} expired",
                updated_at=now,
            ),
            actor=DAEMON_ACTOR,
            action=f"lease-expired:{new_state}",
            post_id=post.id,
            campaign=post.campaign,
        )
    return len(expired)


def release_claim(session: Session, claim: Claim, *, now: datetime) -> bool:
    """Hand back one claim that never started sending (its channel was paused meanwhile)."""
    return (
        _hand_back(
            session, now, col(Post.id) == claim.post_id, col(Post.attempt_id) == claim.attempt_id
        )
        == 1
    )


def release_claims(session: Session, *, worker: str, now: datetime) -> int:
    """On a clean stop: hand back claims that never started sending."""
    return _hand_back(session, now, col(Post.lease_owner) == worker)


def _hand_back(session: Session, now: datetime, *which: sa.ColumnElement[bool]) -> int:
    """Claims that never reached `sending` go back to the queue; the attempt is not counted."""
    return session.exec(
        sa.update(Post)
        .where(*which, col(Post.state) == PostState.PUBLISHING, col(Post.sending_at).is_(None))
        .values(
            state=PostState.QUEUED,
            lease_owner=None,
            lease_expires_at=None,
            attempts=Post.attempts - 1,
            updated_at=now,
        )
    ).rowcount


def has_released_links(session: Session, *, channels: set[str], now: datetime) -> bool:
    """A queued post on `channels` linking to a page that is now out, due: claimable now."""
    if not channels:
        return False
    query = sa.select(_POSTS.c.id).where(
        _POSTS.c.state == PostState.QUEUED,
        _POSTS.c.link_from_post_id.is_not(None),
        _POSTS.c.scheduled_at <= now,
        sa.or_(_POSTS.c.next_attempt_at.is_(None), _POSTS.c.next_attempt_at <= now),
        _POSTS.c.channel.in_(sorted(channels)),
        _RELEASED,
    )
    return session.execute(query.limit(1)).first() is not None


def next_due_at(session: Session, *, channels: set[str]) -> datetime | None:
    """When the next queued post on these channels becomes due (for the daemon's wake-up)."""
    channels = channels - pauses.covered(pauses.active(session), channels)
    if not channels:
        return None
    # a post is due at its retry time if a failed try set one, else at its planned time: each
    # half is the first entry of an index in order, (state, scheduled_at) or (state, retry),
    # where the minimum over coalesce(retry, planned) would read every queued post
    queued = (
        _POSTS.c.state == PostState.QUEUED,
        _POSTS.c.channel.in_(sorted(channels)),
        _RELEASED,  # a post waiting for its source's page is due when that page is out
    )
    planned = sa.select(sa.func.min(_POSTS.c.scheduled_at).label("due")).where(
        *queued, _POSTS.c.next_attempt_at.is_(None)
    )
    retried = sa.select(sa.func.min(_POSTS.c.next_attempt_at).label("due")).where(
        *queued, _POSTS.c.next_attempt_at.is_not(None)
    )
    either = sa.union_all(planned, retried).subquery()
    query = sa.select(sa.type_coerce(sa.func.min(either.c.due), UTCDateTime()))
    return session.execute(query).scalar_one()


def replan(session: Session, post: Post, values: dict[str, Any]) -> bool:
    """A re-plan's new content for a post, if it is still in the state the plan read it in.

    The plan audits its changes in bulk, so this writes only the post; False if it moved on.
    """
    changed = session.exec(
        sa.update(Post)
        .where(col(Post.id) == post.id, col(Post.state) == post.state)
        .values(**values)
    ).rowcount
    return bool(changed)


def set_link_sources(session: Session, sources: dict[int, int | None]) -> int:
    """Set which post's page each post links to (post id -> source id, None: no source).

    Plan's part of `link_from`, audited with the plan's own events; only posts not yet claimed
    change, so a post on its way out keeps the source its link was filled from.
    """
    changed = 0
    for post_id, source_id in sources.items():
        changed += session.exec(
            sa.update(Post)
            .where(col(Post.id) == post_id, col(Post.state).in_(_NOT_STARTED))
            .values(link_from_post_id=source_id)
        ).rowcount
    return changed


def cancel_removed(session: Session, post: Post, *, now: datetime, note: str) -> bool:
    """Cancel a post whose step left its campaign file, if it is still as the plan read it."""
    return replan(
        session, post, {"state": PostState.CANCELLED, "updated_at": now, "last_error": note}
    )


RESTORE_ACTOR = "restore"


def settle_restored(session: Session, *, now: datetime) -> int:
    """Posts of a restored backup that may have gone out after the backup was taken: `unknown`.

    The backup cannot know what happened between its snapshot and the restore. A post that was
    `publishing` may have been sent; a `queued` one already due may have been published by the
    daemon that ran on after the snapshot. Each is settled by `comms reconcile` (asking the
    channel where it can) or by a person, never resent blindly. Posts not yet due cannot have
    gone out, and stay queued."""
    return _update_audited(
        session,
        sa.update(Post)
        .where(
            sa.or_(
                col(Post.state) == PostState.PUBLISHING,
                sa.and_(col(Post.state) == PostState.QUEUED, col(Post.scheduled_at) <= now),
            )
        )
        .values(
            state=PostState.UNKNOWN,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
            last_error="restored from a backup: it may have gone out after the backup was made; "
            "run `comms reconcile`",
        ),
        actor=RESTORE_ACTOR,
        action="restored:unknown",
    )


# --- the crisis pause ------------------------------------------------------------------------


@dataclass(frozen=True)
class InFlight:
    """A post whose request had left (or was leaving) when a pause committed: it cannot be
    recalled, so the pause names it."""

    post_id: int
    channel: str
    sending_at: datetime


@dataclass(frozen=True)
class Paused:
    """What a pause did: the pause, the posts it held at once, the calls already in flight."""

    pause: CrisisPause
    held: int
    in_flight: list[InFlight]


@dataclass(frozen=True)
class Resumed:
    """What a resume did: the pauses lifted, and what became of the held posts."""

    lifted: list[CrisisPause]
    held: int  # posts that fell due during the pause and were held at the resume
    waiting: list[int]  # held posts left for a person to look at
    released: list[int]  # held posts queued to go out now (--publish-held)
    cancelled: list[int]  # held posts cancelled (--cancel-held)


def _held_by(pause: CrisisPause) -> str:
    return f"krisestop {pause.id}: {pause.reason}"


def _covered_by(pause_list: list[CrisisPause]) -> sa.ColumnElement[bool]:
    """Posts on a channel one of `pause_list` covers."""
    named: set[str] = set()
    for pause in pause_list:
        names = pause.channel_names
        if names is None:
            return sa.true()
        named |= names
    return col(Post.channel).in_(sorted(named)) if named else sa.false()


def scope_text(pause: CrisisPause) -> str:
    """The scope of a pause in words, for the audit log and the pages."""
    if pause.organisation:
        return f"organisationen {pause.organisation}"
    names = pause.channel_names
    if names is None:
        return "alle kanaler"
    return "kanalerne " + ", ".join(sorted(names)) if len(names) > 1 else f"kanalen {min(names)}"


def pause(
    session: Session,
    *,
    actor: str,
    reason: str,
    channels: list[str] | None = None,
    organisation: str | None = None,
    now: datetime | None = None,
) -> Paused:
    """Stop publishing on `channels` (None: every channel) until a person resumes.

    `organisation` names the scope as asked for (its channels are the caller's to resolve from
    the config). In the same transaction, under the lock that orders it with every sending
    mark: queued posts already due are held, and the calls already under way are listed.
    """
    reason = reason.strip()
    if not reason:
        raise QueueError("Skriv hvorfor alle udgivelser stoppes (det står i revisionsloggen).")
    if channels is not None and not channels:
        raise QueueError(
            f"Organisationen {organisation} har ingen kanaler; der er intet at stoppe."
            if organisation
            else "Vælg mindst én kanal at stoppe."
        )
    now = now or utcnow()
    pauses.lock_for_pausing(session)
    row = CrisisPause(
        organisation=organisation,
        channels="\n".join(sorted(set(channels))) if channels is not None else None,
        reason=reason,
        paused_by=actor,
        paused_at=now,
    )
    session.add(row)
    session.flush()
    held = hold_due(session, now=now, pause_list=[row])
    flying = in_flight(session, [row])
    audit.record(
        session,
        actor=actor,
        action="crisis-pause",
        detail=f"krisestop {row.id} af {scope_text(row)}: {reason}"
        + (f" (i gang: {', '.join(str(f.post_id) for f in flying)})" if flying else ""),
        at=now,
    )
    return Paused(row, held, flying)


def hold_due(
    session: Session, *, now: datetime, pause_list: list[CrisisPause] | None = None
) -> int:
    """Queued posts that are due on a paused channel: `held`, never sent and never `missed`.

    The daemon runs this before it marks anything missed, in the same transaction, under the
    lock a sending mark takes: a pause being made waits for the pass (and the pass for it),
    so the two never update the same queued posts at once and cannot deadlock on them.
    """
    if pause_list is None:
        pauses.lock_for_sending(session)
        pause_list = pauses.active(session)
    held = 0
    for one in pause_list:  # each post's audit event names the pause that held it
        held += _update_audited(
            session,
            sa.update(Post)
            .where(
                col(Post.state) == PostState.QUEUED,
                col(Post.scheduled_at) <= now,
                _covered_by([one]),
            )
            .values(state=PostState.HELD, updated_at=now),
            actor=DAEMON_ACTOR,
            action="hold",
            detail=_held_by(one),
        )
    return held


def resume(
    session: Session,
    *,
    actor: str,
    organisation: str | None = None,
    channels: list[str] | None = None,
    pause_id: int | None = None,
    publish_held: bool = False,
    cancel_held: bool = False,
    now: datetime | None = None,
) -> Resumed:
    """Lift the pauses in force on a scope (`pause_id`: that one; none given: all of them).

    Held posts stay held for a person to look at, unless `publish_held` (queued to go out now)
    or `cancel_held` is given, each post audited. Posts that fell due during the pause but no
    daemon held yet are held first, so nothing due in the pause goes out by itself.
    """
    if publish_held and cancel_held:
        raise QueueError("Vælg enten at udgive eller at annullere de tilbageholdte opslag.")
    now = now or utcnow()
    pauses.lock_for_pausing(session)
    in_force = pauses.active(session)
    if pause_id is not None:
        lifted = [p for p in in_force if p.id == pause_id]
    elif organisation is not None:
        lifted = [p for p in in_force if p.organisation == organisation]
    elif channels:
        lifted = [
            p for p in in_force if p.channel_names is not None and p.channel_names & set(channels)
        ]
    else:
        lifted = in_force
    if not lifted:
        raise QueueError("Der er intet krisestop at ophæve her.")
    held = hold_due(session, now=now, pause_list=lifted)
    for row in lifted:
        row.resumed_by, row.resumed_at = actor, now
        session.add(row)
        audit.record(
            session,
            actor=actor,
            action="crisis-resume",
            detail=f"krisestop {row.id} af {scope_text(row)} ophævet",
            at=now,
        )
    session.flush()
    lifted_ids = {p.id for p in lifted}
    still = [p for p in in_force if p.id not in lifted_ids]
    waiting = [
        (int(pid or 0), channel)
        for pid, channel in session.exec(
            select(Post.id, Post.channel)
            .where(col(Post.state) == PostState.HELD, _covered_by(lifted))
            .order_by(col(Post.scheduled_at), col(Post.id))
        ).all()
    ]
    released: list[int] = []
    cancelled: list[int] = []
    if publish_held:  # those another pause still covers stay held
        free = [pid for pid, channel in waiting if pauses.covering(still, channel) is None]
        released = release_held(session, free, actor=actor, now=now)
    elif cancel_held:
        cancelled = cancel_held_posts(
            session,
            [pid for pid, _channel in waiting],
            actor=actor,
            reason="tilbageholdt af krisestop; annulleret samlet ved ophævelsen",
        )
    done = set(released) | set(cancelled)
    left = [pid for pid, _channel in waiting if pid not in done]
    return Resumed(lifted, held, left, released, cancelled)


def release_held(
    session: Session, post_ids: list[int], *, actor: str, now: datetime | None = None
) -> list[int]:
    """Publish held posts late: queued, due now; refused, with nothing done, if one is not
    held or a pause still covers its channel.

    One UPDATE for them all: a resume may release hundreds, and their new time ("now") must
    not age past the grace window before the transaction commits.
    """
    now = now or utcnow()
    rows = _held_rows(session, post_ids)
    in_force = pauses.active(session)
    stopped = sorted({r.channel for r in rows if pauses.covering(in_force, r.channel)})
    if stopped:
        raise QueueError(
            f"{_channels_text(stopped)} er stadig stoppet; ophæv krisestoppet, før de "
            "tilbageholdte opslag udgives."
        )
    return _settle_held(
        session,
        rows,
        {"state": PostState.QUEUED, "scheduled_at": now, "next_attempt_at": None},
        now=now,
        actor=actor,
        action="release-held",
        detail=lambda row: f"udgives for sent (planlagt {zoned_text(row.scheduled_at, UTC)})",
    )


def cancel_held_posts(
    session: Session, post_ids: list[int], *, actor: str, reason: str | None = None
) -> list[int]:
    """Cancel held posts in one UPDATE, each audited (refused if one is not held)."""
    now = utcnow()
    return _settle_held(
        session,
        _held_rows(session, post_ids),
        {"state": PostState.CANCELLED},
        now=now,
        actor=actor,
        action="cancel",
        detail=lambda _row: reason,
    )


def _channels_text(names: list[str]) -> str:
    return f"Kanalen {names[0]}" if len(names) == 1 else "Kanalerne " + ", ".join(names)


def _held_rows(session: Session, post_ids: list[int]) -> list[sa.Row[Any]]:
    """The posts' id, channel, time and campaign, after checking each is held."""
    require_posts(session, post_ids)
    rows = session.execute(
        sa.select(_POSTS.c.id, _POSTS.c.channel, _POSTS.c.state, _POSTS.c.scheduled_at)
        .add_columns(_POSTS.c.campaign)
        .where(_POSTS.c.id.in_(sorted(set(post_ids))))
    ).all()
    other = [r for r in rows if r.state != PostState.HELD]
    if other:
        raise QueueError(
            f"Opslag {other[0].id} er {_state_name(other[0].state)}, ikke tilbageholdt."
        )
    return list(rows)


def _settle_held(
    session: Session,
    rows: list[sa.Row[Any]],
    values: dict[str, Any],
    *,
    now: datetime,
    actor: str,
    action: str,
    detail: Any,
) -> list[int]:
    """One compare-and-set UPDATE of held posts; one audit event per post it changed."""
    if not rows:
        return []
    changed = set(
        session.execute(
            sa.update(Post)
            .where(col(Post.id).in_([r.id for r in rows]), col(Post.state) == PostState.HELD)
            .values(**values, updated_at=now)
            .returning(col(Post.id))
        ).scalars()
    )
    audit.record_many(
        session,
        [
            {
                "actor": actor,
                "action": action,
                "post_id": r.id,
                "campaign": r.campaign,
                "detail": detail(r),
            }
            for r in rows
            if r.id in changed
        ],
    )
    return sorted(changed)


def held_posts(session: Session) -> list[Post]:
    """Every held post, in due order: what a person has to look at."""
    return list(
        session.exec(
            select(Post)
            .where(col(Post.state) == PostState.HELD)
            .order_by(col(Post.scheduled_at), col(Post.id))
        ).all()
    )


def in_flight(session: Session, pause_list: list[CrisisPause]) -> list[InFlight]:
    """Calls under way on channels the pauses cover (sent before the pause, not yet recorded)."""
    if not pause_list:
        return []
    rows = session.exec(
        select(Post.id, Post.channel, Post.sending_at)
        .where(
            col(Post.state) == PostState.PUBLISHING,
            col(Post.sending_at).is_not(None),
            _covered_by(pause_list),
        )
        .order_by(col(Post.sending_at), col(Post.id))
    ).all()
    return [InFlight(int(pid or 0), channel, at) for pid, channel, at in rows if at]

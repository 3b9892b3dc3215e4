"""The post state machine on a real SQLite file: the transitions people and the daemon make.

Claims, compare-and-set and leases, which must hold on every backend, are tested once on SQLite
and PostgreSQL alike in test_queue_backends.py.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from comms.errors import (
    AuthError,
    QueueError,
    RateLimitedError,
    RejectedError,
    TransientError,
)
from comms.queue import transitions as queue
from comms.store.db import session_scope
from comms.store.models import Attempt, AuditEvent, Post, PostState, utcnow
from tests.factories import add_post, get_post

LEASE = timedelta(minutes=5)


@pytest.fixture
def settings(make_settings):
    return make_settings()


def claim(settings, now=None, channels=("stub",), worker="w1"):
    with session_scope(settings.database_url) as session:
        return queue.claim_due(
            session,
            worker=worker,
            now=now or utcnow(),
            channels=set(channels),
            limit=10,
            lease=LEASE,
        )


def test_approve_moves_drafts_only_and_is_audited(settings):
    url = settings.database_url
    draft = add_post(url, state=PostState.DRAFT)
    published = add_post(url, state=PostState.PUBLISHED)
    with session_scope(url) as session:
        assert queue.approve(session, [draft, published], actor="anne") == 1
    post = get_post(url, draft)
    assert post.state == PostState.QUEUED
    assert post.approved_by == "anne"
    assert get_post(url, published).state == PostState.PUBLISHED
    with session_scope(url) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "approve")).all()
    assert [(e.actor, e.post_id) for e in events] == [("anne", draft)]


def test_claim_hands_over_the_post_as_stored_and_records_its_attempt(settings):
    url = settings.database_url
    post_id = add_post(
        url,
        text="Husk refleksen",
        title="Mørke",
        link="https://www.aalborg.dk/refleks",
        image_path="img/refleks.jpg",
        image_alt="En refleks på en skoletaske",
        audience="forældre",
        campaign="refleks",
    )
    now = utcnow()
    with session_scope(url) as session:
        post = session.get(Post, post_id)
        post.text = "Husk refleksen i mørket"  # not flushed yet: the claim must see it anyway
        session.add(post)
        [c] = queue.claim_due(
            session, worker="w9", now=now, channels={"stub"}, limit=5, lease=LEASE
        )
        scheduled_at = post.scheduled_at
    o = c.outgoing
    assert (o.post_id, o.channel, o.text, o.title, o.link) == (
        post_id,
        "stub",
        "Husk refleksen i mørket",
        "Mørke",
        "https://www.aalborg.dk/refleks",
    )
    assert (o.image_path, o.image_alt, o.campaign, o.audience) == (
        Path("img/refleks.jpg"),
        "En refleks på en skoletaske",
        "refleks",
        "forældre",
    )
    assert o.scheduled_at == c.scheduled_at == scheduled_at
    assert c.attempt == 1
    # the post's own state after a claim (lease, owner, attempts) is test_queue_backends' part
    assert o.idempotency_key == get_post(url, post_id).idempotency_key
    with session_scope(url) as session:
        attempts = session.exec(select(Attempt).where(Attempt.post_id == post_id)).all()
    assert [(a.attempt_id, a.worker, a.started_at, a.finished_at) for a in attempts] == [
        (c.attempt_id, "w9", now, None)
    ]


def test_cancel_and_reschedule(settings):
    url = settings.database_url
    first, second = add_post(url), add_post(url, state=PostState.DRAFT)
    when = utcnow() + timedelta(days=2)
    with session_scope(url) as session:
        queue.cancel(session, first, actor="anne", reason="aflyst")
        queue.reschedule(session, second, when, actor="anne")
    assert get_post(url, first).state == PostState.CANCELLED
    assert get_post(url, second).scheduled_at == when.replace(microsecond=when.microsecond)
    assert claim(settings) == []


@pytest.mark.parametrize(
    ("error", "state", "paused"),
    [
        (RejectedError("422 too long", status=422), PostState.FAILED, False),
        (AuthError("401 expired", status=401), PostState.FAILED, True),
        (TransientError("503"), PostState.QUEUED, False),
        (TransientError("timeout after send", maybe_delivered=True), PostState.UNKNOWN, False),
        (RateLimitedError("429", retry_after=120), PostState.QUEUED, False),
    ],
)
def test_failure_classes(settings, error, state, paused):
    url = settings.database_url
    post_id = add_post(url)
    [c] = claim(settings)
    now = utcnow()
    with session_scope(url) as session:
        assert (
            queue.record_failure(
                session, c, error, now=now, settings=settings.daemon, idempotent=False
            )
            == state
        )
    post = get_post(url, post_id)
    assert post.state == state
    assert post.last_error
    with session_scope(url) as session:
        assert ("stub" in queue.paused_channels(session)) is paused
    if isinstance(error, RateLimitedError):
        assert post.next_attempt_at == now + timedelta(seconds=120)
        assert post.attempts == 0  # a rate limit does not use up an attempt
    elif state == PostState.QUEUED:
        assert now < post.next_attempt_at <= now + timedelta(seconds=2)


def test_unsure_outcome_on_idempotent_channel_is_retried(settings):
    url = settings.database_url
    post_id = add_post(url)
    [c] = claim(settings)
    with session_scope(url) as session:
        queue.record_failure(
            session,
            c,
            TransientError("timeout", maybe_delivered=True),
            now=utcnow(),
            settings=settings.daemon,
            idempotent=True,
        )
    assert get_post(url, post_id).state == PostState.QUEUED


def test_retries_are_bounded_by_max_attempts(make_settings):
    settings = make_settings()
    url = settings.database_url
    post_id = add_post(url)
    now = utcnow()
    for _ in range(settings.daemon.max_attempts):
        claims = claim(settings, now=now)
        [c] = claims
        with session_scope(url) as session:
            state = queue.record_failure(
                session,
                c,
                TransientError("503"),
                now=now,
                settings=settings.daemon,
                idempotent=False,
            )
        now += timedelta(hours=1)
    assert state == PostState.FAILED
    post = get_post(url, post_id)
    assert post.attempts == settings.daemon.max_attempts
    assert "gave up after" in post.last_error


def test_missed_outside_grace_window(settings):
    url = settings.database_url
    late = add_post(url, due=utcnow() - timedelta(minutes=30))
    too_late = add_post(url, due=utcnow() - timedelta(hours=3))
    with session_scope(url) as session:
        assert queue.mark_missed(session, now=utcnow(), grace=timedelta(hours=1)) == 1
    assert get_post(url, late).state == PostState.QUEUED
    assert get_post(url, too_late).state == PostState.MISSED


def test_resolve_unknown_by_a_person(settings):
    url = settings.database_url
    post_id = add_post(url, state=PostState.UNKNOWN)
    with session_scope(url) as session:
        queue.resolve_unknown(
            session, post_id, PostState.PUBLISHED, actor="anne", url="https://example.org/p/1"
        )
    post = get_post(url, post_id)
    assert (post.state, post.external_url) == (PostState.PUBLISHED, "https://example.org/p/1")
    with session_scope(url) as session, pytest.raises(QueueError, match="not unknown"):
        queue.resolve_unknown(session, post_id, PostState.QUEUED, actor="anne")


def test_next_due_at_includes_retries(settings):
    url = settings.database_url
    soon = utcnow() + timedelta(minutes=5)
    add_post(url, due=utcnow() + timedelta(hours=2))
    add_post(url, due=utcnow() - timedelta(minutes=1), next_attempt_at=soon)
    with session_scope(url) as session:
        assert queue.next_due_at(session, channels={"stub"}) == soon
        assert queue.next_due_at(session, channels={"facebook"}) is None

"""The review half of the state machine on a real SQLite file: reject with a comment, edit as
a new version (an approved post goes back to draft), expiry of drafts still unapproved at their
time, and what brings an expired post back (a new time, then a new approval)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlmodel import select

from comms.errors import QueueError
from comms.publishing.daemon import Daemon
from comms.queue import transitions as queue
from comms.store.db import dispose_all, get_engine, session_scope, upgrade
from comms.store.models import AuditEvent, PostState, utcnow
from tests.factories import add_post, get_post
from tests.pg import fresh_database


@pytest.fixture
def url(make_settings):
    return make_settings().database_url


def later(hours=2):
    return utcnow() + timedelta(hours=hours)


def events(url, action):
    with session_scope(url) as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.action == action)).all()
        return [(e.actor, e.post_id, e.detail) for e in rows]


# --- reject -----------------------------------------------------------------------------------


def test_reject_sends_a_draft_back_with_its_comment_and_is_audited(url):
    post_id = add_post(url, state=PostState.DRAFT, due=later(), author="anna")
    with session_scope(url) as session:
        queue.reject(session, post_id, actor="carl", comment="  Ret stavningen af Tryg Aalborg  ")
    post = get_post(url, post_id)
    assert (post.state, post.review_comment) == (
        PostState.REJECTED,
        "Ret stavningen af Tryg Aalborg",
    )
    assert events(url, "reject") == [("carl", post_id, "Ret stavningen af Tryg Aalborg")]


def test_a_rejection_needs_a_comment(url):
    post_id = add_post(url, state=PostState.DRAFT, due=later())
    with session_scope(url) as session, pytest.raises(QueueError, match="Skriv en kommentar"):
        queue.reject(session, post_id, actor="carl", comment="   ")
    assert get_post(url, post_id).state == PostState.DRAFT


@pytest.mark.parametrize("state", [PostState.QUEUED, PostState.PUBLISHED, PostState.REJECTED])
def test_only_a_draft_can_be_rejected(url, state):
    post_id = add_post(url, state=state, due=later())
    with session_scope(url) as session, pytest.raises(QueueError, match="kun en kladde"):
        queue.reject(session, post_id, actor="carl", comment="nej")
    assert get_post(url, post_id).state == state
    assert events(url, "reject") == []


# --- edit -------------------------------------------------------------------------------------


def test_editing_an_approved_post_makes_it_a_draft_that_needs_approval_again(url):
    post_id = add_post(url, state=PostState.QUEUED, due=later(), approved_by="carl", author="anna")
    with session_scope(url) as session:
        assert queue.edit(session, post_id, actor="dorte", text="Ny tekst") == 2
    post = get_post(url, post_id)
    assert (post.state, post.text, post.last_editor) == (PostState.DRAFT, "Ny tekst", "dorte")
    assert (post.approved_by, post.approved_at) == (None, None)
    assert events(url, "edit") == [("dorte", post_id, "version 2, queued -> draft")]


def test_every_edit_is_kept_as_a_version_with_its_editor(url):
    post_id = add_post(url, state=PostState.DRAFT, due=later(), author="anna", text="Første")
    with session_scope(url) as session:
        queue.edit(session, post_id, actor="bo", text="Anden", title="Ny titel")
        queue.edit(session, post_id, actor="anna", text="Tredje", link="")
        kept = [(v.number, v.text, v.title, v.editor) for v in queue.versions(session, post_id)]
    assert kept == [
        (1, "Første", "Titel", "anna"),
        (2, "Anden", "Ny titel", "bo"),
        (3, "Tredje", "Ny titel", "anna"),  # None keeps a value, "" clears it
    ]
    post = get_post(url, post_id)
    assert (post.title, post.link) == ("Ny titel", None)


def test_editing_a_rejected_post_resubmits_it_as_a_draft(url):
    post_id = add_post(url, state=PostState.DRAFT, due=later(), author="anna")
    with session_scope(url) as session:
        queue.reject(session, post_id, actor="carl", comment="For lang")
        queue.edit(session, post_id, actor="anna", text="Kortere")
    post = get_post(url, post_id)
    assert post.state == PostState.DRAFT
    assert post.review_comment == "For lang"  # the comment stays to be read with the history


@pytest.mark.parametrize(
    "state",
    [
        PostState.PUBLISHING,
        PostState.PUBLISHED,
        PostState.FAILED,
        PostState.UNKNOWN,
        PostState.CANCELLED,
    ],
)
def test_a_post_that_is_publishing_or_history_cannot_be_edited(url, state):
    post_id = add_post(url, state=state, text="Som udgivet")
    with session_scope(url) as session, pytest.raises(QueueError, match="kan ikke længere"):
        queue.edit(session, post_id, actor="anna", text="Snydt")
    assert get_post(url, post_id).text == "Som udgivet"


def test_an_edit_never_slips_into_a_post_claimed_meanwhile():
    """On PostgreSQL (read committed, no lock taken by reading) a daemon claims the approved post
    between the edit's read and its UPDATE: the compare-and-set refuses the edit."""
    with fresh_database() as pg:
        upgrade(pg)
        post_id = add_post(pg, state=PostState.QUEUED, text="Godkendt tekst")
        engine = get_engine(pg)
        claims = []

        def claim_first(conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
            if statement.startswith("UPDATE post SET") and not claims:
                with session_scope(pg) as other:
                    claims.extend(
                        queue.claim_due(
                            other,
                            worker="w",
                            now=utcnow(),
                            channels={"stub"},
                            limit=1,
                            lease=timedelta(minutes=1),
                        )
                    )

        event.listen(engine, "before_cursor_execute", claim_first)
        try:
            with session_scope(pg) as session, pytest.raises(QueueError, match="ændret imens"):
                queue.edit(session, post_id, actor="anna", text="Snydt ind")
        finally:
            event.remove(engine, "before_cursor_execute", claim_first)
        assert [c.post_id for c in claims] == [post_id]
        post = get_post(pg, post_id)
        assert (post.text, post.state) == ("Godkendt tekst", PostState.PUBLISHING)
        dispose_all()


# --- expiry -----------------------------------------------------------------------------------


def test_a_draft_unapproved_at_its_time_expires_in_the_daemons_pass_and_is_never_sent(
    make_settings, tmp_path
):
    settings = make_settings()
    url = settings.database_url
    due = add_post(url, state=PostState.DRAFT, due=utcnow() - timedelta(seconds=1))
    ahead = add_post(url, state=PostState.DRAFT, due=later())
    asap = add_post(url, state=PostState.DRAFT, due=utcnow() - timedelta(hours=1), on_approval=True)
    result = Daemon(settings).run_once()
    assert result.expired == 1
    assert [get_post(url, p).state for p in (due, ahead, asap)] == [
        PostState.EXPIRED,
        PostState.DRAFT,
        PostState.DRAFT,
    ]
    assert events(url, "expired") == [("daemon", due, None)]
    with session_scope(url) as session:
        assert queue.approve(session, [due], actor="carl") == 0  # no approval without a new time
    Daemon(settings).run_once()
    assert get_post(url, due).state == PostState.EXPIRED
    assert not (tmp_path / "stub.jsonl").exists()


def test_an_expired_post_goes_out_only_after_a_new_time_and_a_new_approval(make_settings, tmp_path):
    settings = make_settings()
    url = settings.database_url
    post_id = add_post(url, state=PostState.DRAFT, due=utcnow() - timedelta(seconds=1))
    Daemon(settings).run_once()
    soon = utcnow() + timedelta(seconds=1)
    with session_scope(url) as session:
        queue.reschedule(session, post_id, soon, actor="anna")
    assert get_post(url, post_id).state == PostState.DRAFT
    assert "expired -> draft" in events(url, "reschedule")[0][2]
    with session_scope(url) as session:
        assert queue.approve(session, [post_id], actor="carl") == 1
    Daemon(settings).run_once(now=soon + timedelta(seconds=1))
    assert get_post(url, post_id).state == PostState.PUBLISHED


def test_a_when_approved_post_goes_out_at_its_approval(make_settings):
    settings = make_settings()
    url = settings.database_url
    post_id = add_post(url, state=PostState.DRAFT, due=later(hours=24 * 30), on_approval=True)
    Daemon(settings).run_once()
    assert get_post(url, post_id).state == PostState.DRAFT
    with session_scope(url) as session:
        queue.approve(session, [post_id], actor="carl")
    assert get_post(url, post_id).scheduled_at <= utcnow()
    Daemon(settings).run_once()
    assert get_post(url, post_id).state == PostState.PUBLISHED


@pytest.mark.parametrize("state", [PostState.REJECTED, PostState.EXPIRED])
def test_a_rejected_or_expired_post_can_be_cancelled(url, state):
    post_id = add_post(url, state=state)
    with session_scope(url) as session:
        queue.cancel(session, post_id, actor="carl")
    assert get_post(url, post_id).state == PostState.CANCELLED


# --- compose and submit -----------------------------------------------------------------------


def test_compose_makes_one_draft_per_channel_of_one_story_by_its_author(url):
    when = later(5)
    with session_scope(url) as session:
        ids = queue.compose(
            session,
            actor="anna",
            channels=["stub", "hjemmeside"],
            text="Husk refleksen",
            variants={"stub": "Husk refleksen #tryg"},
            title="Refleks",
            scheduled_at=when,
            local_time="2027-01-10 08:00",
        )
    posts = [get_post(url, p) for p in ids]
    assert {p.story for p in posts} != {None}
    assert len({p.story for p in posts}) == 1
    assert [(p.channel, p.text) for p in posts] == [
        ("stub", "Husk refleksen #tryg"),
        ("hjemmeside", "Husk refleksen"),
    ]
    for p in posts:
        assert (p.state, p.author, p.last_editor, p.source) == ("draft", "anna", "anna", "compose")
        assert (p.scheduled_at, p.on_approval, p.submitted_at) == (when, False, None)
    with session_scope(url) as session:
        story = [(p.channel, p.id) for p in queue.story_posts(session, posts[0].story)]
    assert story == [("hjemmeside", ids[1]), ("stub", ids[0])]
    assert [e[:2] for e in events(url, "compose")] == [("anna", ids[0]), ("anna", ids[1])]


def test_submitting_asks_for_approval_once_and_a_rejection_hands_it_back(url):
    with session_scope(url) as session:
        [post_id] = queue.compose(session, actor="anna", channels=["stub"], text="Hej")
    assert get_post(url, post_id).on_approval  # no time given: "when approved"
    with session_scope(url) as session:
        assert queue.submit(session, [post_id], actor="anna") == 1
        assert queue.submit(session, [post_id], actor="anna") == 0
    assert get_post(url, post_id).submitted_at is not None
    with session_scope(url) as session:
        queue.reject(session, post_id, actor="carl", comment="Mangler link")
    assert get_post(url, post_id).submitted_at is None
    with session_scope(url) as session:
        queue.edit(session, post_id, actor="anna", text="Hej, se aalborg.dk")
        assert queue.submit(session, [post_id], actor="anna") == 1
    assert [e[0] for e in events(url, "submit")] == ["anna", "anna"]


def test_compose_refuses_no_channel_or_a_channel_twice(url):
    with session_scope(url) as session:
        with pytest.raises(QueueError, match="mindst én kanal"):
            queue.compose(session, actor="anna", channels=[], text="x")
        with pytest.raises(QueueError, match="to gange"):
            queue.compose(session, actor="anna", channels=["stub", "stub"], text="x")


# --- audit in bulk ----------------------------------------------------------------------------


def test_audit_in_bulk_refuses_an_unknown_field_and_writes_the_known_ones(url):
    from comms.store import audit

    upgrade(url)
    with session_scope(url) as session, pytest.raises(TypeError, match="colour, size"):
        audit.record_many(session, [{"actor": "a", "action": "x", "size": 1, "colour": 2}])
    with session_scope(url) as session:
        audit.record_many(session, [{"actor": "a", "action": "bulk:x", "detail": "d"}])
    assert events(url, "bulk:x") == [("a", None, "d")]

"""The daemon: one pass in-process, and the real `comms daemon` process with signals."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import feedparser
import pytest

from comms.publishing.daemon import Daemon
from comms.store.db import session_scope
from comms.store.models import PostState, utcnow
from tests.cli import run_comms
from tests.factories import SITE_CHANNEL, add_post, get_post, stub_channel
from tests.timing import wait_until


def deliveries(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_pass_publishes_due_approved_posts_only(make_settings, tmp_path):
    settings = make_settings()
    url = settings.database_url
    due = add_post(url)
    draft = add_post(url, state=PostState.DRAFT)
    future = add_post(url, due=utcnow() + timedelta(hours=1))
    no_adapter = add_post(url, channel="facebook")
    result = Daemon(settings).run_once()
    assert result.published == 1
    assert [d["post_id"] for d in deliveries(tmp_path / "stub.jsonl")] == [due]
    assert get_post(url, due).state == PostState.PUBLISHED
    assert get_post(url, due).external_id == f"stub-{due}"
    # the draft was due unapproved: expired, never sent
    for post_id, state in ((draft, "expired"), (future, "queued"), (no_adapter, "queued")):
        assert get_post(url, post_id).state == state


def test_late_inside_grace_is_published_outside_is_missed(make_settings, tmp_path):
    settings = make_settings()
    url = settings.database_url
    late = add_post(url, due=utcnow() - timedelta(minutes=50))
    missed = add_post(url, due=utcnow() - timedelta(minutes=70))
    result = Daemon(settings).run_once()
    assert (result.published, result.missed) == (1, 1)
    assert get_post(url, late).state == PostState.PUBLISHED
    assert get_post(url, missed).state == PostState.MISSED
    assert [d["post_id"] for d in deliveries(tmp_path / "stub.jsonl")] == [late]


def test_transient_errors_retry_with_backoff_then_publish(make_settings, tmp_path):
    settings = make_settings(channels=stub_channel(tmp_path, fail=["transient", "transient"]))
    url = settings.database_url
    post_id = add_post(url)
    daemon = Daemon(settings)
    now = utcnow()
    assert daemon.run_once(now).retrying == 1
    first_retry = get_post(url, post_id).next_attempt_at
    assert now < first_retry <= now + timedelta(seconds=settings.daemon.backoff_cap_seconds)
    assert daemon.run_once(now).published == 0  # not before its next attempt time
    assert daemon.run_once(now + timedelta(seconds=3)).retrying == 1
    assert daemon.run_once(now + timedelta(seconds=6)).published == 1
    post = get_post(url, post_id)
    assert (post.state, post.attempts) == (PostState.PUBLISHED, 3)
    assert len(deliveries(tmp_path / "stub.jsonl")) == 1


def test_auth_error_pauses_only_that_channel(make_settings, tmp_path):
    settings = make_settings(channels=stub_channel(tmp_path, fail=["auth"]) + SITE_CHANNEL)
    url = settings.database_url
    failed, waiting = add_post(url), add_post(url)
    site_post = add_post(url, channel="hjemmeside")
    result = Daemon(settings).run_once()
    assert get_post(url, failed).state == PostState.FAILED
    assert get_post(url, waiting).state == PostState.QUEUED
    assert get_post(url, site_post).state == PostState.PUBLISHED
    assert result.failed == 1
    from comms.queue import transitions as queue

    with session_scope(url) as session:
        assert queue.paused_channels(session) == {"stub"}


def test_daemon_refuses_an_old_schema(make_settings):
    settings = make_settings()
    path = settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alembic_version SET version_num = '0000_old'")
    result = run_comms("--config", str(settings.path), "daemon", "--once", timeout=60)
    assert result.returncode == 1
    assert "comms db upgrade" in result.stderr
    assert "Traceback" not in result.stderr


def _start_daemon(settings, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "comms", "--config", str(settings.path), "daemon", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.mark.slow
def test_real_daemon_publishes_on_time_to_the_site_and_stops_on_sigterm(make_settings, tmp_path):
    settings = make_settings()
    url = settings.database_url
    due_in = 2.0
    post_id = add_post(
        url,
        channel="hjemmeside",
        due=utcnow() + timedelta(seconds=due_in),
        title="Husk refleksen",
        text="Mørket er kommet. Husk refleksen!",
    )
    process = _start_daemon(settings, "--log-format", "json")
    try:
        wait_until(lambda: get_post(url, post_id).state == PostState.PUBLISHED, 20)
        post = get_post(url, post_id)
        lateness = (post.published_at - post.scheduled_at).total_seconds()
        assert 0 <= lateness < 5.0  # tick 0.5 s plus a wake-up at the due time; loaded CI
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(entry.get("post_id") == post_id and entry["level"] == "info" for entry in lines)
    feed = feedparser.parse(str(tmp_path / "site" / "feed.xml"))
    assert not feed.bozo
    assert [entry.title for entry in feed.entries] == ["Husk refleksen"]


@pytest.mark.slow
def test_sigterm_lets_the_call_in_flight_finish(make_settings, tmp_path):
    """A slow channel call in progress when SIGTERM arrives is completed and recorded."""
    settings = make_settings(channels=stub_channel(tmp_path, delay_seconds=2))
    url = settings.database_url
    first, second = add_post(url), add_post(url)
    process = _start_daemon(settings)
    try:
        wait_until(lambda: get_post(url, first).sending_at is not None, 20)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert get_post(url, first).state == PostState.PUBLISHED
    assert get_post(url, second).state == PostState.QUEUED  # released, not stuck publishing
    assert get_post(url, second).lease_owner is None
    assert [d["post_id"] for d in deliveries(tmp_path / "stub.jsonl")] == [first]


@pytest.mark.parametrize("due_offset", [-30, 0])
def test_daemon_once_exits(make_settings, due_offset, tmp_path):
    settings = make_settings()
    add_post(settings.database_url, due=utcnow() + timedelta(seconds=due_offset))
    result = run_comms("--config", str(settings.path), "daemon", "--once", timeout=60)
    assert result.returncode == 0, result.stderr
    assert "published 1" in result.stderr


def test_channel_without_its_secret_is_not_started(make_settings, tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("COMMS_TEST_UNSET", raising=False)
    settings = make_settings(channels=stub_channel(tmp_path, token_env="COMMS_TEST_UNSET"))
    post_id = add_post(settings.database_url)
    assert Daemon(settings).run_once().published == 0
    assert get_post(settings.database_url, post_id).state == PostState.QUEUED
    assert "$COMMS_TEST_UNSET is not set" in caplog.text


def test_a_retry_first_looks_for_the_post(make_settings, tmp_path):
    """The service stored the post but its answer was lost: the retry finds it, no resend."""
    settings = make_settings(channels=stub_channel(tmp_path, fail=["lost-reply"]))
    url = settings.database_url
    post_id = add_post(url)
    daemon = Daemon(settings)
    now = utcnow()
    assert daemon.run_once(now).retrying == 1
    assert daemon.run_once(now + timedelta(seconds=5)).published == 1
    assert get_post(url, post_id).state == PostState.PUBLISHED
    assert len(deliveries(tmp_path / "stub.jsonl")) == 1


def test_a_channel_with_more_to_send_commits_once_per_post(make_settings, tmp_path):
    """Each success is recorded in the same commit as the channel's next sending mark, and the
    last one alone once the channel has nothing left: every post published, audited and
    delivered once, and each post more in a pass costs about one commit (plus its share of a
    claim: three posts a claim on a channel of one call at a time), not two."""
    import sqlalchemy as sa

    from comms.store.db import get_engine
    from comms.store.models import AuditEvent

    settings = make_settings()
    url = settings.database_url
    commits: list[int] = []
    sa.event.listen(get_engine(url), "commit", lambda _connection: commits.append(1))
    daemon = Daemon(settings)

    def commits_of_a_pass(count: int) -> tuple[list[int], int]:
        posts = [add_post(url, text=f"Opslag {n}") for n in range(count)]
        commits.clear()
        assert daemon.run_once().published == count
        return posts, len(commits)

    one, alone = commits_of_a_pass(1)
    many, together = commits_of_a_pass(13)
    posts = one + many
    assert sorted(d["post_id"] for d in deliveries(tmp_path / "stub.jsonl")) == posts
    assert {get_post(url, p).state for p in posts} == {PostState.PUBLISHED}
    with session_scope(url) as session:
        audited = session.scalars(
            sa.select(AuditEvent.post_id).where(AuditEvent.action == "publish")
        ).all()
    assert sorted(audited) == posts
    per_post = (together - alone) / 12
    assert per_post <= 1.5, (alone, together)  # two commits a post would be 2.33

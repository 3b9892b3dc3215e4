"""The crisis pause: one action stops every scheduled post on a scope, posts that fall due are
held (never missed), and nothing held goes out again until a person says so.

The fast tests drive the CLI and an in-process daemon on SQLite (and the queue functions on
both databases); the slow ones run real daemon processes against a fake HTTP relay that notes
when each request arrived, and check that none arrived after the pause's commit that the pause
did not list as already under way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlmodel import col, select

from comms.publishing.daemon import Daemon
from comms.queue import transitions as queue
from comms.store.db import ensure_schema, session_scope
from comms.store.models import AuditEvent, Post, PostState, utcnow
from tests.cli import comms_cli, run_comms
from tests.factories import add_post, channel_table, get_post, stub_channel
from tests.fakes.server import Request, Response
from tests.fakes.webhook import FakeRelay
from tests.pg import BACKENDS, empty_database
from tests.test_notify import notices
from tests.timing import wait_until

cli = comms_cli()


def comms(settings, *args: str, code: int = 0) -> str:
    """The command's output; for a failure (`code` 1), also the error's message."""
    result = CliRunner().invoke(cli, ["--config", str(settings.path), *args])
    assert result.exit_code == code, result.output
    return result.output + (str(result.exception) if code else "")


def two_organisations(make_settings, tmp_path, daemon: str = ""):
    """`politi` owns the channels stub and sms; `kommune` owns web; a `team` gets notices.

    `daemon`: more keys of the [daemon] table, which the channels follow."""
    return make_settings(
        channels=daemon
        + stub_channel(tmp_path, "stub", organisation="politi")
        + stub_channel(tmp_path, "sms", organisation="politi")
        + stub_channel(tmp_path, "web", organisation="kommune")
        + stub_channel(tmp_path, "team")
        + '[notifications]\nchannel = "team"\n',
    )


def delivered(tmp_path, channel: str) -> list[int]:
    return [line["post_id"] for line in notices(tmp_path / f"{channel}.jsonl")]


def state_of(settings, post_id: int) -> str:
    return get_post(settings.database_url, post_id).state


def test_a_pause_of_an_organisation_holds_its_due_posts_and_spares_the_others(
    make_settings, tmp_path
):
    settings = two_organisations(make_settings, tmp_path)
    url = settings.database_url
    police = [add_post(url, channel="stub"), add_post(url, channel="sms")]
    council = add_post(url, channel="web")
    output = comms(settings, "pause", "--organisation", "politi", "--reason", "Ulykke i byen")
    assert "KRISESTOP 1: alle udgivelser på organisationen politi er stoppet" in output
    assert "2 opslag, der allerede var forfaldne, er tilbageholdt" in output
    Daemon(settings).run_once()
    assert [state_of(settings, p) for p in police] == [PostState.HELD, PostState.HELD]
    assert state_of(settings, council) == PostState.PUBLISHED
    assert delivered(tmp_path, "stub") == delivered(tmp_path, "sms") == []
    assert delivered(tmp_path, "web") == [council]


def test_status_shows_the_pause_since_when_by_whom_why_and_how_many_are_held(
    make_settings, tmp_path, monkeypatch
):
    settings = two_organisations(make_settings, tmp_path)
    monkeypatch.setenv("COMMS_USER", "vagtchef")
    add_post(settings.database_url, channel="stub")
    assert "Ingen krisestop" in comms(settings, "status")
    comms(settings, "pause", "--reason", "Voldsom brand på havnen")
    output = comms(settings, "status")
    assert "KRISESTOP 1: alle kanaler stoppet siden" in output
    assert "af vagtchef" in output
    assert "Årsag: Voldsom brand på havnen" in output
    assert "1 opslag tilbageholdt" in output
    with session_scope(settings.database_url) as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "crisis-pause")).one()
    assert (event.actor, event.detail) == (
        "vagtchef",
        "krisestop 1 af alle kanaler: Voldsom brand på havnen",
    )


def test_a_post_due_during_the_pause_is_held_never_missed_whatever_the_grace(
    make_settings, tmp_path
):
    settings = two_organisations(make_settings, tmp_path, "grace_minutes = 1\n")
    url = settings.database_url
    comms(settings, "pause", "--reason", "Ulykke")
    due = add_post(url, channel="stub", due=utcnow() + timedelta(minutes=5))
    # the daemon looks again only long after the post's time and its grace window
    result = Daemon(settings).run_once(now=utcnow() + timedelta(hours=3))
    assert (result.held, result.missed) == (1, 0)
    assert state_of(settings, due) == PostState.HELD


def test_a_pause_with_no_daemon_running_still_holds_at_the_resume(make_settings, tmp_path):
    settings = two_organisations(make_settings, tmp_path)
    url = settings.database_url
    comms(settings, "pause", "--reason", "Ulykke")
    falls_due = add_post(url, channel="stub", due=utcnow() + timedelta(milliseconds=300))
    later = add_post(url, channel="stub", due=utcnow() + timedelta(hours=1))
    time.sleep(0.4)
    output = comms(settings, "resume")
    assert "1 opslag er stadig tilbageholdt" in output
    assert state_of(settings, falls_due) == PostState.HELD
    assert state_of(settings, later) == PostState.QUEUED  # due after the resume: as planned


def test_resume_publishes_nothing_held_until_a_person_settles_each(make_settings, tmp_path):
    settings = two_organisations(make_settings, tmp_path)
    url = settings.database_url
    late, moved, dropped = (add_post(url, channel="stub") for _ in range(3))
    comms(settings, "pause", "--channel", "stub", "--reason", "Ulykke")
    comms(settings, "resume", "--channel", "stub")
    Daemon(settings).run_once()
    assert delivered(tmp_path, "stub") == []
    listed = comms(settings, "queue", "list", "--state", "held")
    assert "3 post(s)" in listed
    comms(settings, "release-held", str(late))
    comms(settings, "reschedule", str(moved), "2030-05-01 09:00")
    comms(settings, "cancel", str(dropped), "--reason", "passer ikke nu")
    Daemon(settings).run_once()
    assert delivered(tmp_path, "stub") == [late]
    assert state_of(settings, moved) == PostState.QUEUED
    assert state_of(settings, dropped) == PostState.CANCELLED


def test_a_held_post_is_not_published_late_while_its_channel_is_still_paused(
    make_settings, tmp_path
):
    settings = two_organisations(make_settings, tmp_path)
    post = add_post(settings.database_url, channel="stub")
    comms(settings, "pause", "--reason", "Ulykke")
    output = comms(settings, "release-held", str(post), code=1)
    assert "Kanalen stub er stadig stoppet" in output
    assert state_of(settings, post) == PostState.HELD


@pytest.mark.parametrize(
    ("flag", "state"), [("--publish-held", "queued"), ("--cancel-held", "cancelled")]
)
def test_resume_can_settle_every_held_post_at_once_audited_per_post(
    make_settings, tmp_path, monkeypatch, flag, state
):
    settings = two_organisations(make_settings, tmp_path)
    monkeypatch.setenv("COMMS_USER", "vagtchef")
    url = settings.database_url
    held = [add_post(url, channel="stub"), add_post(url, channel="sms")]
    spared = add_post(url, channel="web")
    comms(settings, "pause", "--organisation", "politi", "--reason", "Ulykke")
    comms(settings, "pause", "--organisation", "kommune", "--reason", "Ulykke")
    comms(settings, "resume", "--organisation", "politi", flag)
    assert [state_of(settings, p) for p in held] == [state, state]
    assert state_of(settings, spared) == PostState.HELD  # kommune's pause is still in force
    action = "release-held" if flag == "--publish-held" else "cancel"
    with session_scope(url) as session:
        audited = session.exec(
            select(AuditEvent.post_id).where(
                AuditEvent.action == action, AuditEvent.actor == "vagtchef"
            )
        ).all()
    assert sorted(audited) == sorted(held)


def test_pause_and_resume_are_noticed_to_the_team_once_each(make_settings, tmp_path):
    settings = two_organisations(make_settings, tmp_path)
    add_post(settings.database_url, channel="stub")
    comms(settings, "pause", "--reason", "Alvorlig ulykke")
    Daemon(settings).run_once()  # the daemon's pass does not repeat the command's notice
    comms(settings, "resume")
    Daemon(settings).run_once()
    sent = notices(tmp_path / "team.jsonl")
    assert len(sent) == 2
    assert "stoppede alle planlagte opslag på alle kanaler" in sent[0]["text"]
    assert "Årsag: Alvorlig ulykke" in sent[0]["text"]
    assert "ophævede krisestoppet på alle kanaler" in sent[1]["text"]
    assert "1 opslag er tilbageholdt" in sent[1]["text"]


def test_pause_and_status_list_the_calls_already_under_way(make_settings, tmp_path):
    settings = two_organisations(make_settings, tmp_path)
    url = settings.database_url
    flying = add_post(url, channel="stub")
    claim = claim_one(url)
    with session_scope(url) as session:
        assert queue.start_sending(session, claim, now=utcnow()) is queue.SendStart.SENDING
    for output in (comms(settings, "pause", "--reason", "Ulykke"), comms(settings, "status")):
        assert "1 opslag var allerede sendt af sted og kan ikke kaldes tilbage" in output
        assert f"│ {flying} " in output
    assert state_of(settings, flying) == PostState.PUBLISHING  # its call finishes


def test_a_pause_needs_a_reason_and_a_known_scope(make_settings, tmp_path):
    settings = two_organisations(make_settings, tmp_path)
    assert "Skriv hvorfor" in comms(settings, "pause", "--reason", "  ", code=1)
    assert "organisation 'brand'" in comms(
        settings, "pause", "--organisation", "brand", "--reason", "x", code=1
    )
    assert "unknown channel 'tv'" in comms(
        settings, "pause", "--channel", "tv", "--reason", "x", code=1
    )
    assert "intet krisestop" in comms(settings, "resume", code=1)


# --- the queue's side, on both databases -------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def url(request, tmp_path):
    with empty_database(request.param, tmp_path) as database:
        ensure_schema(database)
        yield database


def claim_one(url: str, channel: str = "stub") -> queue.Claim:
    with session_scope(url) as session:
        (claim,) = queue.claim_due(
            session,
            worker="w1",
            now=utcnow(),
            channels={channel},
            limit=1,
            lease=timedelta(minutes=5),
        )
    return claim


def make_pause(url: str, channels: list[str] | None = None) -> queue.Paused:
    with session_scope(url) as session:
        return queue.pause(session, actor="anne", reason="Ulykke", channels=channels)


def test_a_claim_not_yet_sending_when_the_pause_commits_is_held_not_sent(url):
    post = add_post(url)
    claim = claim_one(url)
    paused = make_pause(url, ["stub"])
    assert paused.in_flight == []
    with session_scope(url) as session:
        assert queue.start_sending(session, claim, now=utcnow()) is queue.SendStart.HELD
    held = get_post(url, post)
    assert (held.state, held.attempts, held.sending_at) == (PostState.HELD, 0, None)


def test_a_call_already_sending_when_the_pause_commits_is_listed_in_flight(url):
    post = add_post(url)
    other = add_post(url, channel="other")
    claim = claim_one(url)
    with session_scope(url) as session:
        assert queue.start_sending(session, claim, now=utcnow()) is queue.SendStart.SENDING
    paused = make_pause(url)
    assert [f.post_id for f in paused.in_flight] == [post]
    assert get_post(url, other).state == PostState.HELD
    with session_scope(url) as session:
        assert (
            queue.claim_due(
                session, worker="w2", now=utcnow(), channels={"other"}, limit=5, lease=timedelta(1)
            )
            == []
        )


def test_a_pause_waits_for_a_sending_mark_under_way_and_lists_it_in_flight(url):
    """(On SQLite BEGIN IMMEDIATE orders every writer; on PostgreSQL the table locks do.)"""
    post = add_post(url)
    claim = claim_one(url)
    results: dict[str, queue.Paused] = {}
    with session_scope(url) as session:
        assert queue.start_sending(session, claim, now=utcnow()) is queue.SendStart.SENDING
        pausing = threading.Thread(target=lambda: results.update(paused=make_pause(url)))
        pausing.start()
        pausing.join(0.5)
        assert pausing.is_alive(), "the pause did not wait for the sending mark under way"
    pausing.join(30)
    assert [f.post_id for f in results["paused"].in_flight] == [post]


def test_a_sending_mark_waits_for_a_pause_under_way_and_holds_its_post(url):
    post = add_post(url)
    claim = claim_one(url)
    results: dict[str, queue.SendStart] = {}

    def send() -> None:
        with session_scope(url) as session:
            results["start"] = queue.start_sending(session, claim, now=utcnow())

    with session_scope(url) as session:
        queue.pause(session, actor="anne", reason="Ulykke")
        sending = threading.Thread(target=send)
        sending.start()
        sending.join(0.5)
        assert sending.is_alive(), "the sending mark did not wait for the pause under way"
    sending.join(30)
    assert results["start"] is queue.SendStart.HELD
    assert get_post(url, post).state == PostState.HELD


def test_the_pause_is_in_the_audit_log_with_the_calls_it_could_not_stop(url):
    post = add_post(url)
    claim = claim_one(url)
    with session_scope(url) as session:
        queue.start_sending(session, claim, now=utcnow())
    make_pause(url)
    with session_scope(url) as session:
        detail = session.exec(
            select(AuditEvent.detail).where(col(AuditEvent.action) == "crisis-pause")
        ).one()
        held = session.exec(select(Post).where(Post.state == PostState.HELD)).all()
    assert detail == f"krisestop 1 af alle kanaler: Ulykke (i gang: {post})"
    assert held == []


# --- real daemons, real HTTP: nothing leaves after the pause's commit ----------------------------

SECRET_ENV = "COMMS_TEST_CRISIS_HOOK"
SECRET = "crisis-hook-secret"


class SlowRelay(FakeRelay):
    """A relay that takes `latency` seconds to answer, as a real service does, so several calls
    are under way at any moment."""

    def __init__(self, latency: float) -> None:
        super().__init__(SECRET)
        self.latency = latency

    def receive(self, request: Request) -> Response:
        time.sleep(self.latency)
        return super().receive(request)

    def arrivals(self) -> list[tuple[float, int]]:
        """(when it arrived, post id) of every publishing request."""
        with self._lock:
            return [(r.received_at, int(r.json["id"])) for r in self.calls("POST", "/hooks/")]


def insert_due_posts(url: str, channels: list[str], count: int) -> None:
    now = utcnow()
    rows = [
        {
            "source": "plan",
            "campaign": "karneval",
            "channel": channels[i % len(channels)],
            "title": f"Karneval {i}",
            "text": f"Kom til karneval! ({i})",
            "scheduled_at": now - timedelta(seconds=1),
            "state": PostState.QUEUED,
            "approved_by": "anne",
            "approved_at": now,
            "idempotency_key": uuid.uuid4().hex,
            "attempts": 0,
            "dst_adjusted": False,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(count)
    ]
    with session_scope(url) as session:
        session.execute(sa.insert(Post), rows)


def write_config(folder: Path, url: str, relays: dict[str, SlowRelay]) -> Path:
    channels = "".join(
        channel_table(
            name,
            "webhook",
            url=relay.hook_url,
            secret_env=SECRET_ENV,
            organisation="politi",
            max_concurrency=4,
        )
        for name, relay in relays.items()
    )
    path = folder / "comms.toml"
    path.write_text(
        f'timezone = "Europe/Copenhagen"\n[database]\nurl = "{url}"\n'
        "[daemon]\ntick_seconds = 0.3\ngrace_minutes = 0.05\nlease_seconds = 60\n" + channels,
        encoding="utf-8",
    )
    return path


def start_daemons(config: Path, count: int, folder: Path) -> list[subprocess.Popen]:
    env = {**os.environ, SECRET_ENV: SECRET, "PYTHONUNBUFFERED": "1"}
    processes = []
    for number in range(count):
        with (folder / f"daemon-{number}.log").open("w") as log:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "comms", "--config", str(config), "daemon"],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
    return processes


def stop_daemons(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def counts(url: str) -> dict[str, int]:
    with session_scope(url) as session:
        rows = session.exec(select(Post.state, sa.func.count()).group_by(col(Post.state))).all()
    return dict(rows)


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "daemons"), [("sqlite", 2), ("postgresql", 3)])
def test_no_request_leaves_after_the_pause_commits_with_500_posts_due(tmp_path, backend, daemons):
    relays = {"politi_fb": SlowRelay(0.02), "politi_x": SlowRelay(0.02)}
    with (
        empty_database(backend, tmp_path) as url,
        relays["politi_fb"],
        relays["politi_x"],
    ):
        ensure_schema(url)
        config = write_config(tmp_path, url, relays)
        processes = start_daemons(config, daemons, tmp_path)
        logs = [tmp_path / f"daemon-{n}.log" for n in range(daemons)]
        # the posts come once every daemon runs: the grace window is short (3 s)
        wait_until(lambda: all("started" in log.read_text() for log in logs), timeout=60)
        insert_due_posts(url, sorted(relays), 500)

        def arrivals() -> list[tuple[float, int]]:
            return sorted(a for relay in relays.values() for a in relay.arrivals())

        try:
            wait_until(lambda: len(arrivals()) >= 60, timeout=90)
            with session_scope(url) as session:
                paused = queue.pause(session, actor="vagtchef", reason="Alvorlig ulykke")
            committed = time.time()
            flying = {f.post_id for f in paused.in_flight}
            sent_before = len([a for a in arrivals() if a[0] <= committed])
            assert 60 <= sent_before < 500, "the pause did not fall while posts went out"
            # posts that fall due during the pause, and a wait beyond their grace window
            during = [
                add_post(url, channel="politi_fb", due=utcnow() + timedelta(seconds=1))
                for _ in range(3)
            ]
            time.sleep(1 + 0.05 * 60 + 1.5)
            wait_until(lambda: counts(url).get(PostState.PUBLISHING, 0) == 0, timeout=30)

            late = [pid for at, pid in arrivals() if at > committed]
            assert set(late) <= flying, f"sent after the pause: {sorted(set(late) - flying)}"
            states = counts(url)
            delivered = [pid for _at, pid in arrivals()]
            assert len(delivered) == len(set(delivered)), "a post went out twice"
            assert states.get(PostState.PUBLISHED, 0) == len(delivered)
            assert states.get(PostState.HELD, 0) == 503 - len(delivered)
            assert PostState.MISSED not in states
            assert PostState.QUEUED not in states
            assert {state_of_url(url, p) for p in during} == {PostState.HELD}

            # the resume lifts the pause; nothing held goes out by itself, later posts do
            env = {**os.environ, SECRET_ENV: SECRET}
            result = run_comms("--config", str(config), "resume", env=env)
            assert result.returncode == 0, result.stderr
            planned = add_post(url, channel="politi_x", due=utcnow() + timedelta(seconds=1))
            wait_until(lambda: state_of_url(url, planned) == PostState.PUBLISHED, timeout=30)
            time.sleep(1)
            assert len(arrivals()) == len(delivered) + 1
            assert counts(url).get(PostState.HELD, 0) == 503 - len(delivered)

            # a person settles them all: paused again, resumed with --publish-held
            assert run_comms("--config", str(config), "pause", "--reason", "igen").returncode == 0
            result = run_comms("--config", str(config), "resume", "--publish-held", env=env)
            assert result.returncode == 0, result.stderr
            wait_until(lambda: counts(url).get(PostState.PUBLISHED, 0) == 504, timeout=120)
            every = [pid for _at, pid in arrivals()]
            assert len(every) == len(set(every)) == 504
        finally:
            stop_daemons(processes)


def state_of_url(url: str, post_id: int) -> str:
    return get_post(url, post_id).state

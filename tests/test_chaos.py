"""Crashes, ambiguous answers, downtime and clock jumps: never published twice, never lost.

The first test runs `bench/chaos` as CI does (200 SIGKILL/restart cycles of the real daemon).
The others are focused cases (docs/reliability.md §8), each against a fake service on 127.0.0.1 and
a real adapter: Mastodon honours `Idempotency-Key` (the `idempotent` case), LinkedIn has no key
and is found again only by looking through the page's posts (the `plain` case). The last tests
document, against APScheduler itself, why no post is ever an APScheduler job or cron trigger.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from comms.config import load_settings
from comms.publishing.daemon import Daemon
from comms.queue.reconcile import reconcile_all
from comms.store.models import PostState, utcnow
from comms.timeutil import local_to_utc
from tests.cli import run_comms
from tests.factories import add_post, get_post
from tests.fakes.linkedin import FakeLinkedin
from tests.fakes.mastodon import FakeMastodon
from tests.timing import wait_until

pytestmark = pytest.mark.slow  # real servers, browsers, many processes or long loops

ROOT = Path(__file__).resolve().parent.parent
LEASE = 2.0  # seconds; a dead daemon's claim is reaped by a pass this much later
KINDS = ["idempotent", "plain"]
LIST_UNKNOWN = ["queue", "list", "--state", "unknown", "--format", "json"]


# --- fakes and config ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mastodon_server() -> Iterator[FakeMastodon]:
    with FakeMastodon(token="chaos-m") as fake:
        yield fake


@pytest.fixture(scope="module")
def linkedin_server() -> Iterator[FakeLinkedin]:
    with FakeLinkedin(token="chaos-l") as fake:
        yield fake


@pytest.fixture
def service(request, mastodon_server, linkedin_server, monkeypatch, make_settings):
    """(fake, settings, channel name) for the parametrised kind, fake emptied, tokens set."""
    monkeypatch.setenv("COMMS_TEST_MASTODON", "chaos-m")
    monkeypatch.setenv("COMMS_TEST_LINKEDIN", "chaos-l")
    kind = request.param
    fake = mastodon_server if kind == "idempotent" else linkedin_server
    fake.reset()
    settings = make_settings(channels=f"[channels.social]\n{channel_options(kind, fake.url)}\n")
    text = settings.path.read_text().replace("[daemon]", f"[daemon]\nlease_seconds = {LEASE}")
    settings.path.write_text(text)
    return fake, load_settings(settings.path), "social"


def channel_options(kind: str, url: str) -> str:
    if kind == "idempotent":
        return (
            f'type = "mastodon"\nbase_url = "{url}"\ntoken_env = "COMMS_TEST_MASTODON"\n'
            "timeout_seconds = 0.5"
        )
    return (
        f'type = "linkedin"\nbase_url = "{url}"\norganization_id = "2414183"\n'
        'token_env = "COMMS_TEST_LINKEDIN"\ntimeout_seconds = 0.5'
    )


def made(fake) -> list[str]:  # type: ignore[no-untyped-def]
    """Ids of the posts the service holds."""
    if isinstance(fake, FakeMastodon):
        return list(fake.statuses)
    return [p.urn for p in fake.posts]


def creates(fake) -> int:  # type: ignore[no-untyped-def]
    path = "/api/v1/statuses" if isinstance(fake, FakeMastodon) else "/rest/posts"
    return len(fake.calls("POST", f"^{path}$"))


def later(seconds: float = LEASE + 1) -> datetime:
    return utcnow() + timedelta(seconds=seconds)


def run_daemon_until_it_dies(settings, kill_at: str) -> int:  # type: ignore[no-untyped-def]
    """The real `comms daemon` with a kill point armed; returns its exit code."""
    process = run_comms(
        "--config",
        str(settings.path),
        "daemon",
        env={**os.environ, "COMMS_KILL_AT": kill_at, "COMMS_KILL_RATE": "1"},
        timeout=60,
    )
    return process.returncode


def settle(settings, post_id: int) -> str:  # type: ignore[no-untyped-def]
    """What the daemon and reconciliation make of a post after its lease ran out."""
    Daemon(settings).run_once(later())
    if get_post(settings.database_url, post_id).state == PostState.UNKNOWN:
        reconcile_all(settings)
    return get_post(settings.database_url, post_id).state


# --- the harness, as CI runs it --------------------------------------------------------------


def test_chaos_harness_200_kill_restart_cycles():
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "chaos"), "--cycles", "200", "--seed", "4"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    lines = result.stdout.strip().splitlines()
    assert lines, result.stderr
    match = re.fullmatch(
        r"RESULT chaos cycles=(\d+) duplicates=(\d+) lost=(\d+) unknown=(\d+)", lines[-1]
    )
    assert match, result.stdout + result.stderr
    cycles, duplicates, lost, _unknown = map(int, match.groups())
    assert (cycles, duplicates, lost) == (200, 0, 0), result.stderr
    assert result.returncode == 0, result.stderr
    print(lines[-1], f"({time.monotonic() - started:.0f} s)")


# --- §8.1 and §8.2: a crash at either side of the call -----------------------------------------


def crashed(service, kill_at: str, text: str):  # type: ignore[no-untyped-def]
    """A due post on the service's channel, and a daemon killed (SIGKILL) at `kill_at` while
    publishing it: the fake, settings, channel and the post's id."""
    fake, settings, channel = service
    post_id = add_post(settings.database_url, channel=channel, text=text)
    assert run_daemon_until_it_dies(settings, kill_at) == 137
    return fake, settings, channel, post_id


@pytest.mark.parametrize("service", KINDS, indirect=True)
def test_crash_between_the_services_success_and_the_commit(service):
    """Killed after the 2xx, before the database knew: reconciled to published, made once."""
    fake, settings, channel, post_id = crashed(service, "after_call", "Husk refleksen i mørket")
    post = get_post(settings.database_url, post_id)
    assert (post.state, post.sending_at is not None) == (PostState.PUBLISHING, True)
    assert len(made(fake)) == 1

    Daemon(settings).run_once(later())
    post = get_post(settings.database_url, post_id)
    if isinstance(fake, FakeLinkedin):
        # no key: the outcome is unknown until someone asks the service
        assert post.state == PostState.UNKNOWN
        listed = run_comms("--config", str(settings.path), *LIST_UNKNOWN, timeout=60)
        assert [p["id"] for p in json.loads(listed.stdout)] == [post_id]
        assert reconcile_all(settings) == [f"post {post_id}: found on {channel} -> published"]
    post = get_post(settings.database_url, post_id)
    assert post.state == PostState.PUBLISHED
    assert made(fake) == [post.external_id]


@pytest.mark.parametrize("service", KINDS, indirect=True)
def test_crash_after_claim_before_sending_requeues_and_publishes_once(service):
    fake, settings, _, post_id = crashed(service, "after_claim", "Tjek røgalarmen")
    post = get_post(settings.database_url, post_id)
    assert (post.state, post.sending_at) == (PostState.PUBLISHING, None)
    assert creates(fake) == 0

    result = Daemon(settings).run_once(later())
    assert result.reaped == 1
    post = get_post(settings.database_url, post_id)
    assert (post.state, post.attempts) == (PostState.PUBLISHED, 1)  # the dead claim is no attempt
    assert creates(fake) == 1
    assert len(made(fake)) == 1


@pytest.mark.parametrize("service", KINDS, indirect=True)
def test_crash_after_marking_sending_is_never_a_silent_resend(service):
    """§8.3: sending recorded, request never left: requeued only where the key makes it safe."""
    fake, settings, _, post_id = crashed(service, "before_call", "Luk vinduet for natten")
    assert creates(fake) == 0
    state = settle(settings, post_id)
    if isinstance(fake, FakeMastodon):
        assert state == PostState.PUBLISHED
    else:
        assert state == PostState.UNKNOWN  # absent on the service; a person decides
    assert len(made(fake)) == (1 if state == PostState.PUBLISHED else 0)


# --- §8.4 and §8.5: the service made the post, the answer went wrong ----------------------------


@pytest.mark.parametrize("service", KINDS, indirect=True)
@pytest.mark.parametrize("fault", ["after-500", "after-timeout"])
def test_ambiguous_answer_after_the_post_was_made(service, fault):
    fake, settings, channel = service
    post_id = add_post(settings.database_url, channel=channel, text="Pas på glat føre")
    fake.fail_next(fault, delay=1.0)  # longer than the client's 0.5 s read timeout
    daemon = Daemon(settings)
    first = daemon.run_once()
    assert creates(fake) == 1  # the transport did not retry the POST
    assert len(made(fake)) == 1
    if isinstance(fake, FakeMastodon):
        # the key makes a resend safe: back in the queue; the next attempt finds the status
        # (a lookup, or a resend under the same key that returns it)
        assert first.retrying == 1
        daemon.run_once(later(5))
        assert creates(fake) <= 2
    else:
        assert first.unknown == 1
        assert get_post(settings.database_url, post_id).state == PostState.UNKNOWN
        wait_until(fake.idle, timeout=10)  # the fake finishes its late answer
        reconcile_all(settings)
        assert creates(fake) == 1
    post = get_post(settings.database_url, post_id)
    assert post.state == PostState.PUBLISHED
    assert len(made(fake)) == 1


# --- §8.13: downtime across due times --------------------------------------------------------


@pytest.mark.parametrize("service", ["idempotent"], indirect=True)
def test_downtime_publishes_late_inside_the_grace_window_and_marks_the_rest(service):
    fake, settings, channel = service
    url = settings.database_url
    now = utcnow()
    late = add_post(url, channel=channel, due=now - timedelta(minutes=40), text="Sent men med")
    gone = add_post(url, channel=channel, due=now - timedelta(hours=3), text="For sent")
    Daemon(settings).run_once(now)
    assert get_post(url, late).state == PostState.PUBLISHED
    assert get_post(url, gone).state == PostState.MISSED  # visible, never vanished
    assert len(made(fake)) == 1


def test_an_overdue_apscheduler_date_job_is_silently_dropped():
    """Why posts are rows, not APScheduler jobs: a `date` job overdue at start never runs."""
    from apscheduler.events import EVENT_JOB_MISSED
    from apscheduler.schedulers.background import BackgroundScheduler

    ran, missed = threading.Event(), threading.Event()
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_listener(lambda _event: missed.set(), EVENT_JOB_MISSED)
    scheduler.add_job(ran.set, "date", run_date=datetime.now(UTC) - timedelta(seconds=5))
    scheduler.start()
    try:
        assert missed.wait(10)
        assert not ran.is_set()
        assert scheduler.get_jobs() == []  # gone from the store as well
    finally:
        scheduler.shutdown(wait=False)


# --- §8.12: DST ------------------------------------------------------------------------------


def test_apscheduler_crontrigger_fires_twice_on_the_fall_back_night():
    """Why no post is ever driven by CronTrigger: 02:30 on 2026-10-25 Copenhagen fires twice."""
    from apscheduler.triggers.cron import CronTrigger

    zone = ZoneInfo("Europe/Copenhagen")
    trigger = CronTrigger(hour=2, minute=30, timezone=zone)
    fires, previous, now = [], None, datetime(2026, 10, 24, 12, 0, tzinfo=zone)
    while True:
        fire = trigger.get_next_fire_time(previous, now)
        if fire.date() > date(2026, 10, 25):
            break
        fires.append(fire.astimezone(UTC))
        previous = now = fire
    assert fires == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
    ]
    # comms resolves the wall time once, to the first 02:30 (summer time), and never both
    assert local_to_utc(date(2026, 10, 25), wall(2, 30), zone).utc == fires[0]


# --- §8.11: clock jumps ------------------------------------------------------------------------


@pytest.mark.parametrize("service", KINDS, indirect=True)
def test_clock_jumps_neither_double_publish_nor_skip(service):
    fake, settings, channel = service
    url = settings.database_url
    daemon = Daemon(settings)
    start = utcnow().replace(microsecond=0)
    first = add_post(url, channel=channel, due=start, text="Opslag et")
    jumped = [
        add_post(url, channel=channel, due=start + timedelta(minutes=m), text=f"Opslag {m}")
        for m in (10, 30, 50)
    ]
    after = add_post(url, channel=channel, due=start + timedelta(hours=3), text="Opslag senere")

    assert daemon.run_once(start + timedelta(seconds=1)).published == 1
    # backward by an hour right after publishing: nothing is due again, nothing is resent
    assert daemon.run_once(start - timedelta(hours=1)).published == 0
    # forward by an hour: everything that became due in the jump goes out, once each
    assert daemon.run_once(start + timedelta(hours=1)).published == 3
    # and back to the true time: nothing twice
    assert daemon.run_once(start + timedelta(seconds=2)).published == 0
    assert daemon.run_once(start + timedelta(hours=1)).published == 0
    for post_id in [first, *jumped]:
        assert get_post(url, post_id).state == PostState.PUBLISHED
    assert get_post(url, after).state == PostState.QUEUED  # not skipped, not early
    assert daemon.run_once(start + timedelta(hours=3, seconds=1)).published == 1
    assert len(made(fake)) == 5
    assert creates(fake) == 5


@pytest.mark.parametrize("service", ["idempotent"], indirect=True)
def test_a_forward_jump_beyond_the_grace_window_skips_nothing(service):
    _fake, settings, channel = service
    url = settings.database_url
    daemon = Daemon(settings)
    start = utcnow().replace(microsecond=0)
    soon = add_post(url, channel=channel, due=start + timedelta(minutes=10), text="Om lidt")
    assert daemon.run_once(start).published == 0
    daemon.run_once(start + timedelta(hours=2))  # the clock leaps two hours ahead
    assert get_post(url, soon).state == PostState.PUBLISHED

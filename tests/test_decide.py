"""What a failed attempt means (comms.queue.policy.decide), and the daemon applying it."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from comms.config import DaemonSettings
from comms.errors import AuthError, RateLimitedError, RejectedError, TransientError
from comms.publishing.daemon import Daemon
from comms.queue.policy import Outcome, decide
from comms.store.models import PostState
from comms.timeutil import fixed_clock
from tests.factories import add_post, get_post, stub_channel

NOW = datetime(2027, 2, 13, 11, 0, tzinfo=UTC)
SETTINGS = DaemonSettings()


def verdict(error: BaseException, *, idempotent: bool = False, attempt: int = 1, age_hours=0):
    return decide(
        error,
        attempt=attempt,
        scheduled_at=NOW - timedelta(hours=age_hours),
        now=NOW,
        settings=SETTINGS,
        idempotent=idempotent,
        rng=random.Random(7),
    )


@pytest.mark.parametrize("idempotent", [False, True])
def test_a_rate_limit_waits_as_told_and_uses_no_attempt(idempotent: bool) -> None:
    decision = verdict(RateLimitedError("429", retry_after=90), idempotent=idempotent)
    assert (decision.outcome, decision.state) == (Outcome.RATE_LIMITED, PostState.QUEUED)
    assert decision.retry_in == 90
    assert decision.refund_attempt


def test_bad_credentials_fail_the_post_and_pause_the_channel() -> None:
    decision = verdict(AuthError("401"))
    assert (decision.state, decision.pause_channel) == (PostState.FAILED, True)


def test_a_refusal_fails_the_post_without_pausing() -> None:
    decision = verdict(RejectedError("422"))
    assert (decision.state, decision.pause_channel) == (PostState.FAILED, False)


def test_a_failure_before_sending_is_retried_with_backoff() -> None:
    decision = verdict(TransientError("503", maybe_delivered=False))
    assert (decision.outcome, decision.state) == (Outcome.TRANSIENT, PostState.QUEUED)
    assert decision.retry_in is not None
    assert decision.retry_in >= 1


@pytest.mark.parametrize(
    "error",
    [
        TransientError("read timeout", maybe_delivered=True),
        KeyError("id"),
        ValueError("bad JSON"),
        RuntimeError("anything the adapters do not classify"),
    ],
    ids=["unsure-transient", "key-error", "value-error", "runtime-error"],
)
def test_what_may_have_arrived_is_unknown_on_a_channel_without_idempotency(error) -> None:
    decision = verdict(error)
    assert (decision.outcome, decision.state) == (Outcome.UNKNOWN, PostState.UNKNOWN)
    assert decision.retry_in is None


@pytest.mark.parametrize("error", [TransientError("timeout", maybe_delivered=True), KeyError("x")])
def test_an_idempotent_channel_may_be_asked_again(error) -> None:
    assert verdict(error, idempotent=True).state == PostState.QUEUED


def test_retries_stop_after_the_last_attempt_or_when_the_post_is_too_old() -> None:
    last = verdict(TransientError("503"), attempt=SETTINGS.max_attempts)
    assert (last.outcome, last.state) == (Outcome.EXHAUSTED, PostState.FAILED)
    assert last.note
    assert "gave up after" in last.note
    old = verdict(TransientError("503"), age_hours=SETTINGS.max_age_hours + 1)
    assert old.state == PostState.FAILED


def test_the_daemon_never_resends_after_an_unclassified_error(make_settings, tmp_path) -> None:
    settings = make_settings(channels=stub_channel(tmp_path, fail=["crash"]))
    post_id = add_post(settings.database_url)
    Daemon(settings).run_once()
    assert get_post(settings.database_url, post_id).state == PostState.UNKNOWN
    Daemon(settings).run_once()  # a second pass must not send it again
    log = (tmp_path / "stub.jsonl").read_text().splitlines()
    assert [json.loads(line)["post_id"] for line in log] == [post_id]


def test_the_daemon_runs_on_the_clock_it_is_given(make_settings) -> None:
    settings = make_settings()
    url = settings.database_url
    noon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    due = add_post(url, due=noon - timedelta(minutes=1))
    later = add_post(url, due=noon + timedelta(minutes=1))
    assert Daemon(settings, clock=fixed_clock(noon)).run_once().published == 1
    assert get_post(url, due).state == PostState.PUBLISHED
    assert get_post(url, later).state == PostState.QUEUED

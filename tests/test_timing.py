"""Retry policy, rate limiter and publisher on a fake clock: each wait is checked, none slept."""

from __future__ import annotations

import itertools
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from comms.channels.base import OutgoingPost, Receipt
from comms.channels.settings import ChannelSettings
from comms.channels.stub import StubChannel
from comms.config import DaemonSettings
from comms.errors import RateLimitedError
from comms.publishing.publisher import Publisher
from comms.publishing.ratelimit import TokenBucket
from comms.queue.policy import backoff_seconds, may_retry
from comms.store.models import PostState
from comms.timeutil import system_clock
from tests.factories import add_post, get_post
from tests.timing import FakeClock

POLICY = DaemonSettings(
    backoff_base_seconds=30, backoff_cap_seconds=600, max_attempts=3, max_age_hours=2
)
DUE = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)


# --- retry policy -------------------------------------------------------------------------------


@pytest.mark.parametrize(("attempt", "ceiling"), [(1, 30), (2, 60), (3, 120), (5, 480), (6, 600)])
def test_backoff_is_full_jitter_under_a_doubling_ceiling_capped(attempt: int, ceiling: int) -> None:
    rng = random.Random(attempt)
    waits = [backoff_seconds(attempt, POLICY, rng) for _ in range(2000)]
    assert all(1.0 <= w <= ceiling for w in waits)
    assert max(waits) > 0.95 * ceiling  # the whole range is used, not just its bottom
    assert min(waits) < 1.1 * max(1.0, 0.05 * ceiling)


def test_backoff_never_waits_under_a_second_and_repeats_with_its_seed() -> None:
    tiny = DaemonSettings(backoff_base_seconds=0.1, backoff_cap_seconds=0.2)
    assert all(backoff_seconds(1, tiny, random.Random(n)) == 1.0 for n in range(50))
    assert backoff_seconds(4, POLICY, random.Random(7)) == backoff_seconds(
        4, POLICY, random.Random(7)
    )
    assert backoff_seconds(0, POLICY, random.Random(1)) <= 30  # attempt 0 counts as the first


@pytest.mark.parametrize(
    ("attempts", "late", "allowed"),
    [
        (1, timedelta(0), True),
        (2, timedelta(hours=2), True),  # exactly at the max age: still allowed
        (2, timedelta(hours=2, seconds=1), False),
        (3, timedelta(0), False),  # max_attempts used up
        (0, timedelta(hours=-1), True),  # retried before it was due (clock skew)
    ],
)
def test_may_retry_counts_attempts_and_age_at_the_given_now(
    attempts: int, late: timedelta, allowed: bool
) -> None:
    now = DUE + late
    assert may_retry(attempts=attempts, scheduled_at=DUE, now=now, settings=POLICY) is allowed


# --- token bucket -------------------------------------------------------------------------------


def test_bucket_spaces_calls_60_over_rate_seconds_apart() -> None:
    clock = FakeClock()
    bucket = TokenBucket(6, clock=clock)  # 6 a minute: one every 10 s
    assert bucket.try_take() == 0.0
    assert bucket.try_take() == pytest.approx(10.0)
    clock.advance(4)
    assert bucket.try_take() == pytest.approx(6.0)
    clock.advance(6)
    assert bucket.try_take() == 0.0
    clock.advance(3600)  # an idle hour saves up no burst beyond the capacity of 1
    assert bucket.try_take() == 0.0
    assert bucket.try_take() == pytest.approx(10.0)


def test_bucket_with_a_capacity_allows_a_burst_then_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(60, capacity=3, clock=clock)
    assert [bucket.try_take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.try_take() == pytest.approx(1.0)


def test_hold_stops_every_caller_then_refills_from_empty() -> None:
    clock = FakeClock()
    bucket = TokenBucket(6, capacity=5, clock=clock)
    bucket.hold(30)
    assert bucket.try_take() == pytest.approx(30.0)
    clock.advance(29)
    assert bucket.try_take() == pytest.approx(1.0)
    bucket.hold(0.5)  # a shorter hold does not shorten the running one …
    assert bucket.try_take() == pytest.approx(1.0)
    bucket.hold(5)  # … a longer one extends it
    assert bucket.try_take() == pytest.approx(5.0)
    clock.advance(5)
    # the hold emptied the bucket: the first token comes one interval (10 s) after it ends
    assert bucket.try_take() == pytest.approx(10.0)
    clock.advance(10)
    assert bucket.try_take() == 0.0
    assert bucket.try_take() == pytest.approx(10.0)  # one token, not a burst of five


def test_take_sleeps_exactly_until_the_token_is_due() -> None:
    clock = FakeClock()
    bucket = TokenBucket(6, clock=clock, sleep=clock.sleep)
    start = clock()
    assert all(bucket.take() for _ in range(4))
    assert clock() - start == pytest.approx(30.0)
    assert clock.slept == pytest.approx([10.0, 10.0, 10.0])


def test_take_gives_up_when_stopped_while_waiting() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1, clock=clock, sleep=clock.sleep)
    stop = threading.Event()
    assert bucket.take(stop)
    stop.set()
    assert bucket.take(stop) is False
    assert clock.slept == pytest.approx([60.0])


def test_bucket_refuses_a_rate_of_zero() -> None:
    with pytest.raises(ValueError, match="above 0"):
        TokenBucket(0)


# --- publisher ----------------------------------------------------------------------------------


def _stub(name: str, **options: object) -> StubChannel:
    return StubChannel(ChannelSettings(name=name, type="stub", options=dict(options)))


class Recording(StubChannel):
    """A stub channel that notes on the fake clock when each post went out."""

    def __init__(self, name: str, clock: FakeClock, sent: list, **options: object) -> None:
        super().__init__(ChannelSettings(name=name, type="stub", options=dict(options)))
        self.clock, self.sent, self.then = clock, sent, None

    def publish(self, post: OutgoingPost) -> Receipt:
        self.sent.append((post.channel, post.post_id, self.clock()))
        if self.then is not None:
            self.then()
        return Receipt(external_id=f"rec-{post.post_id}", url=None)


def _publisher(url: str, adapters: dict, stopping: threading.Event, clock: FakeClock) -> Publisher:
    return Publisher(
        adapters,
        stopping,
        url=url,
        worker="test-worker",
        settings=DaemonSettings(),
        bucket_clock=clock.__call__,
        bucket_sleep=clock.sleep,
    )


def test_publisher_keeps_a_rated_channel_to_its_rate_and_the_others_unthrottled(
    make_settings,
) -> None:
    url = make_settings().database_url
    clock, sent = FakeClock(), []
    adapters = {
        "slow": Recording("slow", clock, sent, rate_per_minute=6),
        "fast": Recording("fast", clock, sent),
    }
    slow = [add_post(url, channel="slow") for _ in range(4)]
    fast = [add_post(url, channel="fast") for _ in range(3)]
    publisher = _publisher(url, adapters, threading.Event(), clock)
    try:
        states = publisher.drain({"slow", "fast"}, clock=system_clock)
    finally:
        publisher.close()
    assert states == dict.fromkeys(slow + fast, "published")
    times = [at for channel, _id, at in sent if channel == "slow"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps == pytest.approx([10.0, 10.0, 10.0])  # one token every 10 s, slept not waited
    assert sorted(clock.slept) == pytest.approx([10.0, 10.0, 10.0])
    assert all(get_post(url, i).state == PostState.PUBLISHED for i in slow + fast)


def test_a_429_holds_the_channel_bucket_for_the_retry_after(tmp_path: Path) -> None:
    clock = FakeClock()
    log = tmp_path / "deliveries.jsonl"
    adapter = _stub("hold", rate_per_minute=60, fail=["rate-limited"], path=str(log))
    publisher = _publisher("sqlite://", {"hold": adapter}, threading.Event(), clock)
    post = OutgoingPost(post_id=1, idempotency_key="k1", channel="hold", text="hej")
    bucket = publisher.buckets["hold"]
    assert bucket.try_take() == 0.0
    clock.advance(1)
    with pytest.raises(RateLimitedError):
        publisher.call(adapter, post)
    assert bucket.try_take() == pytest.approx(1.0)  # the stub's Retry-After: 1
    clock.advance(1)
    assert bucket.try_take() == pytest.approx(1.0)  # then one interval of the rate (60/min)
    clock.advance(1)
    assert bucket.try_take() == 0.0
    assert not log.exists()  # nothing was delivered


def test_a_stopped_publisher_releases_its_claims_instead_of_waiting_for_tokens(
    make_settings,
) -> None:
    url = make_settings().database_url
    clock, sent, stopping = FakeClock(), [], threading.Event()
    adapter = Recording("slow", clock, sent, rate_per_minute=1)
    adapter.then = stopping.set  # the first call stops the daemon
    ids = [add_post(url, channel="slow") for _ in range(3)]
    publisher = _publisher(url, {"slow": adapter}, stopping, clock)
    try:
        states = publisher.drain({"slow"}, clock=system_clock)
    finally:
        publisher.close()
    assert states == {ids[0]: "published"}
    for post_id in ids[1:]:  # given back, not sent after the stop
        post = get_post(url, post_id)
        assert (post.state, post.lease_owner) == (PostState.QUEUED, None)
    assert [post_id for _c, post_id, _at in sent] == [ids[0]]


def test_claims_held_grow_with_a_fast_channel_and_stay_within_the_lease() -> None:
    """A channel measured to answer fast is claimed in bigger batches, never more than it sends
    in a quarter of the lease nor MAX_BATCH; a rated channel only what its bucket lets out then."""
    from comms.publishing.publisher import MAX_BATCH

    adapters = {
        "fast": _stub("fast"),
        "wide": _stub("wide", max_concurrency=3),
        "rated": _stub("rated", rate_per_minute=6),
        "often": _stub("often", rate_per_minute=600),
    }
    publisher = Publisher(
        adapters,
        threading.Event(),
        url="sqlite://",
        worker="test-worker",
        settings=DaemonSettings(lease_seconds=20),
    )
    assert publisher.backlog("fast") == 4  # nothing measured yet: twice its concurrency plus two
    assert publisher.backlog("wide") == 8
    assert publisher.backlog("rated") == 1  # one token now, the next after 10 s: past 5 s
    assert publisher.backlog("often") == 4  # 51 tokens in 5 s, but no more than a slow channel
    publisher._paced("fast", 0.5)  # 5 s of the lease: 10 posts
    assert publisher.backlog("fast") == 10
    publisher._paced("wide", 0.5)  # three at a time
    assert publisher.backlog("wide") == MAX_BATCH
    for _ in range(50):
        publisher._paced("fast", 4.0)  # it slowed down: back to the least
    assert publisher.backlog("fast") == 4
    publisher._paced("fast", 0.001)  # one fast call moves the pace a fifth of the way only
    assert publisher.backlog("fast") == 4


def test_a_channel_claimed_in_a_big_batch_leaves_the_other_channels_their_threads(
    make_settings,
) -> None:
    """25 claims of a fast channel in hand do not queue another channel's call behind them:
    each channel takes at most its own share of the worker threads."""
    url = make_settings().database_url
    clock, sent = FakeClock(), []
    fast = Recording("fast", clock, sent)
    fast.then = lambda: time.sleep(0.01)  # a call takes a moment: the others could overtake
    adapters = {"fast": fast, "other": Recording("other", clock, sent)}
    many = [add_post(url, channel="fast", text=f"Opslag {n}") for n in range(30)]
    other = add_post(url, channel="other")
    publisher = _publisher(url, adapters, threading.Event(), clock)
    publisher._paced("fast", 0.001)  # measured fast: claimed 25 at a time
    assert publisher.backlog("fast") == 25
    try:
        states = publisher.drain({"fast", "other"}, clock=system_clock)
    finally:
        publisher.close()
    assert states == dict.fromkeys([*many, other], "published")
    order = [post_id for _channel, post_id, _at in sent]
    assert sorted(order) == sorted([*many, other])
    assert order.index(other) < 10, order  # not after the fast channel's whole batch

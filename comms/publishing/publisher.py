"""Concurrent publishing for the daemon: calls to different channels go out side by side, each
channel with at most `max_concurrency` calls in flight and at most `rate_per_minute` calls a
minute (a token bucket, comms/publishing/ratelimit.py).

Limits come from the adapter class (`Channel.max_concurrency`, `Channel.rate_per_minute`) and
can be overridden per channel in the config (`[channels.NAME] max_concurrency`,
`rate_per_minute`). The defaults (1 call at a time, no rate) keep a channel's posts strictly one
after another, as before.

The publisher owns a post's way out: claimed under a lease and committed, marked sending and
committed, called, and recorded with compare-and-set through the queue's functions, each step in
its own short transaction on the worker thread (no transaction spans a call). Only the calls
overlap. Marking sending is also where a crisis pause is last checked: a claim it covers is
held there, never sent (comms/queue/pauses.py says why that commit is the one to check).
Claims are taken per channel, in one statement a batch, and only as many as the channel can work
on soon: twice its concurrency plus two, more for a channel measured to answer fast (as many as
it sends in a quarter of the lease, at most MAX_BATCH), fewer for a rated channel whose bucket
would not let them all out within that quarter. So a slow or rate-limited channel never holds
many leases and never holds up the others, and a claim is sent well inside its lease. A worker
waits for its token before `mark_sending`, so a claim whose lease ran out while waiting is not
sent (mark_sending refuses it). On stop, workers that have not started sending give their claims
back; calls in flight finish.

One commit per post where it can: the success of a call is recorded in the same transaction that
marks the channel's next claim sending (the commit that has to come before that next call
anyway), so a post costs one commit, not two, while its channel has more to send. Nothing waits
for it: the record is carried only to a claim that is about to start (on a channel without a
rate to wait for), and is written alone as soon as its channel has no claim left, when the next
claim is given back, or when the joint transaction fails. Each of the two stays its own
compare-and-set, and the sending mark still reads the pauses under the lock (in the same
statement as the mark while no pause is in force anywhere).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from sqlmodel import Session

from comms.channels import token_answer
from comms.channels.answers import checked_receipt
from comms.channels.base import Channel, OutgoingPost, Receipt
from comms.channels.oauth import RefreshRefused
from comms.channels.scrub import Scrubber, channel_secrets
from comms.config import DaemonSettings, UtmSettings
from comms.errors import AuthError, ConfigError, MalformedAnswer, RateLimitedError, TransientError
from comms.publishing.faults import kill_point
from comms.publishing.ratelimit import TokenBucket
from comms.queue import transitions as queue
from comms.queue.transitions import Claim
from comms.store.db import session_scope
from comms.store.outage import Outage, is_database_unavailable, retry_while_unavailable
from comms.timeutil import Clock

log = logging.getLogger("comms.publishing.publisher")
MAX_WORKERS = 64  # threads in all; each waits on the network most of the time
BACKLOG_FACTOR = 2  # claims held per channel, in multiples of its concurrency …
BACKLOG_EXTRA = 2  # … plus these
MAX_BATCH = 25  # claims of one channel held at once, however fast it answers
LEASE_SHARE = 0.25  # the share of a lease the claims held of a channel may take to send
PACE_WEIGHT = 0.2  # the weight of the newest call in a channel's smoothed pace
# how long the outcome of a call the channel answered waits for the database to come back; the
# record is a compare-and-set on the attempt, so a late record is as safe as a prompt one
RECORD_PATIENCE_SECONDS = 120.0
T = TypeVar("T")


@dataclass(frozen=True)
class _Carried:
    """A call the channel answered with a receipt, whose record waits for its channel's next
    sending mark (one commit for both)."""

    claim: Claim
    receipt: Receipt


@dataclass(frozen=True)
class ChannelLimits:
    """How hard the daemon may drive one channel."""

    max_concurrency: int = 1
    rate_per_minute: float | None = None


def limits_of(adapter: Channel) -> ChannelLimits:
    """The adapter class's limits, overridden by the channel's config keys where given."""
    settings = adapter.settings
    concurrency = settings.get("max_concurrency", type(adapter).max_concurrency)
    rate = settings.get("rate_per_minute", type(adapter).rate_per_minute)
    try:
        concurrency = int(concurrency)
        rate = None if rate in (None, 0) else float(rate)
    except (TypeError, ValueError):
        raise ConfigError(
            f"channel {settings.name!r}: max_concurrency and rate_per_minute must be numbers"
        ) from None
    if concurrency < 1 or (rate is not None and rate < 0):
        raise ConfigError(
            f"channel {settings.name!r}: max_concurrency must be 1 or more, rate_per_minute above 0"
        )
    return ChannelLimits(max_concurrency=concurrency, rate_per_minute=rate)


class Publisher:
    """Runs claims of many channels at once, within each channel's limits."""

    def __init__(
        self,
        adapters: Mapping[str, Channel],
        stopping: threading.Event,
        *,
        url: str,
        worker: str,
        settings: DaemonSettings,
        utm: UtmSettings | None = None,
        bucket_clock: Callable[[], float] = time.monotonic,
        bucket_sleep: Callable[[threading.Event, float], bool] = threading.Event.wait,
        outage: Outage | None = None,
    ) -> None:
        """`bucket_clock` and `bucket_sleep` drive the rate buckets (tests pass a fake clock);
        `outage` is the daemon's account of database outages, shared by its threads; `utm` tags
        the page address filled into a post that links to an earlier post's page."""
        self.outage = outage or Outage(log)
        self.adapters = adapters
        self.utm = utm
        self.stopping = stopping
        self.url = url
        self.worker = worker
        self.settings = settings
        self.limits = {name: limits_of(adapter) for name, adapter in adapters.items()}
        self.buckets = {
            name: TokenBucket(limit.rate_per_minute, clock=bucket_clock, sleep=bucket_sleep)
            for name, limit in self.limits.items()
            if limit.rate_per_minute
        }
        self.workers = max(1, min(MAX_WORKERS, sum(map(self._threads_of, self.limits))))
        self._slots = {
            name: threading.BoundedSemaphore(limit.max_concurrency)
            for name, limit in self.limits.items()
        }
        self._pool: ThreadPoolExecutor | None = None
        # The daemon's own database work (claim, mark sending, record) takes turns on this lock,
        # released only for the channel call: SQLite has one writer at a time anyway, and
        # threads queueing here wake at once, where queueing in SQLite's busy handler sleeps
        # and retries (naps of up to 100 ms), which made the turns slower than the calls.
        self._db = threading.Lock()
        self._local = threading.local()
        # per channel, at most one success to record with its next sending mark (under _db)
        self._carry: dict[str, _Carried] = {}
        # per channel, the smoothed seconds one post takes from its sending mark on (under _db)
        self._pace: dict[str, float] = {}

    def backlog(self, name: str) -> int:
        """How many claims of channel `name` to hold: enough to keep its slots busy and to
        claim in batches, no more than it can send within LEASE_SHARE of the lease."""
        limit = self.limits[name]
        base = BACKLOG_FACTOR * limit.max_concurrency + BACKLOG_EXTRA
        span = self.settings.lease_seconds * LEASE_SHARE
        if limit.rate_per_minute:
            # the bucket holds one token and refills at the rate: what it lets out in the span
            return max(1, min(base, 1 + int(limit.rate_per_minute / 60 * span)))
        pace = self._pace.get(name)
        if pace is None:
            return base
        return max(base, min(MAX_BATCH, int(span * limit.max_concurrency / max(pace, 1e-6))))

    def _paced(self, name: str, seconds: float) -> None:
        last = self._pace.get(name)
        self._pace[name] = seconds if last is None else last + PACE_WEIGHT * (seconds - last)

    def call(self, adapter: Channel, post: OutgoingPost) -> Receipt:
        """The adapter's publish; a 429 also holds the channel's bucket as long as asked."""
        holds = getattr(self._local, "holds_db", False)
        if holds:
            self._db.release()
            self._local.holds_db = False
        try:
            return _with_fresh_token(adapter, post)
        except RateLimitedError as exc:
            bucket = self.buckets.get(post.channel)
            if bucket is not None and exc.retry_after:
                bucket.hold(exc.retry_after)
            raise
        finally:
            if holds:
                self._db.acquire()
                self._local.holds_db = True

    def drain(self, channels: set[str], *, clock: Clock) -> dict[int, str]:
        """Publish everything due on `channels` now; post id -> the state each post ended in."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="comms-publish")
        pool = self._pool
        states: dict[int, str] = {}
        pending: dict[Future[str], Claim] = {}
        held = dict.fromkeys(channels, 0)  # claims in hand: in the pool or waiting for it
        # claims beyond a channel's share of the worker threads wait here, so a channel claimed
        # in a big batch never takes the threads the other channels' calls need
        waiting: dict[str, collections.deque[Claim]] = {n: collections.deque() for n in channels}
        in_pool = dict.fromkeys(channels, 0)
        drained: set[str] = set()
        paused: set[str] = set()
        unavailable: Exception | None = None

        def submit(name: str) -> None:
            room = self._threads_of(name) - in_pool[name]
            while room > 0 and waiting[name]:
                item = waiting[name].popleft()
                pending[pool.submit(self._one, item, clock, paused, states)] = item
                in_pool[name] += 1
                room -= 1

        while True:
            if not self.stopping.is_set():
                for name in sorted(channels - drained - paused):
                    concurrency = self.limits[name].max_concurrency
                    if held[name] > concurrency:
                        continue  # refill in batches: one claim transaction for several posts
                    want = self.backlog(name) - held[name]
                    try:
                        with self._db:
                            claims = self._claim(name, want, clock)
                    except Exception as exc:
                        if not is_database_unavailable(exc):
                            raise
                        # no new claims this pass; the calls in flight still finish and record
                        unavailable = exc
                        drained |= channels
                        break
                    if len(claims) < want:
                        drained.add(name)
                    held[name] += len(claims)
                    waiting[name].extend(claims)
                    submit(name)
            if not pending:
                self._flush(set(self._carry), clock, states)
                if unavailable is not None:
                    raise unavailable  # the daemon's tick reports the outage, once
                return states
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                item = pending.pop(future)
                name = item.outgoing.channel
                held[name] -= 1
                in_pool[name] -= 1
                submit(name)  # a claim still waiting (given back by _one after a stop or pause)
                state = future.result()
                if state in ("released", "database-unavailable", "carried"):
                    continue
                states[item.post_id] = state
            # a channel with nothing left in hand records its carried success now
            self._flush({name for name in self._carry if not held.get(name)}, clock, states)

    def _threads_of(self, name: str) -> int:
        """The worker threads channel `name` may take at once (the pool has them all)."""
        return BACKLOG_FACTOR * self.limits[name].max_concurrency + BACKLOG_EXTRA

    def _flush(self, channels: set[str], clock: Clock, states: dict[int, str]) -> None:
        """Record the carried successes of `channels` alone."""
        for name in channels:
            with self._db:
                carried = self._carry.pop(name, None)
                if carried is not None:
                    self._settle(carried, clock, states)

    def _one(self, item: Claim, clock: Clock, paused: set[str], states: dict[int, str]) -> str:
        """One claim on a worker thread: wait for a slot and a token, then publish.

        A failure that paused the channel is noted before the slot is given back, so the
        channel's next claim is released rather than sent. Returns the claim's state, or
        "carried" when its success is recorded with the channel's next sending mark (and put
        into `states` then).
        """
        name = item.outgoing.channel
        try:
            with self._slots[name]:
                bucket = self.buckets.get(name)
                ready = bucket.take(self.stopping) if bucket is not None else True
                with self._db:
                    self._local.holds_db = True
                    try:
                        if not ready or self.stopping.is_set() or name in paused:
                            carried = self._carry.pop(name, None)
                            if carried is not None:
                                self._settle(carried, clock, states)
                            self._release(item, clock)
                            return "released"
                        began = time.monotonic()
                        state = self._publish(item, clock, states)
                        self._paced(name, time.monotonic() - began)
                        if state == "failed" and self._is_paused(name):
                            paused.add(name)
                        return state
                    finally:
                        self._local.holds_db = False
        except Exception as exc:
            if is_database_unavailable(exc):
                # nothing was sent (the outcome of a sent call is waited for in _record): the
                # lease runs out and the post is claimed again
                self.outage.failed(exc)
                return "database-unavailable"
            log.exception("post %d on %s: publishing failed", item.post_id, name)
            return "error"

    def _claim(self, channel: str, limit: int, clock: Clock) -> list[Claim]:
        with session_scope(self.url) as session:
            return queue.claim_due(
                session,
                worker=self.worker,
                now=clock(),
                channels={channel},
                limit=limit,
                lease=timedelta(seconds=self.settings.lease_seconds),
                utm=self.utm,
            )

    def _release(self, claim: Claim, clock: Clock) -> None:
        with session_scope(self.url) as session:
            queue.release_claim(session, claim, now=clock())

    def _is_paused(self, channel: str) -> bool:
        with session_scope(self.url) as session:
            return channel in queue.paused_channels(session)

    def _start(self, claim: Claim, clock: Clock, states: dict[int, str]) -> queue.SendStart:
        """Mark the claim sending, in one transaction with its channel's carried success."""
        carried = self._carry.pop(claim.outgoing.channel, None)
        if carried is None:
            with session_scope(self.url) as session:
                return queue.start_sending(session, claim, now=clock())
        try:
            with session_scope(self.url) as session:
                recorded = queue.record_success(
                    session, carried.claim, carried.receipt, now=clock()
                )
                start = queue.start_sending(session, claim, now=clock())
        except Exception as exc:
            # neither was committed: the answered call is recorded alone, patiently; once that
            # is in, the database is back, and the claim (not sent, still ours) may start now
            self._settle(carried, clock, states)
            if not is_database_unavailable(exc):
                raise
            with session_scope(self.url) as session:
                return queue.start_sending(session, claim, now=clock())
        states[carried.claim.post_id] = self._recorded(carried, recorded)
        return start

    def _settle(self, carried: _Carried, clock: Clock, states: dict[int, str]) -> None:
        """Record a carried success in a transaction of its own, waiting out an outage."""
        claim, receipt = carried.claim, carried.receipt
        ok = self._record(
            lambda session: queue.record_success(session, claim, receipt, now=clock())
        )
        states[claim.post_id] = self._recorded(carried, ok)

    def _recorded(self, carried: _Carried, ok: bool) -> str:
        """Log a recorded success; the state the post ended in."""
        claim, receipt = carried.claim, carried.receipt
        extra = {
            "post_id": claim.post_id,
            "channel": claim.outgoing.channel,
            "campaign": claim.outgoing.campaign,
            "worker": self.worker,
        }
        if ok:
            log.info(
                "post %d published on %s: %s",
                claim.post_id,
                claim.outgoing.channel,
                receipt.url or receipt.external_id,
                extra={**extra, "state": "published"},
            )
            return "published"
        log.warning(
            "post %d: published but another worker had taken it over", claim.post_id, extra=extra
        )
        return "lost-lease"

    def _publish(self, claim: Claim, clock: Clock, states: dict[int, str]) -> str:
        """Mark sending, call the channel, record the outcome: the state the post ended in
        ("carried" when the record waits for the channel's next sending mark)."""
        adapter = self.adapters[claim.outgoing.channel]
        extra = {
            "post_id": claim.post_id,
            "channel": claim.outgoing.channel,
            "campaign": claim.outgoing.campaign,
            "worker": self.worker,
        }
        kill_point("after_claim")
        start = self._start(claim, clock, states)
        if start is queue.SendStart.HELD:
            log.warning(
                "post %d: a crisis pause covers %s; held, not sent",
                claim.post_id,
                claim.outgoing.channel,
                extra=extra,
            )
            return "held"
        if start is not queue.SendStart.SENDING:
            log.warning("post %d: lease lost before sending; not sent", claim.post_id, extra=extra)
            return "lost-lease"
        kill_point("before_call")
        scrub = Scrubber(channel_secrets(adapter.settings, type(adapter).secret_urls))
        try:
            receipt = _found_before_resend(adapter, claim) or self.call(adapter, claim.outgoing)
            receipt = _trusted(receipt, adapter, scrub)
        except Exception as exc:
            _scrub_message(exc, scrub)
            failure = exc  # `exc` is unbound when the except block ends; the lambda runs inside
            state = self._record(
                lambda session: queue.record_failure(
                    session,
                    claim,
                    failure,
                    now=clock(),
                    settings=self.settings,
                    idempotent=adapter.idempotent,
                )
            )
            level = logging.ERROR if state in ("failed", "unknown") else logging.WARNING
            log.log(
                level,
                "post %d on %s: %s: %s -> %s",
                claim.post_id,
                claim.outgoing.channel,
                type(exc).__name__,
                exc,
                state,
                extra={**extra, "state": state},
            )
            return state
        kill_point("after_call")  # the service has the post; the database does not know yet
        carried = _Carried(claim, receipt)
        name = claim.outgoing.channel
        if name not in self._carry and name not in self.buckets and not self.stopping.is_set():
            self._carry[name] = carried  # recorded with the next sending mark, or flushed
            return "carried"
        ok = self._record(
            lambda session: queue.record_success(session, claim, receipt, now=clock())
        )
        return self._recorded(carried, ok)

    def _record(self, write: Callable[[Session], T]) -> T:
        """Record what the channel answered, waiting out a database outage: a post the service
        has must end `published`, not `unknown` because the database was restarted meanwhile."""

        def attempt() -> T:
            with session_scope(self.url) as session:
                return write(session)

        return retry_while_unavailable(
            attempt, self.outage, give_up_after=RECORD_PATIENCE_SECONDS, stopping=self.stopping
        )

    def close(self) -> None:
        """Wait for calls in flight, then stop the worker threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _with_fresh_token(adapter: Channel, post: OutgoingPost) -> Receipt:
    """The adapter's publish; a 401 on a stored token refreshes it once and tries once more
    (401 means the service did nothing), unless the service said the token is revoked: then
    the channel pauses for a person to connect it again, and its refresh token is not spent.
    A refresh the service refused has already paused the channel: the post was not sent, so
    it waits (a transient failure), not fails."""
    source = adapter.settings.tokens
    try:
        try:
            return adapter.publish(post)
        except AuthError as exc:
            if isinstance(exc, RefreshRefused) or source is None:
                raise
            if exc.status != 401 and exc.token is None:
                raise  # a missing permission, not a token that ran out
            revoked = str(exc) if exc.token == token_answer.REVOKED else None
            if not source.refresh_rejected(post.channel, revoked=revoked):
                raise
            log.info(
                "channel %s: 401 on its stored token; refreshed, trying once more", post.channel
            )
            return adapter.publish(post)
    except RefreshRefused as exc:
        raise TransientError(f"{exc} (not sent; the channel is paused)") from None


def _trusted(receipt: Receipt, adapter: Channel, scrub: Scrubber) -> Receipt:
    """The receipt as it may be stored: an id of the right shape and no secret in it.

    Adapters read their answers through comms.channels.answers; this is the last look before
    the database, whatever an adapter did. An id that is no id (or carries a secret the service
    echoed) is a MalformedAnswer, so the post becomes `unknown`; a bad URL is only dropped."""
    what = f"{adapter.settings.type} ({adapter.settings.name})"
    checked = checked_receipt(receipt, what=what)
    if scrub(checked.external_id) != checked.external_id:
        raise MalformedAnswer(f"{what}: the answer's id carries a secret")
    if checked.url is not None and scrub(checked.url) != checked.url:
        checked = Receipt(external_id=checked.external_id, url=None)
    return checked


def _scrub_message(exc: BaseException, scrub: Scrubber) -> None:
    """Mask the channel's secrets in an exception's message before it is logged or stored.

    The adapters scrub what they build; this catches what they did not (a library's message that
    quotes a URL with a token in it), whatever the exception's class."""
    try:
        text = str(exc)
    except Exception:  # an exception whose message cannot even be rendered: nothing to leak
        return
    clean = scrub(text)
    if clean != text:
        exc.args = (clean,)


def _found_before_resend(adapter: Channel, claim: Claim) -> Receipt | None:
    """Before any retry, ask the channel whether an earlier try went through after all.

    Idempotency keys are remembered for a limited time (Mastodon: one hour) and most services
    have none, so a retry first looks the post up where the adapter can.
    """
    if claim.attempt <= 1:
        return None
    return adapter.find(claim.outgoing)

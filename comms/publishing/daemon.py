"""The scheduler daemon: APScheduler decides when to look, the database is the queue.

One in-memory interval job ("tick") runs a dispatch pass every `tick_seconds`, and a one-shot
wake-up job is set for the next due post so a post goes out on its minute rather than on the next
tick. No post is ever an APScheduler job: its job store drops overdue jobs and cannot be shared
by two processes (see docs/reliability.md §1). Both jobs use `misfire_grace_time=None` and
`coalesce=True`, so a clock jump or a busy machine delays a pass but never drops one.

Each configured news feed is polled by an interval job of its own (every `poll_minutes`), in
the scheduler's thread pool beside the dispatch pass: a slow or failing feed delays neither
publishing nor the other feeds, and its failure is one log line, never the daemon's end.

SIGTERM or Ctrl-C stops new claims, lets the call in flight finish, hands back claims that never
started sending, and exits 0.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from comms.channels.registry import build_adapters
from comms.config import Settings
from comms.errors import CommsError
from comms.publishing.credentials import StoredTokens
from comms.publishing.notify import Notifier, feed_notice, token_notice
from comms.publishing.publisher import Publisher
from comms.publishing.signals import note_stop_signals
from comms.queue import transitions as queue
from comms.store.clock import DatabaseClock
from comms.store.db import ensure_schema, ping_before_use, session_scope
from comms.store.in_use import held_while_running
from comms.store.outage import Outage, is_database_unavailable
from comms.timeutil import Clock, fixed_clock, system_clock, zoned_text

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

LINK_ROUNDS = 3  # drains after the first for posts released by a page of the same pass
log = logging.getLogger("comms.publishing.daemon")
METRICS_EVERY_MINUTES = 10


@dataclass
class PassResult:
    """What one dispatch pass did, for logs and tests."""

    published: int = 0
    failed: int = 0
    retrying: int = 0
    unknown: int = 0
    missed: int = 0
    expired: int = 0
    reaped: int = 0
    held: int = 0
    states: dict[int, str] = field(default_factory=dict)


class Daemon:
    """Publishes due, approved posts through the channels' adapters."""

    def __init__(
        self, settings: Settings, *, worker: str | None = None, clock: Clock | None = None
    ) -> None:
        """`clock` is "now" for due times and leases: by default the database server's on
        PostgreSQL (daemons on hosts whose clocks differ must agree), the host's on SQLite."""
        self.settings = settings
        self.url = settings.database_url
        if clock is None:
            on_server = make_url(self.url).get_backend_name() == "postgresql"
            clock = DatabaseClock(self.url) if on_server else system_clock
        self.clock = clock
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stopping = threading.Event()
        self._last_look: tuple[datetime, float] | None = None  # (wall, monotonic) of last pass
        self._pass_lock = threading.Lock()
        self.tokens = StoredTokens(settings)
        # connected channels' adapters use their stored tokens
        self.adapters, missing = build_adapters(self.tokens.channels())
        for name, unset in missing.items():
            log.warning(
                "channel %s (type %s): $%s is not set; its posts stay queued",
                name,
                settings.channels[name].type,
                ", $".join(unset),
            )

        notify = settings.notify_channel
        self.notifier = Notifier(settings, self.adapters.get(notify) if notify else None)
        # one account of database outages for the daemon and its publishing threads, so an
        # outage is one line in the log, not a traceback per tick and per post
        self.outage = Outage(log)
        self._next_try = 0.0  # monotonic time before which a pass is not tried in an outage
        self.publisher = Publisher(
            self.adapters,
            self.stopping,
            url=self.url,
            worker=self.worker,
            settings=settings.daemon,
            outage=self.outage,
            utm=settings.utm,
        )
        if notify and not self.notifier.enabled:
            log.warning("notification channel %s cannot send; notices are not sent", notify)

    @property
    def idempotent_channels(self) -> set[str]:
        return {name for name, adapter in self.adapters.items() if adapter.idempotent}

    def _clock_jump(self, now: datetime) -> timedelta:
        """How far the wall clock leapt forward since the last pass, beyond real elapsed time.

        Real time is measured with the monotonic clock, which no clock setting moves.
        """
        mono = time.monotonic()
        last = self._last_look
        self._last_look = (now, mono)
        if last is None:
            return timedelta(0)
        expected = last[0] + timedelta(seconds=mono - last[1])
        return max(now - expected, timedelta(0))

    def run_once(self, now: datetime | None = None) -> PassResult:
        """One dispatch pass: reap dead leases, mark missed posts, publish everything due.

        With `now`, the whole pass runs at that instant (tests and replays); else on the clock.
        """
        clock = fixed_clock(now) if now is not None else self.clock
        with self._pass_lock:
            result = self._run_pass(clock)
        try:
            self.notifier.send_pending(now=now)
        except Exception as exc:
            if not is_database_unavailable(exc):
                log.exception("sending notices failed")
        return result

    def check_tokens(self, now: datetime | None = None) -> int:
        """Warn the team well before a channel's token expires (where the service tells)."""
        now = now or self.clock()
        horizon = timedelta(days=self.settings.token_warning_days)
        # a connected channel: the store knows its expiry, and whether comms renews it
        notices = self.tokens.reconnect_notices(set(self.adapters), now=now, horizon=horizon)
        connected = self.tokens.connected()
        for name, adapter in self.adapters.items():
            if name in connected:
                continue
            try:
                result = adapter.check()
            except CommsError as exc:
                log.warning("token check of %s failed: %s", name, exc)
                continue
            if result.expires_at is not None and result.expires_at - now <= horizon:
                log.warning(
                    "the token of channel %s expires %s",
                    name,
                    zoned_text(result.expires_at, self.settings.zone),
                )
                notices.append(
                    token_notice(name, result.expires_at, now=now, zone=self.settings.zone)
                )
        return self.notifier.send_pending(now=now, extra=notices) if notices else 0

    def poll_feed(self, name: str, now: datetime | None = None) -> None:
        """One poll of one news feed, then a notice for feeds failing for a day; whatever goes
        wrong is logged in one line and tried again at the next poll."""
        from comms.feeds.poll import poll_feed

        if self.stopping.is_set():
            return
        now = now or self.clock()
        try:
            poll_feed(self.settings, self.settings.feeds[name], now=now)
        except Exception as exc:  # the database, or a bug: the next poll tries again
            log.error("feed %s: poll failed: %s: %s", name, type(exc).__name__, exc)
        try:
            self.feed_notices(now)
        except Exception as exc:
            log.error("feed notices failed: %s: %s", type(exc).__name__, exc)

    def feed_notices(self, now: datetime | None = None) -> int:
        """Tell the team of feeds that have failed for a day (once per spell of failing)."""
        from comms.feeds.fetch import safe_url
        from comms.feeds.poll import failing_feeds

        if not self.notifier.enabled:
            return 0
        now = now or self.clock()
        notices = [
            feed_notice(
                state.name,
                safe_url(self.settings.feeds[state.name].url),
                since=state.failing_since,
                error=state.last_error,
                zone=self.settings.zone,
            )
            for state in failing_feeds(self.settings, now=now)
            if state.failing_since is not None
        ]
        return self.notifier.send_pending(now=now, extra=notices) if notices else 0

    def _run_pass(self, clock: Clock) -> PassResult:
        result = PassResult()
        daemon = self.settings.daemon
        with session_scope(self.url) as session:
            now = clock()
            result.reaped = queue.reap_expired(
                session, now=now, idempotent_channels=self.idempotent_channels
            )
            # held before anything is marked missed: a post due while its channel is paused
            # waits for a person, however long the pause lasts
            result.held = queue.hold_due(session, now=now)
            result.missed = queue.mark_missed(
                session,
                now=now,
                grace=timedelta(minutes=daemon.grace_minutes),
                clock_jump=self._clock_jump(now),
            )
            result.expired = queue.mark_expired(session, now=now)
        if result.expired:
            log.warning(
                "%d draft(s) were not approved before their time: marked expired", result.expired
            )
        if result.held:
            log.warning("%d due post(s) held: a crisis pause covers their channel", result.held)
        if result.missed:
            log.warning(
                "%d post(s) were due beyond the grace window while no daemon ran: marked missed",
                result.missed,
            )
        with session_scope(self.url) as session:
            channels = set(self.adapters) - queue.paused_channels(session)
        # tokens about to run out are refreshed before the channel's posts are claimed; a
        # channel whose refresh was refused is paused, and the others go on
        channels -= self.tokens.refresh_due(channels)
        # calls to different channels overlap, within each channel's limits (publisher.py)
        result.states = self.publisher.drain(channels, clock=clock)
        for _ in range(LINK_ROUNDS):
            # a page just published may release posts linking to it, on a channel already
            # drained: they go out in this pass, not a tick later
            if "published" not in result.states.values() or self.stopping.is_set():
                break
            with session_scope(self.url) as session:
                released = queue.has_released_links(session, channels=channels, now=clock())
            if not released:
                break
            result.states.update(self.publisher.drain(channels, clock=clock))
        for state in result.states.values():
            if state == "published":
                result.published += 1
            elif state == "queued":
                result.retrying += 1
            elif state == "unknown":
                result.unknown += 1
            elif state == "failed":
                result.failed += 1
        if self.stopping.is_set():
            with session_scope(self.url) as session:
                queue.release_claims(session, worker=self.worker, now=clock())
        return result

    def collect_metrics(self) -> None:
        """Read figures of published posts that are due by the metrics schedule."""
        from comms.metrics import collect_due

        if self.stopping.is_set():
            return
        try:
            summary = collect_due(self.settings)
            if summary.collected or summary.errors:
                log.info("metrics: %s", summary.line())
        except Exception as exc:
            if is_database_unavailable(exc):
                self.outage.failed(exc)  # collected at the next run, after the outage
            else:
                log.exception("metrics collection failed")

    def next_wakeup(self) -> datetime | None:
        with session_scope(self.url) as session:
            channels = set(self.adapters) - queue.paused_channels(session)
            return queue.next_due_at(session, channels=channels)

    # --- the long-running process -----------------------------------------------------------

    def serve(self) -> None:
        """Run until SIGTERM/SIGINT; each signal stops claims and lets in-flight work finish."""
        from apscheduler.schedulers.background import BackgroundScheduler

        scheduler = BackgroundScheduler(
            timezone=self.settings.zone,
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )
        done = threading.Event()

        def tick() -> None:
            if self.stopping.is_set() or time.monotonic() < self._next_try:
                return
            try:
                result = self.run_once()
                self.outage.succeeded()
                if result.published or result.failed or result.missed:
                    log.info(
                        "pass: %d published, %d failed, %d retrying, %d missed",
                        result.published,
                        result.failed,
                        result.retrying,
                        result.missed,
                    )
            except CommsError as exc:
                log.error("dispatch pass failed: %s", exc)
            except Exception as exc:
                if is_database_unavailable(exc):
                    self._next_try = time.monotonic() + self.outage.failed(exc)
                else:
                    log.exception("dispatch pass failed")
            self._schedule_wakeup(scheduler, tick)

        def stop(signum: int, _frame: object) -> None:
            if self.stopping.is_set():
                return
            log.info(
                "received %s: finishing in-flight work and stopping", signal.Signals(signum).name
            )
            self.stopping.set()
            done.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if self.stopping.is_set():  # asked to stop while starting (see start)
            done.set()
        scheduler.add_job(
            tick,
            "interval",
            seconds=self.settings.daemon.tick_seconds,
            id="tick",
            next_run_time=self._on_host(self.clock()),
        )
        scheduler.add_job(
            self.collect_metrics, "interval", minutes=METRICS_EVERY_MINUTES, id="metrics"
        )
        scheduler.add_job(
            self.check_tokens,
            "interval",
            hours=12,
            id="tokens",
            next_run_time=self._on_host(self.clock()),
        )
        for name, feed in sorted(self.settings.feeds.items()):
            scheduler.add_job(
                self.poll_feed,
                "interval",
                args=[name],
                minutes=feed.poll_minutes,
                id=f"feed:{name}",
                next_run_time=self._on_host(self.clock()),
            )
        scheduler.start()
        log.info(
            "daemon %s started: channels %s, tick %ss%s",
            self.worker,
            ", ".join(sorted(self.adapters)) or "(none)",
            self.settings.daemon.tick_seconds,
            f", feeds {', '.join(sorted(self.settings.feeds))}" if self.settings.feeds else "",
        )
        done.wait()
        scheduler.shutdown(wait=True)
        self.publisher.close()
        try:
            with session_scope(self.url) as session:
                released = queue.release_claims(session, worker=self.worker, now=self.clock())
        except Exception as exc:
            if not is_database_unavailable(exc):
                raise
            log.warning(
                "daemon stopped; database unavailable, so unsent claims wait for their lease"
            )
            return
        log.info("daemon stopped (%d unsent claim(s) released)", released)

    def _schedule_wakeup(self, scheduler: BackgroundScheduler, tick: Callable[[], None]) -> None:
        """A one-shot run at the next due time, if it comes before the next tick."""
        try:
            due = self.next_wakeup()
        except Exception:
            return
        if due is None or self.stopping.is_set():
            return
        now = self.clock()
        horizon = now + timedelta(seconds=self.settings.daemon.tick_seconds)
        if due < horizon:
            scheduler.add_job(
                tick,
                "date",
                run_date=self._on_host(max(due, now)),
                id="wakeup",
                replace_existing=True,
            )

    def _on_host(self, instant: datetime) -> datetime:
        """An instant of the daemon's clock as the host's clock shows it, for APScheduler, which
        fires by the host's clock: a wake-up at the server's 09:00 on a host 10 minutes fast
        must fire at the host's 09:10, not at once and over and over."""
        if isinstance(self.clock, DatabaseClock):
            return instant + (system_clock() - self.clock())
        return instant


def start(
    settings: Settings, *, once: bool = False, asked_to_stop: threading.Event | None = None
) -> PassResult | None:
    """Check the schema, then run one pass (`--once`) or serve until stopped (at once if
    `asked_to_stop`, from signals.note_stop_signals, was set while starting)."""
    ping_before_use(False)  # a dropped connection is an outage the daemon rides out
    if not once and asked_to_stop is None:
        asked_to_stop = note_stop_signals()
    with held_while_running(settings.database_url):  # a restore waits until it stops
        ensure_schema(settings.database_url)
        daemon = Daemon(settings)
        if not once:
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda _signum, _frame: daemon.stopping.set())
        if asked_to_stop is not None and asked_to_stop.is_set():
            daemon.stopping.set()
        if once:
            for name in sorted(settings.feeds):
                daemon.poll_feed(name)
            return daemon.run_once()
        daemon.serve()
    return None

"""The scheduler daemon: APScheduler decides when to look, the database is the queue.

One in-memory interval job ("tick") runs a dispatch pass every `tick_seconds`, and a one-shot
wake-up job is set for the next due post so a post goes out on its minute rather than on the next
tick. No post is ever an APScheduler job: its job store drops overdue jobs and cannot be shared
by two processes (see docs/reliability.md §1). Both jobs use `misfire_grace_time=None` and
`coalesce=True`, so a clock jump or a busy machine delays a pass but never drops one.

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

from comms.channels.registry import build_adapters
from comms.config import Settings
from comms.errors import CommsError
from comms.publishing.notify import Notifier, token_notice
from comms.publishing.publisher import Publisher
from comms.queue import transitions as queue
from comms.store.db import ensure_schema, session_scope
from comms.timeutil import Clock, fixed_clock, system_clock, zoned_text

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

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
        self, settings: Settings, *, worker: str | None = None, clock: Clock = system_clock
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.url = settings.database_url
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stopping = threading.Event()
        self._last_look: tuple[datetime, float] | None = None  # (wall, monotonic) of last pass
        self._pass_lock = threading.Lock()
        self.adapters, missing = build_adapters(settings.channels.values())
        for name, unset in missing.items():
            log.warning(
                "channel %s (type %s): $%s is not set; its posts stay queued",
                name,
                settings.channels[name].type,
                ", $".join(unset),
            )

        notify = settings.notify_channel
        self.notifier = Notifier(settings, self.adapters.get(notify) if notify else None)
        self.publisher = Publisher(
            self.adapters,
            self.stopping,
            url=self.url,
            worker=self.worker,
            settings=settings.daemon,
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
        except Exception:
            log.exception("sending notices failed")
        return result

    def check_tokens(self, now: datetime | None = None) -> int:
        """Warn the team well before a channel's token expires (where the service tells)."""
        now = now or self.clock()
        horizon = timedelta(days=self.settings.token_warning_days)
        notices = []
        for name, adapter in self.adapters.items():
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
                notices.append(token_notice(name, result.expires_at, now=now))
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
        # calls to different channels overlap, within each channel's limits (publisher.py)
        result.states = self.publisher.drain(channels, clock=clock)
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
        except Exception:
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
            if self.stopping.is_set():
                return
            try:
                result = self.run_once()
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
            except Exception:
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
        scheduler.add_job(
            tick,
            "interval",
            seconds=self.settings.daemon.tick_seconds,
            id="tick",
            next_run_time=self.clock(),
        )
        scheduler.add_job(
            self.collect_metrics, "interval", minutes=METRICS_EVERY_MINUTES, id="metrics"
        )
        scheduler.add_job(
            self.check_tokens, "interval", hours=12, id="tokens", next_run_time=self.clock()
        )
        scheduler.start()
        log.info(
            "daemon %s started: channels %s, tick %ss",
            self.worker,
            ", ".join(sorted(self.adapters)) or "(none)",
            self.settings.daemon.tick_seconds,
        )
        done.wait()
        scheduler.shutdown(wait=True)
        self.publisher.close()
        with session_scope(self.url) as session:
            released = queue.release_claims(session, worker=self.worker, now=self.clock())
        log.info("daemon stopped (%d unsent claim(s) released)", released)

    def _schedule_wakeup(self, scheduler: BackgroundScheduler, tick: Callable[[], None]) -> None:
        """A one-shot run at the next due time, if it comes before the next tick."""
        try:
            due = self.next_wakeup()
        except Exception:
            return
        if due is None or self.stopping.is_set():
            return
        horizon = self.clock() + timedelta(seconds=self.settings.daemon.tick_seconds)
        if due < horizon:
            scheduler.add_job(
                tick, "date", run_date=max(due, self.clock()), id="wakeup", replace_existing=True
            )


def start(settings: Settings, *, once: bool = False) -> PassResult | None:
    """Check the schema, then run one pass (`--once`) or serve until stopped."""
    ensure_schema(settings.database_url)
    daemon = Daemon(settings)
    if once:
        return daemon.run_once()
    daemon.serve()
    return None

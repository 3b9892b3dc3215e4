"""Telling a database that went away from a bug, and riding out the outage.

A PostgreSQL server restarted for patching, a network blip, or SQLite locked past its busy
timeout or on a full disk: each raises a driver error through SQLAlchemy, and each passes. The
daemon must neither die nor write a traceback every tick while it lasts, and an outcome it
learned from a channel during the outage must still be recorded when the database is back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa

T = TypeVar("T")
PATIENCE_WHEN_STOPPING = 10.0  # seconds
# what SQLite says when it cannot write now but may later
_SQLITE_PASSING = ("database is locked", "disk is full", "unable to open", "disk i/o error")


def is_database_unavailable(exc: BaseException) -> bool:
    """True for a lost or refused connection, a locked SQLite file or a full disk."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa.exc.InterfaceError):
        return True
    if isinstance(exc, sa.exc.OperationalError):
        text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
        if any(phrase in text for phrase in _SQLITE_PASSING):
            return True
        # psycopg raises OperationalError for refused, lost and shut-down connections
        return exc.orig is not None and type(exc.orig).__module__.startswith("psycopg")
    return False


def short_reason(exc: BaseException) -> str:
    """The driver's first line, without SQLAlchemy's SQL and parameters (which hold post text)."""
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return first[:200]


class Outage:
    """One warning when the database goes away, one line when it is back, backoff between.

    Shared by a daemon's threads: the first to see the outage logs it, the others stay quiet.
    """

    def __init__(self, log: logging.Logger, *, base: float = 1.0, cap: float = 15.0) -> None:
        self.log = log
        self.base, self.cap = base, cap
        self._lock = threading.Lock()
        self.since: float | None = None
        self.failures = 0
        self.outages = 0

    def failed(self, exc: BaseException) -> float:
        """Note a failed attempt; the seconds to wait before the next one."""
        with self._lock:
            if self.since is None:
                self.since = time.monotonic()
                self.outages += 1
                self.log.warning(
                    "database unavailable (%s): retrying with backoff", short_reason(exc)
                )
            self.failures += 1
            return min(self.cap, self.base * 2 ** min(self.failures - 1, 10))

    def succeeded(self) -> None:
        with self._lock:
            if self.since is None:
                return
            self.log.warning(
                "database available again after %.0f s (%d failed attempt(s))",
                time.monotonic() - self.since,
                self.failures,
            )
            self.since, self.failures = None, 0

    @property
    def ongoing(self) -> bool:
        return self.since is not None


def retry_while_unavailable(
    action: Callable[[], T], outage: Outage, *, give_up_after: float, stopping: threading.Event
) -> T:
    """Run `action` until it works, waiting out database outages, for `give_up_after` seconds.

    For what must not be lost: the outcome of a call the channel already answered. A stop
    request shortens the waits, and the patience to PATIENCE_WHEN_STOPPING, well inside the stop
    bound a service manager gives (the README's unit: 90 s). Given up, the post stays
    `publishing` until its lease runs out and is then `unknown`: never sent twice."""
    deadline = time.monotonic() + give_up_after
    while True:
        try:
            result = action()
        except Exception as exc:
            if not is_database_unavailable(exc) or time.monotonic() >= deadline:
                raise
            pause = outage.failed(exc)
            if stopping.is_set():
                pause = min(pause, 1.0)
                deadline = min(deadline, time.monotonic() + PATIENCE_WHEN_STOPPING)
            time.sleep(max(0.0, min(pause, deadline - time.monotonic())))
            continue
        return result  # the daemon's next whole pass says the outage is over

"""The database server's clock, for daemons on several hosts.

Leases and due times are instants written by one daemon and compared by another. If each host
used its own clock, a host 10 minutes fast would see every other daemon's lease as expired and
take its posts over, and would publish posts 10 minutes early; one 10 minutes slow would hold on
to leases that have run out. All daemons on one PostgreSQL database therefore take "now" from
the server: the offset to the server's `now()` is measured (at the midpoint of the round trip)
and the host's monotonic clock, which no clock setting moves, carries it forward between
measurements. SQLite lives on one host, so its daemons share that host's clock anyway.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from comms.store.db import get_engine
from comms.store.outage import is_database_unavailable

RESYNC_SECONDS = 30.0


class DatabaseClock:
    """Callable like the other clocks (comms.timeutil.Clock): the server's "now", aware UTC."""

    def __init__(
        self,
        url: str,
        *,
        resync_seconds: float = RESYNC_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.resync_seconds = resync_seconds
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._reading: tuple[datetime, float] | None = None  # (server time, monotonic then)

    def __call__(self) -> datetime:
        with self._lock:
            now = self.monotonic()
            if self._reading is None or now - self._reading[1] >= self.resync_seconds:
                self._measure()
            assert self._reading is not None
            server, at = self._reading
            return server + timedelta(seconds=self.monotonic() - at)

    def _measure(self) -> None:
        try:
            before = self.monotonic()
            with get_engine(self.url).connect() as connection:
                server = connection.execute(sa.text("SELECT now()")).scalar_one()
            after = self.monotonic()
        except Exception as exc:
            # an outage: the last reading carried forward is still right to a few milliseconds
            if self._reading is not None and is_database_unavailable(exc):
                return
            raise
        if server.tzinfo is None:  # timestamptz always has one; a naive value would be local
            raise ValueError("the database answered now() without a time zone")
        self._reading = (server.astimezone(UTC), (before + after) / 2)

    def offset_from(self, host: Callable[[], datetime]) -> timedelta:
        """How far the host's wall clock is from the server's (positive: the host is ahead)."""
        return host() - self()

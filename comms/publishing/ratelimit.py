"""A token bucket: at most `rate_per_minute` calls a minute to a channel, evenly spread.

The daemon keeps one bucket per channel with a `rate_per_minute` (publisher.py) and takes a token
 before each call, so it stays under the service's limit instead of learning it from 429s.
The bucket holds at most `capacity` tokens (default 1: calls are spaced 60/rate seconds apart,
the safe reading of "N per minute" for services that count in short windows). When the service
asks us to wait anyway (429 with Retry-After), `hold(seconds)` stops every caller until then.
Time is a parameter (`clock`, and `sleep` for the waits of `take`), so tests need no real waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """Thread-safe token bucket refilled continuously at `rate_per_minute / 60` tokens a second."""

    def __init__(
        self,
        rate_per_minute: float,
        *,
        capacity: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[threading.Event, float], bool] = threading.Event.wait,
    ) -> None:
        if rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be above 0")
        self.rate = rate_per_minute / 60.0  # tokens a second
        self.capacity = max(1.0, capacity)
        self.clock = clock
        self.sleep = sleep  # (stop, seconds) -> True when stop was set while waiting
        self._tokens = self.capacity
        self._updated = clock()
        self._not_before = 0.0  # no token before this clock value (Retry-After)
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def try_take(self) -> float:
        """Take a token and return 0, or take nothing and return the seconds until one is due."""
        with self._lock:
            now = self.clock()
            if now < self._not_before:
                return self._not_before - now
            self._refill(now)
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate

    def take(self, stop: threading.Event | None = None) -> bool:
        """Block until a token is taken (True), or until `stop` is set (False)."""
        stop = stop or threading.Event()
        while True:
            wait = self.try_take()
            if wait <= 0:
                return True
            if self.sleep(stop, wait):
                return False

    def hold(self, seconds: float) -> None:
        """The service asked us to wait: no token for anyone for `seconds`."""
        with self._lock:
            now = self.clock()
            self._not_before = max(self._not_before, now + max(0.0, seconds))
            self._tokens = 0.0
            self._updated = max(self._updated, self._not_before)

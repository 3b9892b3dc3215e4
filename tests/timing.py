"""Time for tests without sleeping: a fake clock, and waiting for a condition with a deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class FakeClock:
    """A monotonic clock that moves only when told to, or when a waiter "sleeps" on it.

    `sleep(stop, seconds)` has the shape of `threading.Event.wait`: it advances the clock by
    `seconds` at once and answers whether `stop` is set, so code that waits for a token runs
    through its waits instantly and in order. Thread-safe: publisher workers share one clock.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def sleep(self, stop: threading.Event, seconds: float) -> bool:
        with self._lock:
            self.slept.append(seconds)
            self._now += seconds
        return stop.is_set()


def wait_until(
    predicate: Callable[[], object],
    timeout: float = 10.0,
    *,
    every: float = 0.05,
    context: Callable[[], str] | None = None,
) -> None:
    """Return as soon as `predicate()` is true; fail the test if it is not within `timeout` s.

    `every` is only how often to look, never a wait the test relies on; `context` adds what
    helps to read a failure (a daemon's log, say).
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            detail = f"\n{context()}" if context is not None else ""
            raise AssertionError(f"not true within {timeout} s: {predicate.__name__}{detail}")
        time.sleep(every)

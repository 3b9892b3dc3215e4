"""A small HTTP channel and its fake service for bench/publish.

`BenchHttpChannel` posts JSON to `{base_url}/posts` through comms.channels.http.HttpClient, as the
real adapters do. `RateLimitedFake` is a fake service (tests/fakes/server.py: real HTTP on
127.0.0.1) that answers after `latency` seconds and enforces `rate_per_minute` with its own token
bucket, answering 429 with Retry-After when a client goes faster.
"""

from __future__ import annotations

import itertools
import math
import threading
import time

from comms.channels.base import Channel, OutgoingPost, Receipt
from comms.channels.http import HttpClient
from comms.channels.options import Option
from tests.fakes.server import FakeServer, Request, Response

TYPE = "bench-http"


class BenchHttpChannel(Channel):
    """POST /posts {"text", "key"} -> {"id"}; limits come from the config keys."""

    name = TYPE
    options = (Option("base_url", str, "the fake server's address", required=True),)

    def __init__(self, settings) -> None:  # type: ignore[no-untyped-def]
        super().__init__(settings)
        self.http = HttpClient(str(settings.get("base_url")), service=settings.name)

    def publish(self, post: OutgoingPost) -> Receipt:
        body = self.http.json(
            "POST", "/posts", json={"text": post.text, "key": post.idempotency_key}
        )
        return Receipt(external_id=str(body["id"]))


class RateLimitedFake(FakeServer):
    """A service with a fixed latency and a rate limit it enforces with 429 + Retry-After."""

    def __init__(
        self, *, latency: float, rate_per_minute: float | None, burst: float = 2.0
    ) -> None:
        super().__init__()
        self.latency = latency
        self.rate = rate_per_minute / 60 if rate_per_minute else None
        self.burst = burst
        self.tokens = burst
        self.updated = time.monotonic()
        self.accepted = 0
        self.limited = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._ids = itertools.count(1)
        self._bucket = threading.Lock()
        self.route("POST", "/posts", self._post)

    def _allowed(self) -> float:
        """0 if the call may go through, else the seconds the client should wait."""
        if self.rate is None:
            return 0.0
        with self._bucket:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate

    def _post(self, request: Request) -> Response:
        with self._bucket:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.latency)
            wait = self._allowed()
            if wait > 0:
                self.limited += 1
                return Response(
                    429, {"error": "rate limited"}, {"Retry-After": str(math.ceil(wait))}
                )
            self.accepted += 1
            return Response(200, {"id": str(next(self._ids))})
        finally:
            with self._bucket:
                self.in_flight -= 1

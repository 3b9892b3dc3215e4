"""A channel for tests and dry runs that are not about HTTP: it appends each post to a file.

Options: `path` (a JSON-lines file, one line per delivery), `delay_seconds` (a slow call),
`fsync` (false: the line is written but not forced to disk, a service that answers at once, for
measuring the queue rather than the disk), and
`fail` (a list of error kinds to raise on successive calls before succeeding: "transient",
"unsure", "rate-limited", "auth", "rejected", "lost-reply" (stored, then a 503), "crash" (stored,
then an exception no adapter classifies, as a bug reading the answer would raise)), so queue
behaviour can be tested against a real daemon process without a server.
The failure count is kept next to the log file, so it survives daemon restarts.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from comms.channels.base import Channel, CheckResult, Figures, OutgoingPost, Receipt
from comms.channels.options import Option
from comms.errors import (
    AuthError,
    RateLimitedError,
    RejectedError,
    TransientError,
)

_ERRORS = {
    "transient": lambda: TransientError("stub: 503 Service Unavailable", status=503),
    "unsure": lambda: TransientError("stub: read timeout after sending", maybe_delivered=True),
    "rate-limited": lambda: RateLimitedError("stub: 429 Too Many Requests", retry_after=1),
    "auth": lambda: AuthError("stub: 401 token expired (renew COMMS_STUB_TOKEN)", status=401),
    "rejected": lambda: RejectedError("stub: 422 text too long", status=422),
}


class StubChannel(Channel):
    """Records deliveries in a JSON-lines file; can be told to fail first."""

    name = "stub"
    idempotent = False
    has_metrics = True  # figures come from the `reach` option, for metrics tests

    label = "Test"
    title = "Testkanal"
    options = (
        Option(
            "path",
            str,
            "the JSON-lines file deliveries are written to",
            default="stub-deliveries.jsonl",
        ),
        Option("fail", list, "errors to raise first, one per attempt", default=[]),
        Option("reach", int, "the reach metrics() reports"),
        Option("delay_seconds", float, "how long each publish takes", default=0),
        Option("fsync", bool, "force each delivery line to disk before answering", default=True),
        Option("token_expires_in_days", float, "what check() says of the token's expiry"),
        Option(
            "token_env",
            str,
            "a variable the stub needs set, as a real service's token",
            secret=True,
        ),
    )

    def check(self) -> CheckResult:
        days = self.settings.get("token_expires_in_days")
        expires = None if days is None else datetime.now(UTC) + timedelta(days=float(days))
        return CheckResult(True, "stub: always reachable", expires_at=expires)

    def find(self, post: OutgoingPost) -> Receipt | None:
        """A delivery with this post's idempotency key, from the log (lookup before resend)."""
        log = Path(self.settings.get("path", "stub-deliveries.jsonl"))
        if not log.exists():
            return None
        for line in log.read_text(encoding="utf-8").splitlines():
            if json.loads(line)["key"] == post.idempotency_key:
                return Receipt(external_id=f"stub-{post.post_id}", url=None)
        return None

    def metrics(self, receipt: Receipt) -> Figures:
        reach = self.settings.get("reach")
        return Figures(
            reach=reach, impressions=reach and reach * 2, raw={"id": receipt.external_id}
        )

    def publish(self, post: OutgoingPost) -> Receipt:
        delay = float(self.settings.get("delay_seconds", 0))
        if delay:
            time.sleep(delay)  # a slow service, for shutdown tests
        log = Path(self.settings.get("path", "stub-deliveries.jsonl"))
        failures = list(self.settings.get("fail", []))
        with open(str(log) + ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            failure = _next_failure(Path(str(log) + ".calls"), failures) if failures else None
            if failure is not None and failure not in ("lost-reply", "crash"):
                raise _ERRORS[failure]()
            line = json.dumps(
                {
                    "post_id": post.post_id,
                    "key": post.idempotency_key,
                    "channel": post.channel,
                    "text": post.text,
                    "pid": os.getpid(),
                    "at": time.time(),  # the host's clock: clock-skew tests undo each skew
                },
                ensure_ascii=False,
            )
            with log.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
                handle.flush()
                if self.settings.get("fsync", True):
                    os.fsync(handle.fileno())
            if failure == "lost-reply":  # the service took the post, but its answer was lost
                raise TransientError("stub: 503 after accepting", status=503)
            if failure == "crash":
                raise KeyError("id")  # the post is stored; reading the answer failed
        return Receipt(external_id=f"stub-{post.post_id}", url=None)


def _next_failure(counter: Path, failures: list[str]) -> str | None:
    """The failure this call is told to raise, counting calls in a file that outlives restarts
    (kept only when failures are asked for: a stub that never fails needs no count)."""
    calls = int(counter.read_text() or 0) if counter.exists() else 0
    counter.write_text(str(calls + 1))
    return failures[calls] if calls < len(failures) else None

"""What a failed attempt means (`decide`) and when to try again: backoff with full jitter.

Kept apart from the daemon loop (as dramatiq keeps retry policy apart from its worker) so the
policy is a pure function of the attempt number and can be tested without clocks or sleeps.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from comms.config import DaemonSettings
from comms.errors import AuthError, RateLimitedError, RejectedError, TransientError
from comms.store.models import PostState


def backoff_seconds(
    attempt: int, settings: DaemonSettings, rng: random.Random | None = None
) -> float:
    """Full jitter: a random wait in [0, min(cap, base * 2**(attempt-1))], at least 1 s."""
    ceiling = min(
        settings.backoff_cap_seconds, settings.backoff_base_seconds * (2 ** max(attempt - 1, 0))
    )
    return max(1.0, (rng or random).uniform(0, ceiling))


def may_retry(
    *, attempts: int, scheduled_at: datetime, now: datetime, settings: DaemonSettings
) -> bool:
    """True while the post has attempts left and is not older than the max age."""
    too_old = now - scheduled_at > timedelta(hours=settings.max_age_hours)
    return attempts < settings.max_attempts and not too_old


class Outcome(StrEnum):
    """What one publishing attempt came to, as the attempt log and the audit log name it."""

    PUBLISHED = "published"
    RATE_LIMITED = "rate-limited"
    AUTH = "auth"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    TRANSIENT = "transient"
    EXHAUSTED = "exhausted"


@dataclass(frozen=True)
class Decision:
    """What a failed attempt means for its post; the queue applies it with one compare-and-set."""

    outcome: Outcome
    state: str  # a PostState value
    retry_in: float | None = None  # seconds until the next attempt, when it goes back to queued
    refund_attempt: bool = False  # a rate limit is not the post's fault: no attempt used up
    pause_channel: bool = False  # the credentials are bad: stop the channel until a person acts
    note: str | None = None  # replaces the error text in last_error when set


def decide(
    error: BaseException,
    *,
    attempt: int,
    scheduled_at: datetime,
    now: datetime,
    settings: DaemonSettings,
    idempotent: bool,
    rng: random.Random | None = None,
) -> Decision:
    """The meaning of `error` for a post whose request may have left.

    Only errors the adapters classify are retried blindly: an exception of any other class may
    have come after the service accepted the post, so on a channel without idempotency it makes
    the post `unknown` (reconcile or a person settles it), never a resend.
    """
    if isinstance(error, RateLimitedError):
        wait = error.retry_after
        return Decision(
            Outcome.RATE_LIMITED,
            PostState.QUEUED,
            retry_in=wait if wait is not None else backoff_seconds(attempt, settings, rng),
            refund_attempt=True,
        )
    if isinstance(error, AuthError):
        return Decision(Outcome.AUTH, PostState.FAILED, pause_channel=True)
    if isinstance(error, RejectedError):
        return Decision(Outcome.REJECTED, PostState.FAILED)
    may_have_arrived = not isinstance(error, TransientError) or error.maybe_delivered
    if may_have_arrived and not idempotent:
        return Decision(Outcome.UNKNOWN, PostState.UNKNOWN)
    if may_retry(attempts=attempt, scheduled_at=scheduled_at, now=now, settings=settings):
        return Decision(
            Outcome.TRANSIENT, PostState.QUEUED, retry_in=backoff_seconds(attempt, settings, rng)
        )
    return Decision(
        Outcome.EXHAUSTED, PostState.FAILED, note=f"gave up after {attempt} attempts: {error}"
    )

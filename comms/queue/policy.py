"""When to try a failed post again: exponential backoff with full jitter, bounded by policy.

Kept apart from the daemon loop (as dramatiq keeps retry policy apart from its worker) so the
policy is a pure function of the attempt number and can be tested without clocks or sleeps.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from comms.config import DaemonSettings


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

"""The failure classes every HTTP adapter's tests drive through its fake, written once.

Each adapter must turn the same transport faults into the same error classes: a 5xx, timeout,
reset or malformed answer is a TransientError that says whether the post may have arrived, a 429
is a RateLimitedError carrying the wait, an expired or wrong token is an AuthError naming the
variable and never the token. The test files keep their service-specific checks and call these
for the shared part, so a new adapter gets the same strictness by calling them too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from comms.errors import AuthError, RateLimitedError, TransientError

# fault -> maybe_delivered: a 503 is refused before the service acts; the rest may have landed
TRANSIENT_FAULTS = [
    ("500", True),
    ("502", True),
    ("503", False),
    ("timeout", True),
    ("reset", True),
    ("malformed", True),
]
RATE_LIMIT_FAULTS = ["429", "429-date"]  # Retry-After in seconds, and as an HTTP date


def _where(path: str | None) -> dict[str, Any]:
    return {} if path is None else {"path": path}


def assert_transient(
    publish: Callable[[], Any],
    fake: Any,
    fault: str,
    delivered: bool,
    *,
    secret: str | None = None,
    path: str | None = None,
    delay: float = 1.5,
) -> TransientError:
    """`fault` on the next (matching) request: TransientError with `maybe_delivered` as given."""
    fake.fail_next(fault, delay=delay, **_where(path))
    with pytest.raises(TransientError) as info:
        publish()
    assert info.value.maybe_delivered is delivered
    if secret is not None:
        assert secret not in str(info.value)
    return info.value


def assert_rate_limited(
    publish: Callable[[], Any],
    fake: Any,
    fault: str,
    wait: int,
    *,
    path: str | None = None,
) -> RateLimitedError:
    """A 429 with Retry-After `wait`: RateLimitedError waiting that long (less 5 s of clock)."""
    fake.fail_next(fault, retry_after=wait, **_where(path))
    with pytest.raises(RateLimitedError) as info:
        publish()
    assert wait - 5 <= (info.value.retry_after or 0) <= wait
    return info.value


def assert_auth(
    publish: Callable[[], Any],
    *,
    says: str | None = None,
    secret: str | None = None,
    fake: Any = None,
    fault: str = "expired",
    path: str | None = None,
) -> AuthError:
    """An AuthError whose message has `says` (the variable to renew) and never `secret`.

    With `fake`, `fault` (an expired token) is set up first; without, the caller has broken the
    credentials already.
    """
    if fake is not None:
        fake.fail_next(fault, **_where(path))
    with pytest.raises(AuthError) as info:
        publish()
    if says is not None:
        assert says in str(info.value)
    if secret is not None:
        assert secret not in str(info.value)
    return info.value


def assert_wrong_or_missing_token(
    publish: Callable[[], Any],
    monkeypatch: pytest.MonkeyPatch,
    env: str,
    wrong: str = "some-other-token-value",
) -> None:
    """A token the service refuses, then no token at all: both AuthErrors naming `env`."""
    monkeypatch.setenv(env, wrong)
    assert_auth(publish, says=env, secret=wrong)
    monkeypatch.delenv(env)
    assert_auth(publish, says=env)

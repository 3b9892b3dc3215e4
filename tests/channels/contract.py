"""What every HTTP adapter's test module declares so that tests/channels/test_contract.py can run
the shared failure contract against it.

Each adapter must turn the same transport faults into the same error classes: a 5xx, timeout,
reset or malformed answer is a TransientError that says whether the post may have arrived, a 429
is a RateLimitedError carrying the wait, an expired, wrong or missing token is an AuthError naming
the variable and never the token, and an answer lost after the service took the post never leads
to a second copy. A service's test module keeps its own checks and declares one `Contract`; a
registered HTTP channel type without one fails the suite.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from comms.channels.base import Channel, OutgoingPost, Receipt
from comms.errors import AuthError

# fault -> maybe_delivered: a 503 is refused before the service acts; the rest may have landed
TRANSIENT_FAULTS = (
    ("500", True),
    ("502", True),
    ("503", False),
    ("timeout", True),
    ("reset", True),
    ("malformed", True),
)
RATE_LIMIT_FAULTS = ("429", "429-date")  # Retry-After in seconds, and as an HTTP date
AFTER_FAULTS = ("after-500", "after-timeout", "after-reset")  # the service has the post


@dataclass(frozen=True)
class Contract:
    """How the harness drives one adapter against its fake service."""

    type: str  # the registry's type name
    fake: Callable[[], Any]  # a new, unstarted fake service (a tests.fakes.server.FakeServer)
    env: dict[str, str]  # variables every test sets (the credentials the fake accepts)
    build: Callable[[Any], Channel]  # the adapter, pointed at the running fake
    post: Callable[[Path], OutgoingPost]  # a post the fake accepts (files go in the given dir)
    secret: str  # what no error message may show
    token_env: str  # the variable an auth error must name
    sends: tuple[str, str]  # (method, path regex) of the request that carries the post
    stored: Callable[[Any], list[str]]  # external ids of the posts the fake holds
    path: str | None = None  # where the faults strike (None: the next request of any kind)
    says: tuple[str, ...] = ()  # more an expired-token error must say
    wrong_says: tuple[str, ...] = ()  # more a refused-token error must say
    auth_status: int | None = None  # the HTTP status an expired-token error carries
    delay: float = 1.5  # how long a timeout fault stalls: above the adapter's timeout
    retry_after: int = 120  # the wait a 429 asks for
    transient: tuple[tuple[str, bool], ...] = TRANSIENT_FAULTS
    after: tuple[str, ...] = AFTER_FAULTS
    heals: frozenset[str] = frozenset()  # after-faults the adapter settles itself by a look-up
    resends: bool = False  # the retry sends again and the service dedupes (else it looks first)
    missing: type[Exception] = AuthError  # what an unset secret variable raises at call time
    renews: bool = False  # an expired token is renewed once and the call repeated
    finds: bool = True  # `find` looks a post up at the service
    checks_token: bool = True  # `check` proves the token (a relay can only be reached)
    isolate: Callable[[pytest.MonkeyPatch], None] | None = None  # process state to reset
    after_retry: Callable[[Any, Receipt], None] | None = None  # service facts after a retry

    def prepare(self, fake: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
        """The running fake, reset, with the credentials set and process state isolated."""
        fake.reset()
        for name, value in self.env.items():
            monkeypatch.setenv(name, value)
        if self.isolate is not None:
            self.isolate(monkeypatch)
        return fake

    @property
    def has_metrics(self) -> bool:
        """The adapter reads figures back from the service."""
        from comms.channels.registry import channel_class

        return bool(channel_class(self.type).has_metrics)

    def __str__(self) -> str:
        return self.type


def all_contracts() -> list[Contract]:
    """The CONTRACT of every tests/channels/test_*.py module that declares one."""
    from tests import channels as channel_tests

    found = []
    for info in pkgutil.iter_modules(channel_tests.__path__):
        if info.name.startswith("test_") and info.name not in HARNESSES:
            module = importlib.import_module(f"{channel_tests.__name__}.{info.name}")
            contract = getattr(module, "CONTRACT", None)
            if contract is not None:
                found.append(contract)
    return sorted(found, key=lambda c: c.type)


HARNESSES = {"test_contract", "test_answer_fuzz"}  # modules that run contracts, declare none

"""The failure contract, run against every registered HTTP adapter through one fixture.

Each service's test module declares a `CONTRACT` (tests/channels/contract.py); every test here
runs once per adapter, against that adapter's fake service over real HTTP on 127.0.0.1. A channel
type the registry knows that speaks HTTP but has no Contract fails `test_every_http_adapter_...`,
so a new adapter cannot skip the contract.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from comms.channels.base import Receipt
from comms.channels.registry import CHANNEL_TYPES
from comms.errors import AuthError, RateLimitedError, TransientError
from comms.store.models import PostState
from tests.channels.contract import RATE_LIMIT_FAULTS, Contract, all_contracts
from tests.channels.through import SETTLED, RaisesAfterSending, database, publish_once

NOT_HTTP = {"site", "email"}  # files on disk and SMTP: their own tests cover their failures


CONTRACTS = all_contracts()


def _cases(faults: Any) -> list[Any]:
    """(contract, fault[, expected]) for each fault: `faults(contract)` lists them."""
    cases = []
    for contract in CONTRACTS:
        for item in faults(contract):
            values = item if isinstance(item, tuple) else (item,)
            cases.append(pytest.param(contract, *values, id=f"{contract.type}-{values[0]}"))
    return cases


def test_every_http_adapter_declares_a_contract() -> None:
    declared = [c.type for c in CONTRACTS]
    assert sorted(declared) == sorted(set(CHANNEL_TYPES) - NOT_HTTP)
    assert len(declared) == len(set(declared))


# --- one running fake per adapter, forgotten between tests -------------------------------------


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Any]]:
    """Fakes started on first use and stopped with the module (starting one costs little,
    stopping one half a second)."""
    running: dict[str, Any] = {}
    yield running
    for fake in running.values():
        fake.stop()


class Bench:
    """One adapter's contract, its fake (reset) and a fresh adapter for each call."""

    def __init__(self, contract: Contract, fake: Any, tmp_path: Path) -> None:
        self.contract = contract
        self.fake = fake
        self.tmp_path = tmp_path

    def publish(self) -> Receipt:
        return self.contract.build(self.fake).publish(self.contract.post(self.tmp_path))

    def fail_next(self, fault: str, **options: Any) -> None:
        self.fake.fail_next(fault, path=self.contract.path, delay=self.contract.delay, **options)

    def sent(self) -> int:
        method, pattern = self.contract.sends
        return len(self.fake.calls(method, pattern))

    def stored(self) -> list[str]:
        return self.contract.stored(self.fake)

    def raises(self, kind: type[Exception], *, secret: str | None = None) -> Any:
        """Publish once, expecting `kind`; the error must not show the secret (or `secret`)."""
        with pytest.raises(kind) as info:
            self.publish()
        for hidden in {self.contract.secret, secret or self.contract.secret}:
            assert hidden not in str(info.value)
            assert hidden.replace(" ", "") not in str(info.value)
        return info.value


@pytest.fixture
def bench(
    request: pytest.FixtureRequest,
    servers: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Bench:
    contract: Contract = request.param
    fake = servers.get(contract.type)
    if fake is None:
        fake = servers[contract.type] = contract.fake().start()
    return Bench(contract, contract.prepare(fake, monkeypatch), tmp_path)


def _with_bench(cases: list[Any]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize(("bench", *_names(cases)), cases, indirect=["bench"])


def _names(cases: list[Any]) -> list[str]:
    width = len(cases[0].values) - 1
    return ["fault", "delivered"][:width]


EACH = pytest.mark.parametrize(
    "bench", [pytest.param(c, id=c.type) for c in CONTRACTS], indirect=True
)


# --- the contract ------------------------------------------------------------------------------


@_with_bench(_cases(lambda c: c.transient))
def test_transient_fault_says_whether_the_post_may_have_arrived(
    bench: Bench, fault: str, delivered: bool
) -> None:
    bench.fail_next(fault)
    error = bench.raises(TransientError)
    assert error.maybe_delivered is delivered
    assert bench.stored() == []
    assert bench.sent() == 1  # the transport never re-sent the post


@_with_bench(_cases(lambda c: RATE_LIMIT_FAULTS))
def test_429_is_rate_limited_for_as_long_as_asked(bench: Bench, fault: str) -> None:
    wait = bench.contract.retry_after
    bench.fail_next(fault, retry_after=wait)
    error = bench.raises(RateLimitedError)
    assert wait - 5 <= (error.retry_after or 0) <= wait  # less a few seconds of clock
    assert bench.stored() == []


@EACH
def test_expired_token_is_an_auth_error_naming_the_variable(bench: Bench) -> None:
    contract = bench.contract
    bench.fail_next("expired", times=2 if contract.renews else 1)
    error = bench.raises(AuthError)
    for words in (contract.token_env, *contract.says):
        assert words in str(error)
    if contract.auth_status is not None:
        assert error.status == contract.auth_status
    assert bench.sent() == (2 if contract.renews else 1)  # renewed once at most, then given up
    assert bench.stored() == []


@EACH
def test_refused_and_missing_token_are_auth_errors_naming_the_variable(
    bench: Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    contract = bench.contract
    wrong = "Wr0ng MARK3R 4711"
    monkeypatch.setenv(contract.token_env, wrong)
    error = bench.raises(AuthError, secret=wrong)
    assert not [piece for piece in wrong.split() if piece in str(error)]  # not even in part
    for words in (contract.token_env, *contract.wrong_says):
        assert words in str(error)

    monkeypatch.delenv(contract.token_env)
    assert contract.token_env in str(bench.raises(contract.missing))
    assert bench.stored() == []


@pytest.mark.parametrize(
    "bench", [pytest.param(c, id=c.type) for c in CONTRACTS if c.checks_token], indirect=True
)
def test_check_with_a_refused_token_fails_naming_the_variable(
    bench: Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "Wr0ng MARK3R 4711"
    monkeypatch.setenv(bench.contract.token_env, wrong)
    result = bench.contract.build(bench.fake).check()
    assert not result.ok
    assert f"${bench.contract.token_env}" in result.message
    assert not [piece for piece in wrong.split() if piece in result.message]
    assert bench.stored() == []


@_with_bench(_cases(lambda c: c.after))
def test_answer_lost_after_the_post_was_made_never_makes_a_second(bench: Bench, fault: str) -> None:
    contract = bench.contract
    bench.fail_next(fault)
    if fault in contract.heals:
        first: Receipt | None = bench.publish()  # settled by looking it up
    else:
        error = bench.raises(TransientError)
        assert error.maybe_delivered is True
        first = None
    assert len(bench.stored()) == 1  # the service has it

    adapter = contract.build(bench.fake)
    post = contract.post(bench.tmp_path)
    if contract.finds:
        assert adapter.find(post) is not None
    receipt = adapter.publish(post)  # the daemon's retry or `comms reconcile --resend`
    assert bench.stored() == [receipt.external_id]
    assert first in (None, receipt)
    if contract.finds:
        assert adapter.find(post) == receipt
    assert bench.sent() == (2 if contract.resends else 1)
    if contract.after_retry is not None:
        contract.after_retry(bench.fake, receipt)


@pytest.mark.parametrize(
    "bench",
    # an adapter that renews its session signs in again instead: its own tests cover that
    [pytest.param(c, id=c.type) for c in CONTRACTS if c.has_metrics and not c.renews],
    indirect=True,
)
def test_reading_figures_with_an_expired_token_is_an_auth_error_naming_the_variable(
    bench: Bench,
) -> None:
    receipt = bench.publish()
    contract = bench.contract
    bench.fake.fail_next("expired")
    with pytest.raises(AuthError, match=re.escape(contract.token_env)) as info:
        contract.build(bench.fake).metrics(receipt)
    assert contract.secret not in str(info.value)


@pytest.mark.parametrize(
    "bench",
    # an adapter that renews its session signs in again instead: its own tests cover that
    [pytest.param(c, id=c.type) for c in CONTRACTS if c.checks_token and not c.renews],
    indirect=True,
)
def test_check_with_an_expired_token_fails_naming_the_variable(bench: Bench) -> None:
    bench.fake.fail_next("expired")
    result = bench.contract.build(bench.fake).check()
    assert not result.ok
    assert bench.contract.token_env in result.message
    assert bench.contract.secret not in result.message


# --- answers of the wrong shape, size or speed (untrusted answers) -----------------------------


def _receipt_or_unsure(bench: Bench) -> Receipt | None:
    """Publish once: the receipt, or None after a TransientError that says the post may have
    arrived (the request had left), shows no secret and does not quote the body back."""
    error: TransientError | None = None
    try:
        return bench.publish()
    except TransientError as raised:
        error = raised
    assert error.maybe_delivered is True
    assert bench.contract.secret not in str(error)
    assert len(str(error)) < 1000
    return None


def _deadline(bench: Bench) -> float:
    """The adapter's total deadline: its timeout_seconds."""
    return float(bench.contract.build(bench.fake).settings.get("timeout_seconds", 30))


@_with_bench(_cases(lambda c: ("drip", "drip-head", "after-drip")))
def test_a_dripping_answer_ends_at_the_deadline_and_is_never_resent(
    bench: Bench, fault: str
) -> None:
    """A byte every third of the timeout: no single read times out, the total deadline must."""
    deadline = _deadline(bench)
    bench.fake.fail_next(fault, path=bench.contract.path, delay=deadline / 3)
    started = time.monotonic()
    receipt = _receipt_or_unsure(bench)  # a receipt where a look-up settled it
    elapsed = time.monotonic() - started
    assert elapsed < 2 * deadline + 1.5, f"{elapsed:.1f} s for a {deadline:g} s deadline"
    assert bench.sent() == 1
    if receipt is not None:
        assert bench.stored() == [receipt.external_id]


@_with_bench(_cases(lambda c: ("huge", "after-huge")))
def test_an_answer_over_the_size_cap_is_malformed_and_never_resent(
    bench: Bench, fault: str
) -> None:
    bench.fail_next(fault)
    receipt = _receipt_or_unsure(bench)
    assert bench.sent() == 1
    if fault == "huge":
        assert receipt is None
        assert bench.stored() == []
    elif receipt is not None:
        assert bench.stored() == [receipt.external_id]


def _after_cases(contract: Contract) -> list[str]:
    return ["after-garbage", "after-reset", "after-huge", "raises"]


@_with_bench(_cases(_after_cases))
def test_any_failure_after_the_post_was_taken_is_unknown_never_a_second_copy(
    bench: Bench, fault: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Class 3: whatever goes wrong once the request may have left — an answer of the wrong
    shape, a dropped connection, an exception of no known class — the post is `unknown` on a
    channel without idempotency (queued for a retry that cannot duplicate on one with it), or
    `published` where the adapter found its post; never a second copy, never `publishing`."""
    contract = bench.contract
    wrap = None
    if fault == "raises":
        wrap = lambda adapter: RaisesAfterSending(adapter, KeyError("surprise"))  # noqa: E731
    else:
        bench.fail_next(fault)
    url = database(tmp_path)
    with caplog.at_level(logging.INFO):
        outcome = publish_once(contract, bench.fake, tmp_path, wrap=wrap, url=url)
    adapter = contract.build(bench.fake)
    state = outcome.post.state
    assert state in SETTLED, state
    assert len(bench.stored()) == 1  # the service has it, once
    if state == PostState.QUEUED:
        assert adapter.idempotent, "a channel without idempotency was queued for a resend"
        again = publish_once(contract, bench.fake, tmp_path, post_id=outcome.post.id, url=url)
        assert again.post.state in (PostState.QUEUED, PostState.PUBLISHED, PostState.UNKNOWN)
    elif state == PostState.PUBLISHED:  # found by a look-up, or a relay's 2xx (any 2xx is success)
        assert outcome.post.external_id
    else:
        assert state == PostState.UNKNOWN, outcome.post.last_error
    assert len(bench.stored()) == 1  # and no retry made a second
    assert contract.secret.encode() not in outcome.db_bytes
    assert contract.secret not in caplog.text

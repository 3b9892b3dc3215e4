"""A fuzzer for answers: whatever a service sends back, a post ends in a state a person can act
on, nothing escapes the daemon, and no secret shows.

For every HTTP adapter (its CONTRACT and fake), hypothesis makes the answer to the request that
carries the post: a status code, headers (Retry-After, the rate-limit reset, LinkedIn's id
header, a content type) and a body — JSON of the wrong shape, text and non-UTF-8 bytes, nesting
past any reason, a body cut short, a drip, megabytes — sometimes with the channel's secret
echoed in it (plain, percent-encoded or JSON-escaped), and either after the service took the post
or instead of it. The post goes through the real publisher into a real SQLite database, and:
- it ends `published`, `failed`, `queued` (for a retry) or `unknown`, never `publishing`;
- the publisher logs no escaped exception;
- no secret is in the log, the database file, or the post's row.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comms.channels.base import OutgoingPost
from tests.channels.contract import Contract, all_contracts
from tests.channels.through import SETTLED, database, publish_once
from tests.fakes.server import RawAnswer

CONTRACTS = all_contracts()
STATUSES = [200, 201, 202, 204, 301, 400, 401, 403, 404, 409, 410, 413, 422, 429, 500, 502]
STATUSES += [503, 504, 520, 599]
MIB = 1 << 20


def markers(contract: Contract) -> list[str]:
    """What must never show: every credential the contract sets (a webhook's URL token too)."""
    values = [value for value in contract.env.values() if len(value) >= 8]
    return values + (["T0K3N-in-path"] if contract.type == "webhook" else [])


def echoed(secret: str) -> st.SearchStrategy[str]:
    """The secret as a service might echo it: plain, percent-encoded, JSON-escaped."""
    return st.sampled_from(
        [secret, quote(secret, safe=""), json.dumps(secret)[1:-1].replace("/", "\\/")]
    )


def texts(secret: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=40),
        st.sampled_from(["1", "0", "-1", "123_456", "at://did:plc:x/app.bsky.feed.post/3k"]),
        st.sampled_from(["https://example.dk/p/1", "javascript:alert(1)", "urn:li:share:1"]),
        echoed(secret).map(lambda s: f"bad token {s} here"),
        echoed(secret),
    )


def json_values(secret: str) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**20), max_value=10**20),
        st.floats(allow_nan=False),
        texts(secret),
    )
    keys = st.sampled_from(["id", "post_id", "uri", "url", "link", "data", "error", "message"])
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(keys | st.text(max_size=8), inner, max_size=5),
        ),
        max_leaves=12,
    )


def bodies(secret: str, *, big: bool) -> st.SearchStrategy[bytes]:
    shapes = [
        json_values(secret).map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=64),  # not UTF-8, not JSON
        texts(secret).map(str.encode),
        st.integers(min_value=100, max_value=5000).map(lambda n: b"[" * n + b"]" * n),
        st.just(b"[" * 200_000),  # nested past any parser, and never closed
    ]
    if big:
        shapes.append(st.just(b'{"id": "1", "x": "' + b"y" * (2 * MIB) + b'"}'))
    return st.one_of(*shapes)


def headers(secret: str) -> st.SearchStrategy[dict[str, str]]:
    values = st.one_of(
        st.sampled_from(["0", "5", "-3", "1e9", "Wed, 21 Oct 2015 07:28:00 GMT", "soon"]),
        st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
        echoed(secret),
    )
    names = st.sampled_from(
        ["Retry-After", "X-RateLimit-Reset", "x-rate-limit-reset", "x-restli-id", "Location"]
    )
    kinds = st.sampled_from(["application/json", "text/html", "application/json; charset=latin-1"])
    return st.builds(
        lambda extra, kind: {"Content-Type": kind, **extra},
        st.dictionaries(names, values, max_size=3),
        kinds,
    )


def answers(secret: str, deadline: float, *, big: bool) -> st.SearchStrategy[RawAnswer]:
    drips = st.sampled_from([0.0] * 12 + [deadline / 4]) if big else st.just(0.0)
    return st.builds(
        RawAnswer,
        status=st.sampled_from(STATUSES),
        headers=headers(secret),
        body=bodies(secret, big=big),
        drip=drips,
        truncate=st.booleans(),
    )


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Any]]:
    running: dict[str, Any] = {}
    yield running
    for fake in running.values():
        fake.stop()


def _fuzz(
    contract: Contract,
    servers: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    *,
    examples: int,
    big: bool,
) -> None:
    fake = servers.get(contract.type)
    if fake is None:
        fake = servers[contract.type] = contract.fake().start()
    contract.prepare(fake, monkeypatch)
    deadline = float(contract.build(fake).settings.get("timeout_seconds", 30))
    secret = markers(contract)[0]
    url = database(tmp_path)
    template = contract.post(tmp_path)

    @settings(
        max_examples=examples,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize=True,  # the same examples every run: a failure can be re-run as it was
    )
    @given(answer=answers(secret, deadline, big=big), taken=st.booleans())
    def example(answer: RawAnswer, taken: bool) -> None:
        contract.prepare(fake, monkeypatch)
        caplog.clear()
        outgoing = OutgoingPost(**{**template.__dict__, "idempotency_key": str(uuid.uuid4())})
        fake.fail_next("after-answer" if taken else "answer", path=contract.path, answer=answer)
        with caplog.at_level(logging.INFO):
            outcome = publish_once(contract, fake, tmp_path, outgoing=outgoing, url=url)
        post = outcome.post
        assert post.state in SETTLED, f"{post.state}: {post.last_error}"
        escaped = [r for r in caplog.records if r.exc_info or "publishing failed" in r.message]
        assert not escaped, escaped[0].getMessage()
        row = json.dumps(post.model_dump(mode="json"))
        for marker in markers(contract):
            for form in {marker, marker.replace(" ", ""), quote(marker, safe="")}:
                assert form not in caplog.text
                assert form not in row
                assert form.encode() not in outcome.db_bytes

    example()


EACH = pytest.mark.parametrize("contract", CONTRACTS, ids=str)


@EACH
def test_any_answer_leaves_the_post_settled_and_no_secret_shown(
    contract: Contract,
    servers: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _fuzz(contract, servers, monkeypatch, tmp_path, caplog, examples=12, big=False)


@pytest.mark.slow
@EACH
def test_any_answer_even_huge_or_slow_leaves_the_post_settled(
    contract: Contract,
    servers: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _fuzz(contract, servers, monkeypatch, tmp_path, caplog, examples=50, big=True)

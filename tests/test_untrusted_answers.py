"""What services answer is untrusted input: its values checked, its size and time bounded, and
secrets kept out of every form they come back in (docs/security.md, "What services answer").

The per-adapter halves of these promises run for every adapter in tests/channels/test_contract.py
and tests/channels/test_answer_fuzz.py; here are the pieces they stand on, and the daemon as a
separate process held by a dripping relay.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
import requests

from comms.channels.answers import (
    MAX_COUNT,
    checked_figures,
    checked_receipt,
    count_field,
    id_field,
    str_field,
    url_field,
)
from comms.channels.base import Figures, Receipt
from comms.channels.email import EmailChannel
from comms.channels.http import error_reason
from comms.channels.mastodon import MastodonChannel
from comms.channels.scrub import Scrubber, redact_url
from comms.channels.settings import ChannelSettings
from comms.channels.webhook import WebhookChannel
from comms.config import load_settings
from comms.errors import ConfigError, MalformedAnswer
from comms.logs import SecretScrubber
from comms.metrics import collect_due
from comms.store.models import PostState
from tests.channels.through import SETTLED, database, publish_once, queue_post
from tests.factories import add_post, channel_table, get_post
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.server import RawAnswer
from tests.fakes.webhook import FakeRelay
from tests.test_daemon import _start_daemon
from tests.timing import wait_until

TOKEN = "EAAB|s3cr3t/ÆØÅ+marker-7f3c"  # every character URL-quoting and JSON escaping change
HOOK_SECRET = "whsec-untrusted-marker-8812"
HOOK_ENV = "COMMS_TEST_UNTRUSTED_HOOK"

# --- the typed answer reader -------------------------------------------------------------------


@pytest.mark.parametrize("value", [True, -1, MAX_COUNT + 1, 1.5, "12", [3], {"n": 1}], ids=repr)
def test_a_count_is_a_whole_number_in_range_and_nothing_else(value: object) -> None:
    with pytest.raises(MalformedAnswer, match="not a count"):
        count_field({"n": value}, "n", what="x")


def test_counts_ids_and_urls_of_the_right_shape_are_read() -> None:
    body = {"n": 12.0, "id": 42, "uri": "at://did/p/1", "url": "https://x.dk/1"}
    assert count_field(body, "n") == 12
    assert count_field(body, "missing") is None
    assert id_field(body) == "42"
    assert str_field(body, "uri") == "at://did/p/1"
    assert url_field(body) == "https://x.dk/1"


@pytest.mark.parametrize(
    "value", [None, "", "a b", "x" * 501, ["1"], {"id": 1}, True, "tab\there"], ids=repr
)
def test_an_id_is_bounded_printable_text(value: object) -> None:
    with pytest.raises(MalformedAnswer, match="not an id"):
        id_field({"id": value}, what="x")


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "ftp://x.dk/f", "https://", "https://x.dk/" + "a" * 2000, 5]
)
def test_a_url_that_is_no_http_url_is_dropped_not_stored(url: object) -> None:
    assert url_field({"url": url}) is None
    receipt = checked_receipt(Receipt(external_id="1", url=url))  # type: ignore[arg-type]
    assert receipt == Receipt(external_id="1", url=None)  # the id still proves the post


def test_an_answer_that_is_no_object_is_malformed() -> None:
    with pytest.raises(MalformedAnswer, match="not an object"):
        id_field([{"id": "1"}], what="x")
    with pytest.raises(MalformedAnswer, match="not a receipt"):
        checked_receipt({"external_id": "1"})


def test_figures_of_the_wrong_kind_are_malformed() -> None:
    assert checked_figures(Figures(reach=3, clicks=None)).reach == 3
    for bad in (Figures(reach=-1), Figures(clicks=True), Figures(engagements=10**13)):  # type: ignore[arg-type]
        with pytest.raises(MalformedAnswer):
            checked_figures(bad)


# --- secrets in every form ---------------------------------------------------------------------


def test_a_secret_is_scrubbed_plain_percent_encoded_and_json_escaped() -> None:
    scrub = Scrubber([TOKEN])
    forms = [
        TOKEN,
        requests.utils.quote(TOKEN, safe=""),
        requests.utils.quote(TOKEN),
        json.dumps(TOKEN)[1:-1],
        re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), json.dumps(TOKEN)[1:-1]),
        json.dumps(TOKEN, ensure_ascii=False)[1:-1].replace("/", "\\/"),
    ]
    for form in forms:
        text = scrub(f"before {form} after")
        assert text == "before *** after", form
    spaced = Scrubber(["abcd efgh ijkl"])
    assert spaced("pw abcdefghijkl here") == "pw *** here"


def test_a_reason_is_scrubbed_before_it_is_cut() -> None:
    """A token straddling the 300th character: cut first, its first half would be shown."""
    response = requests.Response()
    response.status_code = 400
    response._content = json.dumps({"message": "x" * 290 + " " + TOKEN}).encode()
    reason = error_reason(response, scrub=Scrubber([TOKEN]))
    assert len(reason) <= 300
    assert "EAAB" not in reason
    assert reason.endswith("***")


def test_the_log_filter_scrubs_messages_arguments_and_tracebacks(caplog) -> None:
    import logging

    log = logging.getLogger("comms.test.untrusted")
    log.addFilter(SecretScrubber([TOKEN]))
    try:
        with caplog.at_level(logging.INFO, logger="comms.test.untrusted"):
            try:
                raise RuntimeError(f"GET /me?access_token={requests.utils.quote(TOKEN)}")
            except RuntimeError:
                log.exception("failed with %s", json.dumps({"t": TOKEN}))
    finally:
        log.filters.clear()
    text = caplog.text + "".join(r.exc_text or "" for r in caplog.records)
    assert "s3cr3t" not in text
    assert "RuntimeError" in text  # the traceback is kept, only masked


def test_a_webhook_url_is_shown_as_its_host_only() -> None:
    assert redact_url("https://hooks.slack.com/services/T0/B0/XYZ") == "https://hooks.slack.com/…"
    assert redact_url("https://user:pw@relay.dk?token=abc") == "https://relay.dk/…"
    assert redact_url("https://relay.dk") == "https://relay.dk"


def test_webhook_check_goes_through_the_scrubbing_client(monkeypatch) -> None:
    monkeypatch.setenv(HOOK_ENV, HOOK_SECRET)
    with FakeRelay(HOOK_SECRET) as relay:
        relay.fail_next("500")
        hook = WebhookChannel(
            ChannelSettings("intranet", "webhook", {"url": relay.hook_url, "secret_env": HOOK_ENV})
        )
        result = hook.check()
        origin = relay.url
    assert not result.ok
    assert "T0K3N" not in result.message
    assert result.message.startswith(f"{origin}/… answers (HTTP 500")


def test_an_smtp_reply_that_quotes_the_password_is_scrubbed(monkeypatch) -> None:
    monkeypatch.setenv("COMMS_TEST_SMTP_PW", "smtp-pass-marker-4411")
    mailer = EmailChannel(
        ChannelSettings(
            "nyhedsbrev",
            "email",
            {"host": "localhost", "username": "anne", "password_env": "COMMS_TEST_SMTP_PW"},
        )
    )
    plain = "AGFubmUAc210cC1wYXNzLW1hcmtlci00NDEx"  # base64 of \0anne\0password (AUTH PLAIN)
    error = mailer._reply_error(535, f"bad login smtp-pass-marker-4411 / {plain}".encode(), "AUTH")
    text = str(mailer._scrubbed(error))
    assert "marker-4411" not in text
    assert plain not in text
    assert "$COMMS_TEST_SMTP_PW" in text


# --- the config refuses secrets where a variable's name belongs ------------------------------

SITE = '[channels.hjemmeside]\ntype = "site"\npath = "site"\n'


def _config_error(tmp_path: Path, table: str) -> str:
    path = tmp_path / "c.toml"
    path.write_text(SITE + "\n" + table, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    return str(info.value)


def test_a_token_in_token_env_is_refused_without_showing_it(tmp_path) -> None:
    value = "EAABwzLixnjYBO3kZBq9ZCt0ken"
    message = _config_error(tmp_path, channel_table("fb", "facebook", page_id="1", token_env=value))
    assert value not in message
    assert "NAME of an environment variable" in message
    assert "token_env" in message


@pytest.mark.parametrize(
    "key", ["api_key", "apikey", "bearer", "pw", "passwd", "client_secret", "access_token"]
)
def test_secret_like_keys_are_refused_like_token(tmp_path, key: str) -> None:
    table = channel_table("fb", "facebook", page_id="1", token_env="COMMS_FB", **{key: "s3cr3t!"})
    message = _config_error(tmp_path, table)
    assert f"has a secret value in {key!r}" in message
    assert "s3cr3t!" not in message


def test_ordinary_keys_that_share_letters_with_secret_words_are_kept(tmp_path) -> None:
    path = tmp_path / "c.toml"
    options = {"organization_id": "1", "api_version": "202405", "token_env": "COMMS_LI"}
    path.write_text(SITE + channel_table("li", "linkedin", **options), encoding="utf-8")
    assert load_settings(path).channels["li"].get("api_version") == "202405"


# --- a total deadline, through the publisher and through the daemon ---------------------------


class _HookContract:
    """Enough of a Contract for `publish_once`: a webhook with a 2 s timeout."""

    type = "webhook"

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def build(self, relay: FakeRelay) -> WebhookChannel:
        options = {"url": relay.hook_url, "secret_env": HOOK_ENV, "timeout_seconds": self.timeout}
        return WebhookChannel(ChannelSettings("intranet", "webhook", options))


def test_a_relay_that_drips_is_given_up_at_the_deadline_and_the_post_is_unknown(
    tmp_path, monkeypatch
) -> None:
    """One byte each 0.5 s never trips a 2 s read timeout; the 2 s deadline must end it."""
    from tests.channels.test_webhook import post as hook_post

    monkeypatch.setenv(HOOK_ENV, HOOK_SECRET)
    with FakeRelay(HOOK_SECRET) as relay:
        relay.fail_next("after-drip", delay=0.5)
        started = time.monotonic()
        outcome = publish_once(_HookContract(2.0), relay, tmp_path, outgoing=hook_post())  # type: ignore[arg-type]
        elapsed = time.monotonic() - started
        assert len(relay.deliveries) == 1  # the relay has it: so no resend
    assert elapsed < 4.0, elapsed
    assert outcome.post.state == PostState.UNKNOWN
    assert re.search(r"within 2 s", outcome.post.last_error or "")


@pytest.mark.slow
def test_sigterm_is_not_held_past_the_deadline_by_a_dripping_relay(
    make_settings, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv(HOOK_ENV, HOOK_SECRET)
    with FakeRelay(HOOK_SECRET) as relay:
        table = channel_table(
            "intranet", "webhook", url=relay.hook_url, secret_env=HOOK_ENV, timeout_seconds=2
        )
        settings = make_settings(channels=table)
        url = settings.database_url
        process = _start_daemon(settings)
        try:
            wait_until(lambda: relay.calls("GET", "/hooks/"), 20)  # its start-up check is done
            relay.fail_next("after-drip", delay=0.5)
            post_id = add_post(url, channel="intranet")
            wait_until(lambda: relay.deliveries, 20)  # the relay has it and has begun to drip
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=30)
            stopped = time.monotonic() - started
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, stderr
    assert stopped < 4.0, stopped  # the call ends at its 2 s deadline, then the daemon stops
    assert get_post(url, post_id).state == PostState.UNKNOWN
    assert HOOK_SECRET not in stderr
    assert "T0K3N" not in stderr


# --- metrics: one post's bad answer fails that post only ---------------------------------------


def test_a_metrics_answer_of_the_wrong_shape_fails_that_post_only(
    make_settings, tmp_path, monkeypatch
) -> None:
    token = "mstdn-untrusted-marker-31"
    monkeypatch.setenv("COMMS_TEST_UNTRUSTED_MASTODON", token)
    with FakeMastodon(token=token) as fake:
        table = channel_table(
            "mastodon",
            "mastodon",
            base_url=fake.url,
            token_env="COMMS_TEST_UNTRUSTED_MASTODON",
            timeout_seconds=2,
        )
        settings = make_settings(channels=table)
        adapter = MastodonChannel(settings.channels["mastodon"])
        url = settings.database_url
        rows = []
        for number, answer in enumerate(
            [None, b'[{"replies_count": 1}]', b'{"replies_count": -5}', b'{"quotes_count": true}'],
            start=1,
        ):
            from tests.channels.test_mastodon import post as toot

            receipt = adapter.publish(toot(number, text=f"Tryg nummer {number}"))
            rows.append(
                add_post(
                    url,
                    channel="mastodon",
                    state=PostState.PUBLISHED,
                    published_at=time_ago(hours=2),
                    external_id=receipt.external_id,
                )
            )
            if answer is not None:
                fake.fail_next(
                    "after-answer",
                    path=f"/api/v1/statuses/{receipt.external_id}",
                    answer=RawAnswer(200, {"Content-Type": "application/json"}, answer),
                )
        summary = collect_due(settings, force=True)
    assert summary.collected == 2  # the good one, and the one whose `true` is no count at all
    assert sorted(summary.failed_posts) == sorted(rows[1:3])
    assert "error(s) (posts" in summary.line()


def time_ago(**delta: float):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from comms.store.models import utcnow

    return utcnow() - timedelta(**delta)


def test_a_post_never_stays_publishing_whatever_the_answer(tmp_path, monkeypatch) -> None:
    """A few answers by hand (the fuzzer makes many): each leaves the post settled."""
    from tests.channels.test_webhook import post as hook_post

    monkeypatch.setenv(HOOK_ENV, HOOK_SECRET)
    url = database(tmp_path)
    with FakeRelay(HOOK_SECRET) as relay:
        for index, answer in enumerate(
            [
                RawAnswer(200, {}, b"[" * 100_000),
                RawAnswer(201, {}, b'{"id": "' + HOOK_SECRET.encode() + b'"}'),
                RawAnswer(500, {}, b"\xff\xfe", truncate=True),
                RawAnswer(429, {"Retry-After": "soon"}, b"{}"),
            ]
        ):
            relay.reset()
            relay.fail_next("after-answer", answer=answer)
            outgoing = hook_post(index + 10)
            post_id = queue_post(url, "intranet", outgoing)
            outcome = publish_once(
                _HookContract(1.0),
                relay,
                tmp_path,
                post_id=post_id,
                url=url,  # type: ignore[arg-type]
            )
            assert outcome.post.state in SETTLED, outcome.post.last_error
            assert HOOK_SECRET.encode() not in outcome.db_bytes


# --- SMTP: the whole session within timeout_seconds ---------------------------------------------


class _DrippingSmtp:
    """A TCP server on 127.0.0.1 whose greeting comes one byte every `every` seconds."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.server.settimeout(5)
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        greeting = b"220-" + b"slow " * 60 + b"\r\n220 ready\r\n"
        with conn:
            for byte in greeting:
                if self.stop.is_set():
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(self.every)

    def close(self) -> None:
        self.stop.set()
        self.server.close()
        self.thread.join(timeout=5)


def test_an_smtp_server_that_drips_its_greeting_is_cut_at_the_deadline() -> None:
    from comms.errors import TransientError
    from tests.channels.test_email import post as letter

    server = _DrippingSmtp(every=0.2)  # far below the 1 s read timeout: no read ever times out
    try:
        mailer = EmailChannel(
            ChannelSettings(
                "nyhedsbrev",
                "email",
                {
                    "host": "127.0.0.1",
                    "port": server.port,
                    "starttls": False,
                    "from": "Tryg Aalborg <tryg@aalborg.dk>",
                    "to": ["borger@example.dk"],
                    "timeout_seconds": 1,
                },
            )
        )
        started = time.monotonic()
        with pytest.raises(TransientError) as info:
            mailer.publish(letter())
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert elapsed < 3.0, elapsed  # the greeting alone would take a minute
    assert info.value.maybe_delivered is False  # nothing was sent yet

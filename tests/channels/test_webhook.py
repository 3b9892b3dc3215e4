"""The webhook channel against a fake relay on 127.0.0.1 that verifies the signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from comms.channels.base import Figures, OutgoingPost, Receipt
from comms.channels.registry import create_channel
from comms.channels.settings import ChannelSettings
from comms.channels.webhook import WebhookChannel, sign
from comms.errors import AuthError, ConfigError, RateLimitedError, RejectedError, TransientError
from tests.channels import factory
from tests.channels.contract import TRANSIENT_FAULTS, Contract
from tests.fakes.webhook import FakeRelay

ENV = "COMMS_TEST_WEBHOOK_SECRET"
SECRET = "whsec-UNIQUE-marker-5521"


def channel(relay: FakeRelay, **options: object) -> WebhookChannel:
    defaults: dict[str, object] = {
        "url": relay.hook_url,
        "secret_env": ENV,
        "timeout_seconds": 1.0,
    }
    return WebhookChannel(factory.settings("intranet", "webhook", defaults, options))


def post(post_id: int = 3, **fields: object) -> OutgoingPost:
    defaults: dict[str, object] = {
        "idempotency_key": factory.key("hook", post_id),
        "channel": "intranet",
        "title": "Tryg i Ålborg – før festen",
        "text": "Kom godt hjem. Følg en ven 🙂",
        "link": "https://aalborg.dk/natteliv",
        "campaign": "natteliv-2026",
        "audience": "unge",
        "scheduled_at": datetime(2026, 12, 31, 21, 30, tzinfo=UTC),
    }
    return factory.outgoing(post_id, defaults, fields)


def _resent_under_the_same_key(relay: FakeRelay, receipt: Receipt) -> None:
    keys = {r.header("idempotency-key") for r in relay.calls("POST", "/hooks/")}
    assert keys == {post().idempotency_key}
    assert receipt.external_id == "msg-1"


CONTRACT = Contract(
    type="webhook",
    fake=lambda: FakeRelay(SECRET),
    env={ENV: SECRET},
    build=channel,
    post=lambda _files: post(),
    secret=SECRET,
    token_env=ENV,
    sends=("POST", "/hooks/"),
    stored=lambda relay: list(relay.by_key.values()),
    transient=tuple(f for f in TRANSIENT_FAULTS if f[0] != "malformed"),  # a 2xx is success
    missing=ConfigError,  # read unwrapped through ChannelSettings.secret (not AuthError)
    resends=True,  # the relay dedupes on Idempotency-Key
    finds=False,  # a relay cannot be asked what it has
    checks_token=False,  # only posting proves the secret; check must not post
    after_retry=_resent_under_the_same_key,
)

server, relay = factory.fixtures(CONTRACT, name="relay")  # one relay, forgotten between tests


def test_registry_builds_the_webhook_channel():
    settings = ChannelSettings(name="w", type="webhook", options={})
    adapter = create_channel(settings)
    assert isinstance(adapter, WebhookChannel)
    assert adapter.idempotent is False  # so the queue marks an unsure send unknown, not resent


def test_signed_json_body_reaches_the_relay(relay):
    receipt = channel(relay).publish(post())
    [delivery] = relay.deliveries
    assert receipt.external_id == "msg-1"
    assert receipt.url == f"{relay.url}/messages/msg-1"
    assert delivery["body"] == {
        "id": 3,
        "idempotency_key": post().idempotency_key,
        "channel": "intranet",
        "campaign": "natteliv-2026",
        "audience": "unge",
        "title": "Tryg i Ålborg – før festen",
        "text": "Kom godt hjem. Følg en ven 🙂",
        "link": "https://aalborg.dk/natteliv",
        "image_alt": None,
        "scheduled_at": "2026-12-31T21:30:00Z",
    }
    headers = delivery["headers"]
    signed = headers["x-comms-timestamp"].encode() + b"." + delivery["raw"]
    expected = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert headers["x-comms-signature"] == f"sha256={expected}"
    assert abs(int(headers["x-comms-timestamp"]) - time.time()) < 5
    assert headers["idempotency-key"] == post().idempotency_key
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert "Ålborg".encode() in delivery["raw"]  # UTF-8, not \\u escapes


def test_image_url_and_alt_text_when_images_have_a_public_home(relay, tmp_path: Path):
    image = tmp_path / "plakat.png"
    image.write_bytes(b"png")
    hook = channel(relay, image_base_url="https://www.aalborg.dk/media")
    hook.publish(post(image_path=image, image_alt="Plakat med to venner"))
    body = relay.deliveries[0]["body"]
    assert body["image_url"] == "https://www.aalborg.dk/media/plakat.png"
    assert body["image_alt"] == "Plakat med to venner"
    channel(relay).publish(post(4, image_path=image, image_alt="Plakat"))
    assert "image_url" not in relay.deliveries[1]["body"]  # no public URL: no broken link


def test_sign_is_hmac_sha256_over_the_exact_bytes():
    body = b'{"a":1}'
    signed = b"1700000000." + body
    assert (
        sign("k", body, "1700000000")
        == "sha256=" + hmac.new(b"k", signed, hashlib.sha256).hexdigest()
    )
    assert sign("k", body, "1700000000") != sign("k", b'{"a": 1}', "1700000000")
    assert sign("k", body, "1700000000") != sign("k", body, "1700000001")  # no replays


def test_stale_clock_is_refused_by_the_relay(relay):
    hook = WebhookChannel(
        channel(relay).settings, clock=lambda: time.time() - 3600
    )  # a machine an hour behind
    with pytest.raises(AuthError, match="stale timestamp"):
        hook.publish(post())


def test_text_over_the_relay_limit_is_rejected(relay):
    with pytest.raises(RejectedError, match="413"):
        channel(relay).publish(post(text="x" * 40_001))


def test_malformed_2xx_answer_is_still_success(relay):
    relay.fail_next("malformed")
    receipt = channel(relay).publish(post())
    assert receipt.external_id == post().idempotency_key


def test_secret_and_url_token_never_appear_in_errors(relay):
    messages = []
    for fault in ("500", "reset", "timeout", "429", "expired"):
        relay.fail_next(fault, delay=1.5)
        with pytest.raises((TransientError, RateLimitedError, AuthError)) as info:
            channel(relay).publish(post())
        messages.append(str(info.value))
    gone = FakeRelay(SECRET).start()
    url = gone.hook_url
    gone.stop()
    with pytest.raises(TransientError) as info:
        channel(relay, url=url).publish(post())
    messages.append(str(info.value))
    for message in messages:
        assert SECRET not in message
        assert "T0K3N" not in message


def test_connection_refused_is_not_delivered(relay):
    gone = FakeRelay(SECRET).start()
    url = gone.hook_url
    gone.stop()
    with pytest.raises(TransientError) as info:
        channel(relay, url=url).publish(post())
    assert info.value.maybe_delivered is False


def test_check_sees_the_relay_without_posting(relay):
    result = channel(relay).check()
    assert result.ok
    assert ENV in result.message
    assert relay.deliveries == []
    assert "T0K3N" not in result.message


def test_check_raises_when_the_relay_is_unreachable(relay):
    gone = FakeRelay(SECRET).start()
    url = gone.hook_url
    gone.stop()
    with pytest.raises(TransientError):
        channel(relay, url=url).check()


def test_no_lookup_and_no_figures(relay):
    hook = channel(relay)
    receipt = hook.publish(post())
    assert hook.find(post()) is None
    assert hook.has_metrics is False
    assert hook.metrics(receipt) == Figures()


def test_body_is_compact_json_with_keys_in_contract_order(relay):
    keys = list(json.loads(channel(relay).body(post())))
    assert keys == [
        "id",
        "idempotency_key",
        "channel",
        "campaign",
        "audience",
        "title",
        "text",
        "link",
        "image_alt",
        "scheduled_at",
    ]

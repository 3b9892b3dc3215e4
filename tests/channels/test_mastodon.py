"""The mastodon channel against a fake instance on 127.0.0.1 that enforces the real API's rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from comms.channels.base import OutgoingPost, Receipt
from comms.channels.mastodon import MastodonChannel, plain_text
from comms.channels.registry import create_channel
from comms.channels.settings import ChannelSettings
from comms.errors import ConfigError, RateLimitedError, RejectedError, TransientError
from tests.channels import factory
from tests.channels.contract import Contract
from tests.fakes.mastodon import FakeMastodon, status_length

TOKEN = "mstdn-MARKER-7f3a9c1e-never-print-me"
ENV = "COMMS_TEST_MASTODON_TOKEN"
PNG = factory.picture_bytes("PNG", pad=64)


def channel(fake: FakeMastodon, **options: object) -> MastodonChannel:
    defaults: dict[str, object] = {"base_url": fake.url, "token_env": ENV, "timeout_seconds": 0.5}
    adapter = MastodonChannel(factory.settings("mastodon", "mastodon", defaults, options))
    adapter.media_poll_seconds = 0.01
    return adapter


def post(post_id: int = 1, **fields: object) -> OutgoingPost:
    defaults: dict[str, object] = {
        "idempotency_key": factory.key("mastodon", post_id),
        "channel": "mastodon",
        "text": "Kom til tryghedsvandring i Vejgaard i aften. Vi går fra Vejgaard Torv kl. 18.",
        "link": "https://www.aalborg.dk/tryg?utm_source=mastodon",
    }
    return factory.outgoing(post_id, defaults, fields)


def image(tmp_path: Path) -> Path:
    return factory.write(tmp_path, "plakat.png", PNG)


CONTRACT = Contract(
    type="mastodon",
    fake=lambda: FakeMastodon(token=TOKEN),
    env={ENV: TOKEN},
    build=channel,
    post=lambda _files: post(),
    secret=TOKEN,
    token_env=ENV,
    sends=("POST", "/api/v1/statuses"),
    stored=lambda fake: list(fake.statuses),
    path="/api/v1/statuses",
    says=(f"${ENV}",),
    missing=ConfigError,  # read unwrapped through ChannelSettings.secret (not AuthError)
    auth_status=401,
    resends=True,  # under the same Idempotency-Key: the instance answers with the first status
)

server, fake = factory.fixtures(CONTRACT)


def test_registry_builds_the_channel(fake: FakeMastodon) -> None:
    adapter = create_channel(
        ChannelSettings(name="m", type="mastodon", options={"base_url": fake.url})
    )
    assert isinstance(adapter, MastodonChannel)
    assert adapter.idempotent
    assert adapter.has_metrics


def test_text_with_link_is_posted_under_the_idempotency_key(fake: FakeMastodon) -> None:
    item = post()
    receipt = channel(fake).publish(item)

    stored = fake.statuses[receipt.external_id]
    assert stored["text"] == item.text + "\n\nhttps://www.aalborg.dk/tryg?utm_source=mastodon"
    assert stored["visibility"] == "public"
    assert stored["language"] == "da"
    assert receipt.url == stored["url"]
    (call,) = fake.calls("POST", "/api/v1/statuses")
    assert call.header("idempotency-key") == item.idempotency_key
    assert call.header("authorization") == f"Bearer {TOKEN}"


def test_link_already_in_the_text_is_not_repeated(fake: FakeMastodon) -> None:
    text = "Læs mere på https://www.aalborg.dk/tryg – tak!"
    receipt = channel(fake).publish(post(text=text, link="https://www.aalborg.dk/tryg"))
    assert fake.statuses[receipt.external_id]["text"] == text
    assert plain_text(fake.statuses[receipt.external_id]["content"]) == text


def test_image_is_uploaded_with_its_alt_text(fake: FakeMastodon, tmp_path: Path) -> None:
    alt = "Tre borgere med refleksveste på Vejgaard Torv om aftenen"
    receipt = channel(fake).publish(post(image_path=image(tmp_path), image_alt=alt))

    (media,) = fake.media.values()
    assert media["description"] == alt
    assert media["bytes"] == PNG
    assert media["filename"] == "plakat.png"
    status = fake.statuses[receipt.external_id]
    assert [m["id"] for m in status["media_attachments"]] == [media["id"]]
    assert fake.calls("POST", "/api/v1/statuses")[0].form["media_ids[]"] == [media["id"]]


def test_media_still_processing_is_polled_until_ready(fake: FakeMastodon, tmp_path: Path) -> None:
    fake.processing_polls = 2
    receipt = channel(fake).publish(post(image_path=image(tmp_path), image_alt="Plakat"))
    assert len(fake.calls("GET", "/api/v1/media/")) == 3  # 206, 206, 200
    assert fake.statuses[receipt.external_id]["media_attachments"]


def test_media_that_never_finishes_is_transient_and_posts_nothing(
    fake: FakeMastodon, tmp_path: Path
) -> None:
    fake.processing_polls = 10_000
    adapter = channel(fake, media_timeout_seconds=0.2)
    with pytest.raises(TransientError, match="still processing") as info:
        adapter.publish(post(image_path=image(tmp_path), image_alt="Plakat"))
    assert info.value.maybe_delivered is False
    assert fake.statuses == {}


def test_fake_refuses_a_status_naming_unprocessed_media(fake: FakeMastodon) -> None:
    fake.processing_polls = 5
    fake.media["1"] = {"id": "1", "type": "image", "url": None, "description": "", "polls_left": 5}
    http = channel(fake)._client()
    with pytest.raises(RejectedError, match="not finished processing"):
        http.json("POST", "/api/v1/statuses", data={"status": "x", "media_ids[]": ["1"]})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"image_alt": None}, "alt text"),
        ({"image_alt": "x" * 1501}, "limit is 1500"),
        ({"image_path": Path("/findes/ikke.png")}, "image not found"),
    ],
)
def test_bad_images_are_rejected_before_any_call(
    fake: FakeMastodon, tmp_path: Path, fields: dict[str, object], message: str
) -> None:
    values: dict[str, object] = {"image_path": image(tmp_path), "image_alt": "Plakat"}
    values.update(fields)
    with pytest.raises(RejectedError, match=message):
        channel(fake).publish(post(**values))
    assert fake.calls("POST", "/api/") == []


def test_text_limit_counts_every_url_as_23(fake: FakeMastodon) -> None:
    url = "https://www.aalborg.dk/" + "a" * 120
    fits = "æ" * 476 + " " + url  # 476 + 1 + 23 = 500
    assert status_length(fits) == 500
    receipt = channel(fake).publish(post(1, text=fits, link=None))
    assert fake.statuses[receipt.external_id]["text"] == fits

    with pytest.raises(RejectedError, match="character limit of 500") as info:
        channel(fake).publish(post(2, text="æ" + fits, link=None))
    assert info.value.status == 422


def test_blank_text_is_rejected(fake: FakeMastodon) -> None:
    with pytest.raises(RejectedError, match="can't be blank"):
        channel(fake).publish(post(text="   ", link=None))


def test_rate_limit_waits_until_x_ratelimit_reset(fake: FakeMastodon) -> None:
    fake.throttle, fake.reset_in = 1, 240
    with pytest.raises(RateLimitedError) as info:
        channel(fake).publish(post())
    assert info.value.retry_after is not None
    assert 230 <= info.value.retry_after <= 240
    assert fake.statuses == {}


def test_same_key_same_status_other_key_new_status(fake: FakeMastodon) -> None:
    adapter = channel(fake)
    first = adapter.publish(post(1))
    assert adapter.publish(post(1)) == first
    assert adapter.publish(post(2)) != first
    assert len(fake.statuses) == 2


def test_metrics_sum_replies_reblogs_favourites_and_have_no_reach(fake: FakeMastodon) -> None:
    adapter = channel(fake)
    receipt = adapter.publish(post())
    fake.statuses[receipt.external_id].update(replies_count=2, reblogs_count=5, favourites_count=11)
    figures = adapter.metrics(receipt)
    assert figures.engagements == 18
    assert figures.reach is None
    assert figures.impressions is None
    assert figures.clicks is None
    assert figures.raw["favourites_count"] == 11


def test_metrics_of_a_deleted_status_are_rejected(fake: FakeMastodon) -> None:
    with pytest.raises(RejectedError, match="Record not found"):
        channel(fake).metrics(Receipt(external_id="42"))


def test_find_recognises_our_status_by_its_text(fake: FakeMastodon) -> None:
    adapter = channel(fake)
    item = post(text="Tryg i Aalborg: <b>ikke fed</b> & “citat”\nNy linje.")
    assert adapter.find(item) is None
    receipt = adapter.publish(item)
    adapter.publish(post(2, text="Noget andet"))
    assert adapter.find(item) == receipt
    assert adapter.find(post(3, text="Findes ikke")) is None


def test_check_reports_account_and_limit(fake: FakeMastodon) -> None:
    result = channel(fake).check()
    assert result.ok
    assert "@trygaalborg" in result.message
    assert "500 characters" in result.message
    assert result.expires_at is None  # Mastodon tokens do not expire


def test_token_never_appears_in_any_error(fake: FakeMastodon, tmp_path: Path) -> None:
    messages = []
    adapter = channel(fake)
    for fault in ("500", "503", "429", "malformed", "expired", "reset", "after-500"):
        fake.fail_next(fault)
        try:
            adapter.publish(post(image_path=image(tmp_path), image_alt="Plakat"))
        except Exception as exc:
            messages.append(str(exc))
    fake.throttle = 1
    with pytest.raises(RateLimitedError) as info:
        adapter.metrics(Receipt(external_id="1"))
    messages.append(str(info.value))
    assert len(messages) == 8
    assert all(TOKEN not in m for m in messages)

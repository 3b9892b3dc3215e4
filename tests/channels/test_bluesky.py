"""The bluesky channel against a fake PDS on 127.0.0.1 that answers as the reference PDS does."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from comms.channels import bluesky
from comms.channels.base import OutgoingPost, Receipt
from comms.channels.bluesky import BlueskyChannel, make_facets, rkey_for
from comms.channels.registry import create_channel
from comms.channels.settings import ChannelSettings
from comms.errors import ConfigError, RateLimitedError, RejectedError, TransientError
from tests.channels import factory
from tests.channels.contract import Contract
from tests.fakes.bluesky import TID, FakeBluesky

PASSWORD = "bsky-MARKER-app-pass-9d1e"
ENV = "COMMS_TEST_BLUESKY_PASSWORD"
ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


def png(width: int = 1200, height: int = 675, size: int = 0) -> bytes:
    """A real PNG of width×height, padded after its end to `size` bytes when that is larger."""
    picture = factory.picture_bytes("PNG", size=(width, height))
    return picture + b"\x00" * max(0, size - len(picture))


def channel(fake: FakeBluesky, **options: object) -> BlueskyChannel:
    defaults: dict[str, object] = {
        "base_url": fake.url,
        "handle": fake.handle,
        "password_env": ENV,
        "timeout_seconds": 0.5,
    }
    return BlueskyChannel(factory.settings("bluesky", "bluesky", defaults, options))


def post(post_id: int = 1, **fields: object) -> OutgoingPost:
    defaults: dict[str, object] = {
        "idempotency_key": factory.key("bluesky", post_id),
        "channel": "bluesky",
        "text": "Tryghedsvandring på Østerå i aften – kom og gå med!",
        "link": "https://www.aalborg.dk/tryg-østerå?utm_source=bluesky",
    }
    return factory.outgoing(post_id, defaults, fields)


def image(tmp_path: Path, data: bytes | None = None) -> Path:
    return factory.write(tmp_path, "plakat.png", data if data is not None else png())


def decode_tid(tid: str) -> tuple[int, int]:
    value = 0
    for char in tid:
        value = value * 32 + ALPHABET.index(char)
    return value >> 10, value & 0x3FF


def _settled_by_looking_up(fake: FakeBluesky, receipt: Receipt) -> None:
    """The resend collided with the record (500) and the adapter read it back."""
    assert len(fake.calls("GET", "getRecord")) >= 2


CONTRACT = Contract(
    type="bluesky",
    fake=lambda: FakeBluesky(password=PASSWORD),
    env={ENV: PASSWORD},
    build=channel,
    post=lambda _files: post(),
    secret=PASSWORD,
    token_env=ENV,
    sends=("POST", "createRecord"),
    stored=lambda fake: [record["uri"] for record in fake.records.values()],
    path="createRecord",
    says=(f"${ENV}",),
    missing=ConfigError,  # read unwrapped through ChannelSettings.secret (not AuthError)
    heals=frozenset({"after-500"}),  # a 500 is followed by a look-up at the derived rkey
    resends=True,  # the derived rkey makes the resend collide instead of duplicate
    renews=True,  # an expired access token is refreshed once and the call repeated
    isolate=lambda monkeypatch: monkeypatch.setattr(bluesky, "_SESSIONS", {}),
    after_retry=_settled_by_looking_up,
)

server, fake = factory.fixtures(CONTRACT)


def test_registry_builds_the_channel(fake: FakeBluesky) -> None:
    adapter = create_channel(ChannelSettings(name="b", type="bluesky", options={}))
    assert isinstance(adapter, BlueskyChannel)
    assert adapter.idempotent
    assert adapter.has_metrics
    assert adapter.base_url == "https://bsky.social"


def test_rkey_is_a_valid_tid_derived_from_the_key_only() -> None:
    keys = [str(uuid.uuid4()) for _ in range(200)]
    rkeys = [rkey_for(k) for k in keys]
    assert all(TID.match(r) for r in rkeys)
    assert len(set(rkeys)) == len(keys)
    assert rkey_for(keys[0]) == rkey_for(keys[0])
    micros, _clock = decode_tid(rkeys[0])
    when = datetime.fromtimestamp(micros / 1e6, UTC)
    assert datetime(2023, 1, 1, tzinfo=UTC) <= when < datetime(2023, 1, 14, tzinfo=UTC)


def test_facets_use_utf8_byte_offsets_with_danish_letters() -> None:
    url = "https://www.aalborg.dk/tryg-østerå"
    text = f"Læs om trygheden på Østerå: {url}. Del gerne #TrygÅlborg"
    facets = make_facets(text)
    link, tag = facets
    data = text.encode()
    char_start = text.index(url)
    assert link["index"]["byteStart"] == len(text[:char_start].encode())
    assert link["index"]["byteStart"] != char_start  # æ, å and Ø take two bytes each
    assert data[link["index"]["byteStart"] : link["index"]["byteEnd"]].decode() == url
    assert link["features"] == [{"$type": "app.bsky.richtext.facet#link", "uri": url}]
    assert data[tag["index"]["byteStart"] : tag["index"]["byteEnd"]].decode() == "#TrygÅlborg"
    assert tag["features"] == [{"$type": "app.bsky.richtext.facet#tag", "tag": "TrygÅlborg"}]


@pytest.mark.parametrize(
    ("text", "links"),
    [
        ("Se https://a.dk/x.", ["https://a.dk/x"]),
        ("(https://a.dk)", ["https://a.dk"]),
        (
            "https://da.wikipedia.org/wiki/Aalborg_(by)",
            ["https://da.wikipedia.org/wiki/Aalborg_(by)"],
        ),
        ("ingen link, men #1 og #ærø", []),
    ],
)
def test_link_facets_leave_out_sentence_punctuation(text: str, links: list[str]) -> None:
    found = [f["features"][0].get("uri") for f in make_facets(text)]
    assert [u for u in found if u] == links


def test_text_with_link_becomes_a_record_with_a_link_facet(fake: FakeBluesky) -> None:
    item = post()
    receipt = channel(fake).publish(item)

    rkey = rkey_for(item.idempotency_key)
    assert receipt.external_id == f"at://{fake.did}/app.bsky.feed.post/{rkey}"
    assert receipt.url == f"https://bsky.app/profile/{fake.did}/post/{rkey}"
    record = fake.records[rkey]["value"]
    assert record["text"] == item.text + "\n\n" + item.link
    assert record["langs"] == ["da"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["createdAt"])
    (facet,) = record["facets"]
    index = facet["index"]
    assert record["text"].encode()[index["byteStart"] : index["byteEnd"]].decode() == item.link
    assert index["byteStart"] == len(record["text"].encode()) - len(item.link.encode())


def test_image_is_uploaded_and_embedded_with_alt_and_aspect_ratio(
    fake: FakeBluesky, tmp_path: Path
) -> None:
    alt = "Plakat: »Tryg i Aalborg« med tre betjente foran Østerå"
    receipt = channel(fake).publish(post(image_path=image(tmp_path), image_alt=alt))

    (blob,) = fake.blobs.values()
    assert blob["bytes"] == png()
    assert blob["blob"]["mimeType"] == "image/png"
    record = fake.records[receipt.external_id.rsplit("/", 1)[1]]["value"]
    (embedded,) = record["embed"]["images"]
    assert record["embed"]["$type"] == "app.bsky.embed.images"
    assert embedded["alt"] == alt
    assert embedded["image"] == blob["blob"]
    assert embedded["aspectRatio"] == {"width": 1200, "height": 675}


def test_image_of_exactly_one_million_bytes_is_accepted(fake: FakeBluesky, tmp_path: Path) -> None:
    path = image(tmp_path, png(size=1_000_000))
    channel(fake).publish(post(image_path=path, image_alt="Plakat"))
    assert len(fake.records) == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"image_alt": "  "}, "no alt text"),
        ({"image_path": Path("/findes/ikke.png")}, "image not found"),
        ({"text": "å" * 301, "link": None, "image_path": None}, "301 graphemes"),
        ({"text": "👨‍👩‍👧" * 301, "link": None, "image_path": None}, "301 graphemes"),
    ],
)
def test_bad_content_is_rejected_before_any_call(
    fake: FakeBluesky, tmp_path: Path, fields: dict[str, object], message: str
) -> None:
    values: dict[str, object] = {"image_path": image(tmp_path), "image_alt": "Plakat"}
    values.update(fields)
    with pytest.raises(RejectedError, match=message):
        channel(fake).publish(post(**values))
    assert fake.requests == []


def test_image_over_one_million_bytes_is_rejected_before_upload(
    fake: FakeBluesky, tmp_path: Path
) -> None:
    path = image(tmp_path, png(size=1_000_001))
    with pytest.raises(RejectedError, match="1,000,001 bytes"):
        channel(fake).publish(post(image_path=path, image_alt="Plakat"))
    assert fake.blobs == {}


def test_three_hundred_graphemes_fit(fake: FakeBluesky) -> None:
    channel(fake).publish(post(text="å" * 200 + "👨‍👩‍👧" * 100, link=None))
    assert len(fake.records) == 1


def test_server_side_invalid_request_is_rejected(fake: FakeBluesky) -> None:
    adapter = channel(fake)
    adapter.max_graphemes = 10_000  # let the PDS's own lexicon check speak
    with pytest.raises(RejectedError, match="grapheme too big") as info:
        adapter.publish(post(text="x" * 301, link=None))
    assert info.value.status == 400
    assert fake.records == {}


def test_session_is_created_once_and_reused(fake: FakeBluesky) -> None:
    channel(fake).publish(post(1))
    channel(fake).publish(post(2))  # a new adapter in the same process
    channel(fake).metrics(Receipt(external_id=f"at://{fake.did}/app.bsky.feed.post/x"))
    assert fake.sessions_created == 1
    assert fake.calls("POST", "refreshSession") == []


def test_expired_access_token_is_refreshed_and_the_call_repeated(fake: FakeBluesky) -> None:
    adapter = channel(fake)
    adapter.publish(post(1))
    fake.expire_access()
    adapter.publish(post(2))
    assert len(fake.records) == 2
    assert fake.sessions_created == 1
    assert len(fake.calls("POST", "refreshSession")) == 1


def test_expired_refresh_token_logs_in_again(fake: FakeBluesky) -> None:
    adapter = channel(fake)
    adapter.publish(post(1))
    fake.expire_access()
    fake.expire_refresh()
    adapter.publish(post(2))
    assert fake.sessions_created == 2
    assert len(fake.records) == 2


def test_a_500_after_the_record_was_made_is_healed_by_the_lookup(fake: FakeBluesky) -> None:
    fake.fail_next("after-500", path="createRecord")
    receipt = channel(fake).publish(post())
    assert len(fake.records) == 1
    assert receipt.external_id == next(iter(fake.records.values()))["uri"]
    assert len(fake.calls("GET", "getRecord")) == 1


def test_a_500_without_a_record_stays_transient(fake: FakeBluesky) -> None:
    fake.fail_next("500", path="createRecord")
    with pytest.raises(TransientError):
        channel(fake).publish(post())
    assert len(fake.calls("GET", "getRecord")) == 1  # looked, found nothing
    assert fake.records == {}


def test_rate_limit_waits_until_ratelimit_reset(fake: FakeBluesky) -> None:
    channel(fake).check()  # a session first, so the 429 hits the post itself
    fake.throttle, fake.reset_in = 1, 300
    with pytest.raises(RateLimitedError) as info:
        channel(fake).publish(post())
    assert 290 <= (info.value.retry_after or 0) <= 300
    assert fake.records == {}


def test_metrics_sum_likes_reposts_replies_quotes(fake: FakeBluesky) -> None:
    adapter = channel(fake)
    receipt = adapter.publish(post())
    fake.counts[receipt.external_id] = {
        "likeCount": 7,
        "repostCount": 2,
        "replyCount": 1,
        "quoteCount": 1,
    }
    figures = adapter.metrics(receipt)
    assert figures.engagements == 11
    assert (figures.reach, figures.impressions, figures.clicks) == (None, None, None)
    assert figures.raw["likeCount"] == 7


def test_metrics_of_a_post_the_appview_has_not_indexed_are_empty(fake: FakeBluesky) -> None:
    figures = channel(fake).metrics(Receipt(external_id=f"at://{fake.did}/app.bsky.feed.post/x"))
    assert figures.engagements is None
    assert figures.raw == {"posts": []}


def test_pds_without_appview_says_to_set_appview_url(fake: FakeBluesky) -> None:
    adapter = channel(fake)
    receipt = adapter.publish(post())
    fake.appview = False
    with pytest.raises(TransientError, match="appview_url") as info:
        adapter.metrics(receipt)
    assert info.value.status == 502
    fake.appview = True
    public = channel(fake, appview_url=fake.url)  # a public AppView, asked without auth
    assert public.metrics(receipt).engagements == 0
    assert fake.calls("GET", "getPosts")[-1].header("authorization") is None


def test_find_reads_the_record_at_the_derived_rkey(fake: FakeBluesky) -> None:
    adapter = channel(fake)
    assert adapter.find(post(1)) is None
    receipt = adapter.publish(post(1))
    assert adapter.find(post(1)) == receipt
    assert adapter.find(post(2)) is None


def test_check_reports_the_account(fake: FakeBluesky) -> None:
    result = channel(fake).check()
    assert result.ok
    assert "@tryg.test" in result.message
    assert result.expires_at is None  # app passwords do not expire


def test_password_never_appears_in_any_error(fake: FakeBluesky, tmp_path: Path) -> None:
    messages = []
    adapter = channel(fake)
    for fault in ("500", "503", "429", "malformed", "expired", "reset"):
        fake.fail_next(fault)
        try:
            adapter.publish(post(image_path=image(tmp_path), image_alt="Plakat"))
        except Exception as exc:
            messages.append(str(exc))
    assert len(messages) == 6
    assert all(PASSWORD not in m for m in messages)

"""The x channel against a fake X API v2 on 127.0.0.1: posts, images, errors, figures."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from comms.channels.base import OutgoingPost, Receipt
from comms.channels.registry import create_channel
from comms.channels.settings import ChannelSettings
from comms.channels.x import DuplicateContentError, XChannel
from comms.content.lint import text_length
from comms.errors import AuthError, RateLimitedError, RejectedError, TransientError
from comms.store.models import PostState
from tests.channels import factory
from tests.channels.contract import Contract
from tests.channels.through import publish_once
from tests.fakes.x import FakeX, problem

TOKEN = "TOKEN-MARKER-x-9b27d4"  # must never appear in any message
ENV = "COMMS_TEST_X_TOKEN"


def channel(fake: FakeX, **options: object) -> XChannel:
    defaults: dict[str, object] = {"token_env": ENV, "base_url": fake.url, "timeout_seconds": 1}
    return XChannel(factory.settings("x-tryg", "x", defaults, options))


def post(post_id: int = 1, **fields: object) -> OutgoingPost:
    defaults: dict[str, object] = {
        "idempotency_key": f"key-{post_id}",
        "channel": "x-tryg",
        "text": f"Tryghedsvandring i Vejgaard nr. {post_id} i aften kl. 19 & alle er velkomne",
        "link": "https://aalborg.dk/tryg?utm_source=x-tryg&utm_medium=social",
    }
    return factory.outgoing(post_id, defaults, fields)


def image(tmp_path: Path, size: int = 64) -> Path:
    return factory.picture(tmp_path, "plakat.png", pad=size)


CONTRACT = Contract(
    type="x",
    fake=lambda: FakeX(token=TOKEN),
    env={ENV: TOKEN},
    build=channel,
    post=lambda _files: post(scheduled_at=datetime.now(UTC)),
    secret=TOKEN,
    token_env=ENV,
    sends=("POST", "/2/tweets"),
    stored=lambda fake: [tweet.id for tweet in fake.tweets],
    path="/2/tweets",
    says=(f"${ENV}",),
    delay=2.0,
    resends=True,  # X refuses the copy (403 duplicate content) and the adapter finds its own
)

server, fake = factory.fixtures(CONTRACT)


# --- success ----------------------------------------------------------------------------------


def test_registry_builds_the_x_channel() -> None:
    adapter = create_channel(ChannelSettings(name="x", type="x", options={}))
    assert isinstance(adapter, XChannel)
    assert adapter.has_metrics
    assert not adapter.idempotent


def test_text_with_link_is_posted(fake: FakeX) -> None:
    receipt = channel(fake).publish(post())
    assert len(fake.tweets) == 1
    tweet = fake.tweets[0]
    assert tweet.text == post().text + "\n\n" + str(post().link)
    assert receipt.external_id == tweet.id
    assert receipt.url == f"https://x.com/i/web/status/{tweet.id}"
    call = fake.calls("POST", "/2/tweets")[0]
    assert call.header("authorization") == f"Bearer {TOKEN}"
    assert call.json == {"text": tweet.text}


def test_link_already_in_the_text_is_not_repeated(fake: FakeX) -> None:
    text = "Kom til tryghedsvandring: https://aalborg.dk/tryg"
    channel(fake).publish(post(text=text, link="https://aalborg.dk/tryg"))
    assert fake.texts() == [text]


def test_image_with_alt_text_is_uploaded_described_and_attached(
    fake: FakeX, tmp_path: Path
) -> None:
    path = image(tmp_path)
    alt = "Tre betjente og en borger foran Tryghedsbussen på Kennedy Plads"
    channel(fake).publish(post(image_path=path, image_alt=alt))

    (media_id,) = fake.tweets[0].media_ids
    assert fake.media[media_id]["bytes"] == path.read_bytes()
    assert fake.media[media_id]["category"] == "tweet_image"
    assert fake.media[media_id]["alt"] == alt
    metadata = fake.calls("POST", "/2/media/metadata")[0].json
    assert metadata == {"id": media_id, "metadata": {"alt_text": {"text": alt}}}
    order = [r.path for r in fake.requests]
    assert order == ["/2/media/upload", "/2/media/metadata", "/2/tweets"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"image_alt": None}, "alt text"),
        ({"image_alt": "a" * 1001}, "1000"),
    ],
)
def test_bad_image_is_rejected_before_any_call(
    fake: FakeX, tmp_path: Path, fields: dict[str, object], message: str
) -> None:
    with pytest.raises(RejectedError, match=message):
        channel(fake).publish(post(image_path=image(tmp_path), **fields))
    assert fake.requests == []


SWAPPED = b"<!doctype html><script>alert(1)</script>"  # what a file may become after planning


def test_an_image_swapped_after_planning_is_rejected_and_never_uploaded(
    fake: FakeX, tmp_path: Path
) -> None:
    planned = image(tmp_path)  # a real picture when the post was planned and approved
    planned.write_bytes(SWAPPED)  # the same name holds a web page by the time it is sent
    with pytest.raises(RejectedError, match="is not a PNG, JPEG, GIF or WebP picture"):
        channel(fake).publish(post(image_path=planned, image_alt="Plakat"))
    assert fake.requests == []  # neither uploaded nor posted
    renamed = factory.picture(tmp_path, "plakat2.png")  # a JPEG under a PNG's name is refused too
    renamed.write_bytes(factory.picture_bytes("JPEG"))
    with pytest.raises(RejectedError, match=r"is a JPEG file but is named \.png"):
        channel(fake).publish(post(image_path=renamed, image_alt="Plakat"))
    assert fake.requests == []


def test_a_swapped_image_fails_the_post_without_a_retry(fake: FakeX, tmp_path: Path) -> None:
    planned = image(tmp_path)
    planned.write_bytes(SWAPPED)
    outgoing = post(image_path=planned, image_alt="Plakat", scheduled_at=datetime.now(UTC))
    outcome = publish_once(CONTRACT, fake, tmp_path, outgoing=outgoing)
    assert outcome.post.state == PostState.FAILED  # a rejection: the queue does not try again
    assert outcome.post.attempts == 1
    assert "is not a PNG, JPEG, GIF or WebP picture" in (outcome.post.last_error or "")
    assert fake.tweets == []


def test_too_large_image_is_rejected(fake: FakeX, tmp_path: Path) -> None:
    with pytest.raises(RejectedError, match="5 MB"):
        channel(fake).publish(post(image_path=image(tmp_path, 5 * 1024 * 1024), image_alt="Foto"))


def test_upload_failure_is_transient_and_never_maybe_delivered(fake: FakeX, tmp_path: Path) -> None:
    fake.fail_next("500", path="/2/media/metadata")
    with pytest.raises(TransientError) as info:
        channel(fake).publish(post(image_path=image(tmp_path), image_alt="Plakat"))
    assert info.value.maybe_delivered is False
    assert fake.tweets == []


# --- the weighted 280 -------------------------------------------------------------------------


def test_text_over_280_weighted_is_rejected_by_the_adapter(fake: FakeX) -> None:
    text = "æ" * 250 + " " + "日本" * 10  # 250 + 1 + 40 = 291 as X counts
    assert len(text) < 280 < text_length(text, "x")
    with pytest.raises(RejectedError, match="291 of 280"):
        channel(fake).publish(post(text=text, link=None))
    assert fake.requests == []


def test_fake_enforces_the_weighted_limit_as_x_does(fake: FakeX) -> None:
    http = channel(fake)._client()
    long_url = "https://aalborg.dk/" + "a" * 200  # counts 23, whatever its length
    ok = "x" * 256 + " " + long_url
    assert text_length(ok, "x") == 280
    http.json("POST", "/2/tweets", json={"text": ok})
    with pytest.raises(RejectedError, match="too long"):
        http.json("POST", "/2/tweets", json={"text": "😀" * 141}, classify=channel(fake)._classify)
    assert fake.texts() == [ok]


# --- failures ---------------------------------------------------------------------------------


def test_rate_limit_waits_for_the_window_reset(fake: FakeX) -> None:
    fake.limit_next("15min", reset_in=600)
    with pytest.raises(RateLimitedError) as info:
        channel(fake).publish(post())
    assert 590 <= (info.value.retry_after or 0) <= 601


def test_daily_cap_waits_for_the_24_hour_reset_not_the_window(fake: FakeX) -> None:
    fake.limit_next("24hour", reset_in=5 * 3600)
    with pytest.raises(RateLimitedError) as info:
        channel(fake).publish(post())
    assert 5 * 3600 - 10 <= (info.value.retry_after or 0) <= 5 * 3600 + 1
    assert fake.tweets == []


def test_forbidden_is_an_auth_error_naming_scopes(fake: FakeX) -> None:
    fake.canned.append(problem(403, "Forbidden", "You are not permitted to perform this action."))
    with pytest.raises(AuthError, match=r"tweet\.write"):
        channel(fake).publish(post())


def test_invalid_request_is_rejected_with_the_reason(fake: FakeX) -> None:
    http = channel(fake)._client()
    with pytest.raises(RejectedError, match="media IDs are invalid"):
        http.json(
            "POST",
            "/2/tweets",
            json={"text": "hej", "media": {"media_ids": ["123"]}},
            classify=channel(fake)._classify,
        )


def test_token_echoed_by_the_service_is_scrubbed(fake: FakeX) -> None:
    fake.canned.append(problem(400, "Invalid Request", f"bad header Bearer {TOKEN}"))
    with pytest.raises(RejectedError) as info:
        channel(fake).publish(post())
    assert TOKEN not in str(info.value)
    assert "***" in str(info.value)


# --- duplicates, find and retries -------------------------------------------------------------


def test_find_matches_text_as_x_returns_it(fake: FakeX, tmp_path: Path) -> None:
    """X gives text back with &amp; and t.co links (and a link for the image)."""
    adapter = channel(fake)
    sent = post(image_path=image(tmp_path), image_alt="Plakat")
    receipt = adapter.publish(sent)
    timeline = fake.calls("GET", "/2/users/")
    assert timeline == []
    assert "&amp;" in fake.tweets[0].shown()
    assert adapter.find(sent) == receipt
    assert adapter.find(post(2)) is None
    call = fake.calls("GET", r"/2/users/\d+/tweets")[-1]
    assert call.query["exclude"] == ["replies,retweets"]


def test_duplicate_of_an_older_post_is_rejected(fake: FakeX) -> None:
    adapter = channel(fake)
    adapter.publish(post(1))
    fake.tweets[0].created_at -= 365 * 86400  # last year
    with pytest.raises(DuplicateContentError, match="duplicate") as info:
        adapter.publish(post(2, text=post(1).text, scheduled_at=datetime.now(UTC)))
    assert isinstance(info.value, RejectedError)
    assert len(fake.tweets) == 1


# --- metrics ----------------------------------------------------------------------------------


def test_metrics_read_owner_figures(fake: FakeX) -> None:
    adapter = channel(fake)
    receipt = adapter.publish(post())
    tweet = fake.tweets[0]
    tweet.public_metrics.update(
        like_count=12, reply_count=3, retweet_count=4, quote_count=1, impression_count=900
    )
    tweet.non_public_metrics.update(impression_count=950, url_link_clicks=37)
    figures = adapter.metrics(receipt)
    assert figures.reach is None  # X has no reach
    assert figures.impressions == 950
    assert figures.clicks == 37
    assert figures.engagements == 20
    assert figures.raw["data"]["public_metrics"]["like_count"] == 12
    fields = fake.calls("GET", r"/2/tweets/\d+")[0].query["tweet.fields"]
    assert fields == ["public_metrics,non_public_metrics,organic_metrics"]
    assert figures.raw["metric_names"] == {
        "impressions": "non_public_metrics.impression_count",
        "clicks": "non_public_metrics.url_link_clicks",
        "engagements": "public_metrics.like_count+reply_count+retweet_count+quote_count",
    }


def test_metrics_leave_bookmarks_and_profile_clicks_out_of_engagements(fake: FakeX) -> None:
    adapter = channel(fake)
    receipt = adapter.publish(post())
    tweet = fake.tweets[0]
    tweet.public_metrics.update(like_count=1, bookmark_count=50)
    tweet.non_public_metrics.update(user_profile_clicks=70, url_link_clicks=3)
    figures = adapter.metrics(receipt)
    assert figures.engagements == 1
    assert figures.clicks == 3
    assert figures.raw["data"]["public_metrics"]["bookmark_count"] == 50


def test_the_fake_refuses_a_field_x_does_not_document(fake: FakeX) -> None:
    """The guard that makes the test above mean something: a retired name would fail here."""
    receipt = channel(fake).publish(post())
    query = urllib.parse.urlencode({"tweet.fields": "public_metrics,metrics"})
    request = urllib.request.Request(
        f"{fake.url}/2/tweets/{receipt.external_id}?{query}",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 400
    body = json.loads(refused.value.read())
    assert body["errors"][0]["parameters"] == {"tweet.fields": ["metrics"]}


def test_metrics_of_an_old_post_fall_back_to_public_figures(fake: FakeX) -> None:
    adapter = channel(fake)
    receipt = adapter.publish(post())
    tweet = fake.tweets[0]
    tweet.created_at = time.time() - 40 * 86400
    tweet.public_metrics.update(like_count=2, impression_count=300)
    figures = adapter.metrics(receipt)
    assert figures.impressions == 300
    assert figures.clicks is None
    assert figures.engagements == 2
    assert len(fake.calls("GET", r"/2/tweets/\d+")) == 2


def test_metrics_of_a_deleted_post_are_rejected(fake: FakeX) -> None:
    with pytest.raises(RejectedError, match="Could not find tweet"):
        channel(fake).metrics(Receipt("1860000000000009999"))


# --- check ------------------------------------------------------------------------------------


def test_check_names_the_account(fake: FakeX) -> None:
    result = channel(fake).check()
    assert result.ok
    assert "@TrygAalborg" in result.message
    assert result.expires_at is None

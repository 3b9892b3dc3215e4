"""The instagram channel against a fake Graph API over real HTTP on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from comms.channels.base import OutgoingPost
from comms.channels.instagram import InstagramChannel
from comms.channels.registry import create_channel
from comms.channels.settings import ChannelSettings
from comms.errors import RateLimitedError, RejectedError, TransientError
from tests.channels import factory
from tests.channels.contract import AFTER_FAULTS, TRANSIENT_FAULTS, Contract
from tests.fakes.graph import GraphFake, graph_error

TOKEN = "IGAA-marker-91b2c7-never-print-me"
ENV = "COMMS_IG_TOKEN"
MEDIA = "https://www.aalborg.dk/tryg/media"


def channel(fake: GraphFake, **options: object) -> InstagramChannel:
    defaults = {
        "ig_user_id": fake.ig_user_id,
        "token_env": ENV,
        "base_url": fake.url + "/v24.0",
        "media_base_url": MEDIA + "/",
        "timeout_seconds": 0.5,
        "poll_seconds": 0.01,
        "poll_timeout_seconds": 1,
    }
    return InstagramChannel(factory.settings("instagram", "instagram", defaults, options))


def write_image(folder: Path) -> Path:
    return factory.picture(folder, "nat ravne.jpg")


def instagram_post(image: Path, post_id: int = 1, **fields: object) -> OutgoingPost:
    defaults: dict[str, object] = {
        "idempotency_key": factory.key("ig", post_id),
        "channel": "instagram",
        "text": f"Natteravnene er på gaden i weekenden #trygaalborg ({post_id})",
        "link": "https://www.aalborg.dk/tryg",
        "image_path": image,
        "image_alt": "To natteravne i gule veste på Jomfru Ane Gade",
        "scheduled_at": datetime.now(UTC) - timedelta(minutes=1),
    }
    return factory.outgoing(post_id, defaults, fields)


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return write_image(tmp_path)


@pytest.fixture
def make_post(image):
    def build(post_id: int = 1, **fields: object) -> OutgoingPost:
        return instagram_post(image, post_id, **fields)

    return build


CONTRACT = Contract(
    type="instagram",
    fake=lambda: GraphFake(TOKEN),
    env={ENV: TOKEN},
    build=channel,
    post=lambda files: instagram_post(write_image(files)),
    secret=TOKEN,
    token_env=ENV,
    sends=("POST", "/media_publish$"),
    stored=lambda fake: [media["id"] for media in fake.media],
    path="/media_publish",
    says=("renew the token in $COMMS_IG_TOKEN",),
    delay=1.0,
    transient=TRANSIENT_FAULTS,
    heals=frozenset(AFTER_FAULTS),  # an unsure media_publish is settled by the container status
)

server, fake = factory.fixtures(CONTRACT)


def media_path(fake: GraphFake) -> str:
    return f"/{fake.ig_user_id}/media"


# -- publishing ----------------------------------------------------------------------------


def test_image_caption_and_alt_text_go_through_container_and_publish(fake, make_post):
    fake.container_polls = 2
    receipt = channel(fake).publish(make_post())
    (container,) = fake.containers.values()
    assert container["image_url"] == f"{MEDIA}/nat%20ravne.jpg"  # public URL from the file name
    assert container["alt_text"] == "To natteravne i gule veste på Jomfru Ane Gade"
    assert container["caption"] == (
        "Natteravnene er på gaden i weekenden #trygaalborg (1)\n\nhttps://www.aalborg.dk/tryg"
    )
    assert container["status_code"] == "PUBLISHED"
    (media,) = fake.media
    assert receipt.external_id == media["id"]
    assert receipt.url == media["permalink"]
    assert len(fake.calls("GET", rf"/{container['id']}$")) >= 3  # polled until FINISHED
    publish = fake.calls("POST", "/media_publish$")[0]
    assert publish.form["creation_id"] == [container["id"]]
    assert publish.form["access_token"] == [TOKEN]


def test_a_post_without_an_image_is_rejected(fake, make_post):
    with pytest.raises(RejectedError, match="needs an image"):
        channel(fake).publish(make_post(image_path=None))
    assert fake.requests == []


def test_without_media_base_url_nothing_can_be_posted(fake, make_post):
    with pytest.raises(RejectedError, match="media_base_url"):
        channel(fake, media_base_url="").publish(make_post())
    assert fake.requests == []


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"text": "x" * 2201, "link": None}, "at most 2200"),
        ({"text": " ".join(f"#tag{i}" for i in range(31))}, "31 hashtags"),
        ({"image_alt": ""}, "no alt text"),
        ({"image_path": Path("/nonexistent.jpg")}, "image not found"),
    ],
)
def test_bad_content_is_rejected_before_any_call(fake, make_post, fields, reason):
    with pytest.raises(RejectedError, match=reason):
        channel(fake).publish(make_post(**fields))
    assert fake.requests == []


def test_an_image_meta_cannot_fetch_is_rejected(fake, make_post):
    fake.unfetchable.add(f"{MEDIA}/nat%20ravne.jpg")
    with pytest.raises(RejectedError, match="9004"):
        channel(fake).publish(make_post())
    assert fake.media == []


def test_a_container_that_fails_processing_is_rejected(fake, make_post):
    fake.container_outcome = "ERROR"
    with pytest.raises(RejectedError, match="2207004"):
        channel(fake).publish(make_post())
    assert fake.media == []


def test_a_container_still_processing_is_transient_and_not_delivered(fake, make_post):
    fake.container_polls = 10_000
    with pytest.raises(TransientError) as info:
        channel(fake, poll_timeout_seconds=0.1).publish(make_post())
    assert info.value.maybe_delivered is False
    assert fake.media == []


# -- failures ------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["500", "timeout", "reset", "malformed", "after-500"])
def test_a_failed_container_is_never_maybe_delivered(fake, make_post, fault):
    fake.fail_next(fault, path=media_path(fake), delay=1.0)  # the container POST
    with pytest.raises(TransientError) as info:
        channel(fake, lookup_before_send=False).publish(make_post())
    assert info.value.maybe_delivered is False  # only media_publish makes a post
    assert fake.media == []


def test_a_failed_look_up_before_sending_was_never_delivered(fake, make_post):
    fake.fail_next("500", path=media_path(fake))  # the GET of the account's media
    with pytest.raises(TransientError) as info:
        channel(fake).publish(make_post())
    assert info.value.maybe_delivered is False
    assert fake.containers == {}


def test_retry_after_an_unconfirmed_publish_does_not_post_twice(fake, make_post):
    fake.fail_next("after-500", path="/media_publish")
    fake.answer_next(  # and so does the look-up that would settle it
        graph_error(2, "Service temporarily unavailable", status=503),
        path=media_path(fake),
        method="GET",
    )
    with pytest.raises(TransientError) as info:
        channel(fake, lookup_before_send=False).publish(make_post())
    assert info.value.maybe_delivered is True
    assert len(fake.media) == 1
    found = channel(fake).find(make_post())
    receipt = channel(fake).publish(make_post())  # a resend looks first
    assert found == receipt
    assert receipt.external_id == fake.media[0]["id"]
    assert len(fake.media) == 1
    assert len(fake.containers) == 1


def test_buc_throttling_waits_for_the_estimate(fake, make_post):
    fake.throttle_next(80002, minutes=3, path="/media_publish")
    with pytest.raises(RateLimitedError) as info:
        channel(fake).publish(make_post())
    assert info.value.retry_after == 180


def test_the_daily_publishing_quota_is_rate_limited(fake, make_post):
    fake.quota_total = 1
    channel(fake).publish(make_post(1))
    with pytest.raises(RateLimitedError, match="2207042"):
        channel(fake).publish(make_post(2))
    assert len(fake.media) == 1


def test_republishing_a_published_container_fails_instead_of_duplicating(fake, make_post):
    receipt = channel(fake).publish(make_post())
    container_id = fake.media[0]["container"]
    with pytest.raises(RejectedError, match="already been published"):
        channel(fake).api.post(f"/{fake.ig_user_id}/media_publish", {"creation_id": container_id})
    assert [m["id"] for m in fake.media] == [receipt.external_id]


# -- figures -------------------------------------------------------------------------------


def test_metrics_read_reach_views_and_interactions(fake, make_post):
    receipt = channel(fake).publish(make_post())
    fake.insights[receipt.external_id] = {"reach": 812, "views": 1400, "total_interactions": 57}
    figures = channel(fake).metrics(receipt)
    assert (figures.reach, figures.impressions, figures.engagements) == (812, 1400, 57)
    assert figures.clicks is None  # Instagram has no link clicks
    assert figures.raw["reach"]["data"][0]["values"][0]["value"] == 812


def test_missing_data_and_unsupported_metrics_stay_empty(fake, make_post):
    receipt = channel(fake).publish(make_post())
    fake.insights[receipt.external_id] = {"reach": 5}
    ig = channel(fake)
    ig.METRICS = {**ig.METRICS, "engagements": "shares"}  # not supported on IMAGE
    figures = ig.metrics(receipt)
    assert figures.reach == 5
    assert figures.impressions is None  # empty data set: no figure yet, not 0
    assert figures.engagements is None
    assert "shares" in figures.raw["errors"]


def test_not_enough_viewers_is_not_an_auth_problem(fake, make_post):
    receipt = channel(fake).publish(make_post())
    fake.answer_next(
        graph_error(10, "(#10) Not enough viewers for the media to show insights"),
        path="/insights",
    )
    figures = channel(fake).metrics(receipt)
    assert figures.reach is None
    assert "Not enough viewers" in figures.raw["errors"]["reach"]


# -- check ---------------------------------------------------------------------------------


def test_check_reports_quota_and_expiry(fake, make_post):
    channel(fake).publish(make_post())
    expires = datetime(2027, 2, 1, tzinfo=UTC)
    fake.info.expires_at = int(expires.timestamp())
    result = channel(fake).check()
    assert result.ok
    assert "@trygaalborg" in result.message
    assert "1 of 50 API posts used in the last 24 h" in result.message
    assert result.expires_at == expires


def test_check_fails_when_the_quota_is_used_up(fake, make_post):
    fake.quota_total = 1
    channel(fake).publish(make_post())
    result = channel(fake).check()
    assert not result.ok
    assert "1 of 1" in result.message


def test_check_without_debug_token_still_reports_the_quota(fake):
    fake.answer_next(graph_error(100, "Unknown path components: /debug_token"), path="debug")
    result = channel(fake).check()
    assert result.ok
    assert result.expires_at is None


def test_check_fails_without_media_base_url(fake):
    result = channel(fake, media_base_url="").check()
    assert not result.ok
    assert "media_base_url" in result.message


def test_check_fails_when_debug_token_says_the_token_expired(fake):
    fake.expired = True  # a refused token: test_contract.py
    result = channel(fake).check()
    assert not result.ok
    assert "COMMS_IG_TOKEN" in result.message
    assert TOKEN not in result.message


# -- contract ------------------------------------------------------------------------------


def test_the_registry_builds_the_adapter():
    adapter = create_channel(
        ChannelSettings(name="ig", type="instagram", options={"ig_user_id": "1"})
    )
    assert isinstance(adapter, InstagramChannel)
    assert adapter.idempotent is False
    assert adapter.has_metrics is True
    assert adapter.api.base_url == "https://graph.facebook.com/v24.0"


def test_the_token_never_appears_in_any_error(fake, make_post):
    seen: list[str] = []
    for fault, path in [
        ("expired", None),
        ("500", "/media_publish"),
        ("timeout", "/media_publish"),
        ("reset", media_path(fake)),
        ("malformed", "/media_publish"),
        ("429", "/media_publish"),
    ]:
        fake.fail_next(fault, path=path, delay=1.0)
        try:
            channel(fake).publish(make_post(len(seen) + 10))
        except Exception as exc:
            seen.append(str(exc))
    fake.answer_next(graph_error(100, f"bad image_url near access_token={TOKEN}"), path="media")
    with pytest.raises(RejectedError) as info:
        channel(fake, lookup_before_send=False).publish(make_post(99))
    seen.append(str(info.value))
    assert len(seen) == 7
    assert all(TOKEN not in text for text in seen)

"""The facebook channel against a fake Graph API over real HTTP on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from comms.channels.base import OutgoingPost, Receipt
from comms.channels.facebook import FacebookChannel
from comms.channels.registry import create_channel
from comms.channels.settings import ChannelSettings
from comms.errors import AuthError, RateLimitedError, RejectedError, TransientError
from tests.channels import factory
from tests.channels.contract import AFTER_FAULTS, Contract
from tests.fakes.graph import GraphFake, graph_error

TOKEN = "EAAB-marker-7f3c9d1e-never-print-me"
ENV = "COMMS_FB_TOKEN"


def channel(fake: GraphFake, **options: object) -> FacebookChannel:
    defaults = {
        "page_id": fake.page_id,
        "token_env": ENV,
        "base_url": fake.url + "/v24.0",
        "timeout_seconds": 0.5,
    }
    return FacebookChannel(factory.settings("facebook", "facebook", defaults, options))


def make_post(post_id: int = 1, **fields: object) -> OutgoingPost:
    defaults: dict[str, object] = {
        "idempotency_key": factory.key("fb", post_id),
        "channel": "facebook",
        "text": f"Tryg Aalborg: pas på hinanden i nat ({post_id})",
        "link": "https://www.aalborg.dk/tryg",
        "scheduled_at": datetime.now(UTC) - timedelta(minutes=1),
    }
    return factory.outgoing(post_id, defaults, fields)


CONTRACT = Contract(
    type="facebook",
    fake=lambda: GraphFake(TOKEN),
    env={ENV: TOKEN},
    build=channel,
    post=lambda _files: make_post(),
    secret=TOKEN,
    token_env=ENV,
    sends=("POST", "/feed$"),
    stored=lambda fake: [stored["id"] for stored in fake.posts],
    path="/feed",
    says=("$COMMS_FB_TOKEN", "code 190", "subcode 463"),
    wrong_says=("renew the token in $COMMS_FB_TOKEN",),
    delay=1.0,
    heals=frozenset(AFTER_FAULTS),  # an unsure answer is settled by reading the page's posts
)


server, fake = factory.fixtures(CONTRACT)


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return factory.picture(tmp_path, "nattevandring.jpg", pad=1000)


# -- publishing ----------------------------------------------------------------------------


def test_text_with_link_goes_to_the_feed(fake):
    receipt = channel(fake).publish(make_post())
    assert [(p["message"], p["link"]) for p in fake.posts] == [
        ("Tryg Aalborg: pas på hinanden i nat (1)", "https://www.aalborg.dk/tryg")
    ]
    assert receipt.external_id == fake.posts[0]["id"]
    page, story = receipt.external_id.split("_")
    assert receipt.url == f"https://www.facebook.com/{page}/posts/{story}"
    create = fake.calls("POST", "/feed$")[0]
    assert create.form["access_token"] == [TOKEN]  # the documented form, not in the URL
    assert "access_token" not in create.query


def test_image_with_alt_text_goes_to_photos(fake, image):
    post = make_post(image_path=image, image_alt="Frivillige natteravne på Boulevarden")
    receipt = channel(fake).publish(post)
    stored = fake.posts[0]
    assert stored["kind"] == "photo"
    assert stored["image"] == image.read_bytes()
    assert stored["filename"] == "nattevandring.jpg"
    assert stored["alt_text_custom"] == "Frivillige natteravne på Boulevarden"
    assert stored["message"].endswith("\n\nhttps://www.aalborg.dk/tryg")  # no link field
    assert receipt.external_id == stored["id"]  # the Page post id, not the photo id
    assert receipt.external_id != stored["photo_id"]


def test_link_only_post_sends_no_empty_message(fake):
    channel(fake).publish(make_post(text=""))
    assert fake.posts[0]["message"] == ""
    assert "message" not in fake.calls("POST", "/feed$")[0].form


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"text": "x" * 63_207}, "at most 63206"),
        ({"text": "", "link": None}, "neither text nor a link"),
        ({"image_path": Path("/nonexistent/a.jpg"), "image_alt": "a"}, "image not found"),
    ],
)
def test_bad_content_is_rejected_before_any_call(fake, fields, reason):
    with pytest.raises(RejectedError, match=reason):
        channel(fake).publish(make_post(**fields))
    assert fake.requests == []


def test_image_without_alt_text_is_rejected(fake, image):
    with pytest.raises(RejectedError, match="no alt text"):
        channel(fake).publish(make_post(image_path=image, image_alt=" "))
    assert fake.posts == []


def test_a_link_facebook_cannot_scrape_is_rejected(fake):
    with pytest.raises(RejectedError, match="1609005"):
        channel(fake).publish(make_post(link="ftp://aalborg.dk/x"))


# -- failures ------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["500", "timeout"])
def test_a_failed_look_up_before_sending_was_never_delivered(fake, fault):
    fake.fail_next(fault, path="/published_posts", delay=1.0)
    with pytest.raises(TransientError) as info:
        channel(fake).publish(make_post())
    assert info.value.maybe_delivered is False
    assert fake.calls("POST", "/feed$") == []


@pytest.mark.parametrize(
    ("error", "delivered"),
    [
        (graph_error(1, "An unknown error occurred", status=500), True),
        (graph_error(2, "Service temporarily unavailable", status=503), True),
        (graph_error(100, "Try again", is_transient=True), True),
        (graph_error(368, "Temporarily blocked for policies violations"), False),
    ],
)
def test_graph_transient_codes(fake, error, delivered):
    fake.answer_next(error, path="/feed")
    with pytest.raises(TransientError) as info:
        channel(fake).publish(make_post())
    assert info.value.maybe_delivered is delivered


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80001])
def test_graph_throttling_waits_for_the_buc_estimate_in_minutes(fake, code):
    fake.throttle_next(code, minutes=7, path="/feed")
    with pytest.raises(RateLimitedError) as info:
        channel(fake).publish(make_post())
    assert info.value.retry_after == 7 * 60
    assert f"code {code}" in str(info.value)


def test_throttling_without_an_estimate_leaves_the_wait_to_the_queue(fake):
    fake.answer_next(graph_error(17, "(#17) User request limit reached"), path="/feed")
    with pytest.raises(RateLimitedError) as info:
        channel(fake).publish(make_post())
    assert info.value.retry_after is None


def test_missing_permission_is_an_auth_error(fake):
    fake.answer_next(
        graph_error(200, "(#200) Requires pages_manage_posts permission"), path="/feed"
    )
    with pytest.raises(AuthError, match="lacks a permission"):
        channel(fake).publish(make_post())


def test_duplicate_answer_with_no_copy_to_find_is_rejected(fake):
    fake.answer_next(graph_error(506, "(#506) Duplicate status message"), path="/feed")
    with pytest.raises(RejectedError, match="code 506"):
        channel(fake).publish(make_post())


def test_duplicate_of_an_older_post_is_rejected(fake):
    old = make_post(scheduled_at=datetime.now(UTC) - timedelta(days=400))
    channel(fake).publish(old)
    again = make_post(scheduled_at=datetime.now(UTC) + timedelta(hours=1))  # window after it
    with pytest.raises(RejectedError, match="Duplicate status message"):
        channel(fake).publish(again)
    assert len(fake.posts) == 1


# -- never twice ---------------------------------------------------------------------------


def test_retry_after_an_unconfirmed_post_does_not_post_twice(fake):
    fake.fail_next("after-500", path="/feed")
    fake.fail_next("503", path="/published_posts")  # the look-up right after fails too
    with pytest.raises(TransientError) as info:
        channel(fake, lookup_before_send=False).publish(make_post())
    assert info.value.maybe_delivered is True
    assert len(fake.posts) == 1
    found = channel(fake).find(make_post())  # what reconciliation asks
    receipt = channel(fake).publish(make_post())  # and a resend looks first
    assert found == receipt
    assert receipt.external_id == fake.posts[0]["id"]
    assert len(fake.posts) == 1
    assert len(fake.calls("POST", "/feed$")) == 1


def test_find_ignores_posts_from_before_the_due_time(fake):
    channel(fake).publish(make_post())
    later = make_post(scheduled_at=datetime.now(UTC) + timedelta(hours=2))
    assert channel(fake).find(later) is None
    assert channel(fake).find(make_post(text="another text")) is None


# -- figures -------------------------------------------------------------------------------


def test_metrics_read_views_reach_clicks_and_engagement(fake):
    receipt = channel(fake).publish(make_post())
    fake.insights[receipt.external_id] = {
        "post_total_media_view_unique": 2500,
        "post_media_view": 4100,
        "post_clicks": 37,
        "post_reactions_by_type_total": {"like": 40, "love": 5},
    }
    fake.counts[receipt.external_id] = {"comments": 3, "shares": 2}
    figures = channel(fake).metrics(receipt)
    assert (figures.reach, figures.impressions, figures.clicks) == (2500, 4100, 37)
    assert figures.engagements == 40 + 5 + 3 + 2
    assert figures.raw["post_media_view"]["data"][0]["values"][0]["value"] == 4100
    assert "errors" not in figures.raw
    calls = fake.calls("GET", "/insights$")
    assert [c.query["metric"] for c in calls] == [
        ["post_total_media_view_unique"],
        ["post_media_view"],
        ["post_clicks"],
        ["post_reactions_by_type_total"],
    ]  # one per call: a deprecated metric would fail the others


def test_a_refused_metric_leaves_only_its_figure_empty(fake):
    receipt = channel(fake).publish(make_post())
    fake.insights[receipt.external_id] = {"post_media_view": 10, "post_clicks": 1}
    fb = channel(fake)
    fb.METRICS = {**fb.METRICS, "reach": "post_impressions_unique"}  # deprecated in 2025
    figures = fb.metrics(receipt)
    assert figures.reach is None
    assert figures.impressions == 10
    assert "post_impressions_unique" in figures.raw["errors"]


def test_a_metric_name_graph_does_not_know_falls_back_to_the_one_it_replaced(fake):
    receipt = channel(fake).publish(make_post())
    # a Graph that has the older names only (as before Meta's 2025 renaming)
    fake.page_metrics = {"post_impressions_unique", "post_impressions", "post_clicks"}
    fake.insights[receipt.external_id] = {
        "post_impressions_unique": 700,
        "post_impressions": 900,
        "post_clicks": 4,
    }
    figures = channel(fake).metrics(receipt)
    assert (figures.reach, figures.impressions, figures.clicks) == (700, 900, 4)
    assert figures.raw["metric_names"] == {
        "reach": "post_impressions_unique",
        "impressions": "post_impressions",
        "clicks": "post_clicks",
    }
    assert "post_total_media_view_unique" in figures.raw["errors"]  # tried first, refused
    assert "post_reactions_by_type_total" in figures.raw["errors"]  # no older name to try
    names = [c.query["metric"][0] for c in fake.calls("GET", "/insights$")]
    assert names == [
        "post_total_media_view_unique",
        "post_impressions_unique",
        "post_media_view",
        "post_impressions",
        "post_clicks",
        "post_reactions_by_type_total",
    ]


def test_current_names_are_recorded_with_the_figures(fake):
    receipt = channel(fake).publish(make_post())
    fake.insights[receipt.external_id] = {"post_total_media_view_unique": 5, "post_media_view": 6}
    figures = channel(fake).metrics(receipt)
    assert figures.raw["metric_names"]["reach"] == "post_total_media_view_unique"
    assert figures.raw["metric_names"]["impressions"] == "post_media_view"
    assert len(fake.calls("GET", "/insights$")) == 4  # no fallback asked for when not needed


def test_metrics_with_an_expired_token_raise_auth(fake):
    receipt = Receipt(external_id=f"{fake.page_id}_1")
    fake.expired = True
    with pytest.raises(AuthError, match="COMMS_FB_TOKEN"):
        channel(fake).metrics(receipt)


# -- check ---------------------------------------------------------------------------------


def test_check_reports_the_page_and_the_token_expiry(fake):
    expires = datetime(2027, 1, 20, 12, 0, tzinfo=UTC)
    fake.info.expires_at = int(expires.timestamp())
    fake.info.data_access_expires_at = int((expires + timedelta(days=30)).timestamp())
    result = channel(fake).check()
    assert result.ok
    assert result.expires_at == expires
    assert "Tryg Aalborg" in result.message
    assert "token expires 2027-01-20" in result.message
    assert fake.posts == []  # checking never posts


def test_check_uses_the_earlier_data_access_expiry(fake):
    fake.info.expires_at = 0  # a Page token from a long-lived user token never expires
    fake.info.data_access_expires_at = int(datetime(2027, 3, 1, tzinfo=UTC).timestamp())
    result = channel(fake).check()
    assert result.ok
    assert result.expires_at == datetime(2027, 3, 1, tzinfo=UTC)
    assert "data access expires" in result.message


def test_check_of_a_token_that_never_expires(fake):
    result = channel(fake).check()
    assert result.ok
    assert result.expires_at is None
    assert "never expires" in result.message


def test_check_with_an_app_token_for_debug_token(fake, monkeypatch):
    monkeypatch.setenv("COMMS_FB_APP_TOKEN", "4242|app-secret-marker")
    fake.app_token = "4242|app-secret-marker"
    result = channel(fake, app_token_env="COMMS_FB_APP_TOKEN").check()
    assert result.ok
    debug = fake.calls("GET", "/debug_token$")[0]
    assert debug.query["access_token"] == ["4242|app-secret-marker"]
    assert debug.query["input_token"] == [TOKEN]


def test_check_fails_on_missing_permissions(fake):
    fake.info.scopes = ["pages_show_list", "pages_read_engagement"]
    result = channel(fake).check()
    assert not result.ok
    assert "pages_manage_posts" in result.message


@pytest.mark.parametrize("how", ["expired", "invalid"])  # a refused token: test_contract.py
def test_check_fails_when_debug_token_says_the_token_is_bad(fake, how):
    if how == "expired":
        fake.expired = True
    else:
        fake.info.valid = False
    result = channel(fake).check()
    assert not result.ok
    assert "COMMS_FB_TOKEN" in result.message
    assert TOKEN not in result.message


def test_check_raises_when_the_service_cannot_be_reached():
    fake = GraphFake(TOKEN).start()
    url = fake.url
    fake.stop()
    settings = ChannelSettings(
        name="facebook",
        type="facebook",
        options={"page_id": "1", "token_env": ENV, "base_url": url, "timeout_seconds": 0.5},
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV, TOKEN)
        with pytest.raises(TransientError) as info:
            FacebookChannel(settings).check()
    assert info.value.maybe_delivered is False
    assert TOKEN not in str(info.value)


# -- contract ------------------------------------------------------------------------------


def test_the_registry_builds_the_adapter(fake):
    settings = ChannelSettings(name="fb", type="facebook", options={"page_id": "1"})
    adapter = create_channel(settings)
    assert isinstance(adapter, FacebookChannel)
    assert adapter.idempotent is False
    assert adapter.has_metrics is True
    assert adapter.api.base_url == "https://graph.facebook.com/v24.0"


def test_the_token_never_appears_in_any_error(fake, image):
    seen: list[str] = []
    scenarios = [
        ("expired", {}),
        ("500", {"path": "/feed"}),
        ("timeout", {"path": "/feed", "delay": 1.0}),
        ("reset", {"path": "/feed"}),
        ("malformed", {"path": "/feed"}),
        ("429", {"path": "/feed"}),
    ]
    for fault, options in scenarios:
        fake.fail_next(fault, **options)
        try:
            channel(fake).publish(make_post(len(seen) + 10))
        except Exception as exc:
            seen.append(str(exc))
    fake.answer_next(graph_error(190, f"Invalid OAuth access token {TOKEN}"))
    result = channel(fake).check()
    assert not result.ok
    seen.append(result.message)
    fake.answer_next(graph_error(100, f"bad parameter near access_token={TOKEN}"), path="/feed")
    with pytest.raises(RejectedError) as rejected:
        channel(fake).publish(make_post(99))
    seen.append(str(rejected.value))
    assert len(seen) == len(scenarios) + 2
    assert all(TOKEN not in text for text in seen)

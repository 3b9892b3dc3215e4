"""The linkedin channel against a fake LinkedIn on 127.0.0.1: posts, images, errors, figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from comms.channels.base import CheckResult, OutgoingPost, Receipt
from comms.channels.linkedin import (
    DuplicatePostError,
    LinkedinChannel,
    escape_little,
    unescape_little,
)
from comms.channels.registry import create_channel
from comms.channels.settings import ChannelSettings
from comms.errors import AuthError, RateLimitedError, RejectedError, TransientError
from tests.channels import factory
from tests.channels.contract import Contract
from tests.fakes.linkedin import FakeLinkedin, error, shown_text

TOKEN = "TOKEN-MARKER-li-5f1c9e"  # must never appear in any message
SECRET = "CLIENT-SECRET-MARKER-77ab"
ENV, SECRET_ENV = "COMMS_TEST_LI_TOKEN", "COMMS_TEST_LI_SECRET"
ORG = "2414183"


def channel(
    fake: FakeLinkedin, clock: datetime | None = None, **options: object
) -> LinkedinChannel:
    defaults: dict[str, object] = {
        "organization_id": ORG,
        "token_env": ENV,
        "base_url": fake.url,
        "oauth_url": fake.url,
        "timeout_seconds": 1,
    }
    settings = factory.settings("linkedin-tryg", "linkedin", defaults, options)
    return LinkedinChannel(settings, clock=(lambda: clock) if clock else None)


def post(post_id: int = 1, **fields: object) -> OutgoingPost:
    defaults: dict[str, object] = {
        "idempotency_key": f"key-{post_id}",
        "channel": "linkedin-tryg",
        "text": f"Tryghedsvandring i Vejgaard nummer {post_id}. Læs mere https://aalborg.dk/tryg",
        "title": "Tryghedsvandring",
        "link": "https://aalborg.dk/tryg",
    }
    return factory.outgoing(post_id, defaults, fields)


def image(tmp_path: Path) -> Path:
    return factory.picture(tmp_path, "plakat.png")


def introspected(fake: FakeLinkedin) -> CheckResult:
    """`check` of an adapter with the app's client id and secret, so it asks about its token."""
    return channel(fake, client_id="li-client", client_secret_env=SECRET_ENV).check()


def _found_with_its_url(fake: FakeLinkedin, receipt: Receipt) -> None:
    urn = fake.posts[0].urn
    assert receipt == Receipt(urn, f"https://www.linkedin.com/feed/update/{urn}/")


CONTRACT = Contract(
    type="linkedin",
    fake=lambda: FakeLinkedin(token=TOKEN, organization_id=ORG, client_secret=SECRET),
    env={ENV: TOKEN, SECRET_ENV: SECRET},
    build=channel,
    post=lambda _files: post(scheduled_at=datetime.now(UTC)),
    secret=TOKEN,
    token_env=ENV,
    sends=("POST", "/rest/posts"),
    stored=lambda fake: [stored.urn for stored in fake.posts],
    path="/rest/posts",
    says=(f"${ENV}", "expired"),
    delay=2.0,
    resends=True,  # LinkedIn refuses the copy (422 duplicate) and the adapter finds its own post
    after_retry=_found_with_its_url,
)

server, fake = factory.fixtures(CONTRACT)


# --- success ----------------------------------------------------------------------------------


def test_registry_builds_the_linkedin_channel() -> None:
    settings = ChannelSettings(name="li", type="linkedin", options={"organization_id": ORG})
    adapter = create_channel(settings)
    assert isinstance(adapter, LinkedinChannel)
    assert adapter.has_metrics
    assert not adapter.idempotent


def test_text_with_link_becomes_an_article_post(fake: FakeLinkedin) -> None:
    receipt = channel(fake).publish(post())

    assert len(fake.posts) == 1
    stored = fake.posts[0]
    assert receipt.external_id == stored.urn
    assert receipt.external_id.startswith("urn:li:share:")
    assert receipt.url == f"https://www.linkedin.com/feed/update/{stored.urn}/"
    assert stored.body["author"] == f"urn:li:organization:{ORG}"
    assert stored.body["visibility"] == "PUBLIC"
    assert stored.body["lifecycleState"] == "PUBLISHED"
    assert stored.body["distribution"]["feedDistribution"] == "MAIN_FEED"
    assert stored.body["content"] == {
        "article": {"source": "https://aalborg.dk/tryg", "title": "Tryghedsvandring"}
    }
    assert stored.shown == post().text
    create = fake.calls("POST", "/rest/posts")[0]
    assert create.header("linkedin-version") == "202605"
    assert create.header("x-restli-protocol-version") == "2.0.0"
    assert create.header("authorization") == f"Bearer {TOKEN}"


def test_reserved_characters_are_escaped_so_nothing_is_cut(fake: FakeLinkedin) -> None:
    text = (
        "Mød os (kl. 17-19) på *Kennedy Plads* [gratis] & tag {familien} med: a_b ~ <3 | @alle\n"
        "#TrygAalborg https://aalborg.dk/tryg_2026?a=(1)"
    )
    channel(fake).publish(post(text=text))
    assert fake.shown() == [text]
    # without escaping LinkedIn would have cut the text at the first parenthesis
    assert shown_text(text) == "Mød os "


def test_escape_little_keeps_urls_and_hashtags() -> None:
    text = "Se (her) #Tryg_Aalborg https://x.dk/a_(b) 50% \\ ok"
    escaped = escape_little(text)
    assert escaped == "Se \\(her\\) #Tryg_Aalborg https://x.dk/a_(b) 50% \\\\ ok"
    assert unescape_little(escape_little("a(b)_c")) == "a(b)_c"


def test_image_with_alt_text_is_uploaded_then_posted(fake: FakeLinkedin, tmp_path: Path) -> None:
    path = image(tmp_path)
    alt = "Tre betjente og en borger foran Tryghedsbussen på Kennedy Plads"
    receipt = channel(fake).publish(post(image_path=path, image_alt=alt, text="Kom forbi!"))

    init = fake.calls("POST", "/rest/images")[0]
    assert init.query == {"action": ["initializeUpload"]}
    assert init.json == {"initializeUploadRequest": {"owner": f"urn:li:organization:{ORG}"}}
    put = fake.calls("PUT", "/dms-uploads/")[0]
    assert put.header("authorization") == f"Bearer {TOKEN}"
    assert put.header("content-type") == "image/png"
    stored = fake.posts[0]
    media = stored.body["content"]["media"]
    assert fake.images[media["id"]] == path.read_bytes()
    assert media["altText"] == alt
    # the link cannot be a card next to an image, so it goes into the text
    assert stored.shown == "Kom forbi!\n\nhttps://aalborg.dk/tryg"
    assert receipt.external_id == stored.urn


def test_image_without_alt_text_is_rejected_before_any_call(
    fake: FakeLinkedin, tmp_path: Path
) -> None:
    with pytest.raises(RejectedError, match="alt text"):
        channel(fake).publish(post(image_path=image(tmp_path)))
    with pytest.raises(RejectedError, match="image not found"):
        channel(fake).publish(post(image_path=tmp_path / "nope.png", image_alt="x"))
    assert fake.requests == []


def test_upload_failure_is_transient_and_never_maybe_delivered(
    fake: FakeLinkedin, tmp_path: Path
) -> None:
    fake.fail_next("500", path="/dms-uploads/")
    with pytest.raises(TransientError) as info:
        channel(fake).publish(post(image_path=image(tmp_path), image_alt="Plakat"))
    assert info.value.maybe_delivered is False
    assert fake.posts == []


# --- failures ---------------------------------------------------------------------------------


def test_daily_limit_without_headers_waits_until_utc_midnight(fake: FakeLinkedin) -> None:
    fake.throttle_next()
    now = datetime(2026, 11, 24, 22, 30, tzinfo=UTC)
    with pytest.raises(RateLimitedError, match="00:00 UTC") as info:
        channel(fake, clock=now).publish(post())
    assert info.value.retry_after == 90 * 60
    assert fake.posts == []


def test_page_the_token_cannot_post_for_is_an_auth_error(fake: FakeLinkedin) -> None:
    with pytest.raises(AuthError, match="w_organization_social"):
        channel(fake, organization_id="999").publish(post())


def test_too_long_commentary_is_rejected(fake: FakeLinkedin) -> None:
    with pytest.raises(RejectedError, match="3000") as info:
        channel(fake).publish(post(text="å" * 3001))
    assert info.value.status == 422
    assert fake.posts == []


def test_sunset_version_is_rejected_naming_the_option(fake: FakeLinkedin) -> None:
    with pytest.raises(RejectedError, match="api_version"):
        channel(fake, api_version="202401").publish(post())


def test_token_echoed_by_the_service_is_scrubbed(fake: FakeLinkedin) -> None:
    fake.canned.append(error(400, f"cannot parse header Bearer {TOKEN}"))
    with pytest.raises(RejectedError) as info:
        channel(fake).publish(post())
    assert TOKEN not in str(info.value)
    assert "***" in str(info.value)


# --- duplicates, find and retries -------------------------------------------------------------


def test_duplicate_of_an_older_post_is_rejected_with_its_urn(fake: FakeLinkedin) -> None:
    adapter = channel(fake)
    adapter.publish(post(1))
    fake.posts[0].created_at -= int(timedelta(days=365).total_seconds() * 1000)  # last year
    with pytest.raises(DuplicatePostError) as info:
        adapter.publish(post(2, text=post(1).text, scheduled_at=datetime.now(UTC)))
    assert isinstance(info.value, RejectedError)
    assert info.value.urn == fake.posts[0].urn
    assert fake.posts[0].urn in str(info.value)
    assert len(fake.posts) == 1


def test_find_returns_none_for_a_post_not_there(fake: FakeLinkedin) -> None:
    adapter = channel(fake)
    assert adapter.find(post(1)) is None
    adapter.publish(post(2))
    assert adapter.find(post(1)) is None
    assert adapter.find(post(2)) is not None
    finder = fake.calls("GET", "/rest/posts")[-1]
    assert finder.query["q"] == ["author"]
    assert finder.query["author"] == [f"urn:li:organization:{ORG}"]


# --- metrics ----------------------------------------------------------------------------------


def test_metrics_read_share_statistics(fake: FakeLinkedin) -> None:
    adapter = channel(fake)
    receipt = adapter.publish(post())
    fake.stats[receipt.external_id] = {
        "uniqueImpressionsCount": 812,
        "impressionCount": 1204,
        "clickCount": 57,
        "likeCount": 31,
        "commentCount": 4,
        "shareCount": 6,
        "engagement": 0.081,
    }
    figures = adapter.metrics(receipt)
    assert figures.reach == 812
    assert figures.impressions == 1204
    assert figures.clicks == 57
    assert figures.engagements == 41
    assert figures.raw["elements"][0]["share"] == receipt.external_id
    call = fake.calls("GET", "/rest/organizationalEntityShareStatistics")[0]
    assert call.query["shares"] == [f"List({receipt.external_id})"]
    assert call.query["organizationalEntity"] == [f"urn:li:organization:{ORG}"]


def test_metrics_say_which_current_field_each_figure_came_from(fake: FakeLinkedin) -> None:
    adapter = channel(fake)
    receipt = adapter.publish(post())
    fake.stats[receipt.external_id] = {"uniqueImpressionsCount": 9, "impressionCount": 11}
    figures = adapter.metrics(receipt)
    assert figures.raw["metric_names"] == {
        "reach": "totalShareStatistics.uniqueImpressionsCount",
        "impressions": "totalShareStatistics.impressionCount",
    }
    call = fake.calls("GET", "/rest/organizationalEntityShareStatistics")[0]
    assert set(call.query) == {"q", "organizationalEntity", "shares"}  # lifetime: no timeIntervals


def test_metrics_of_a_post_past_the_twelve_month_window_are_empty(fake: FakeLinkedin) -> None:
    adapter = channel(fake)
    receipt = adapter.publish(post())
    fake.stats[receipt.external_id] = {"impressionCount": 40, "likeCount": 2}
    fake.posts[0].created_at -= 400 * 86400 * 1000
    figures = adapter.metrics(receipt)
    assert (figures.impressions, figures.engagements) == (None, None)
    assert figures.raw["metric_names"] == {}


def test_metrics_of_a_ugc_post_and_of_a_post_without_figures(fake: FakeLinkedin) -> None:
    urn = "urn:li:ugcPost:6999"
    fake.stats[urn] = {"uniqueImpressionsCount": 3, "impressionCount": 5, "clickCount": 0}
    figures = channel(fake).metrics(Receipt(urn))
    assert (figures.reach, figures.impressions, figures.clicks) == (3, 5, 0)
    assert figures.engagements is None
    assert fake.calls("GET", "/rest/organizationalEntityShareStatistics")[0].query["ugcPosts"]
    empty = channel(fake).metrics(Receipt("urn:li:share:1"))
    assert (empty.reach, empty.impressions, empty.engagements) == (None, None, None)


# --- check ------------------------------------------------------------------------------------


def test_check_without_introspection_reads_the_page(fake: FakeLinkedin) -> None:
    result = channel(fake).check()
    assert result.ok
    assert f"urn:li:organization:{ORG}" in result.message
    assert "expiry unknown" in result.message
    assert result.expires_at is None


def test_check_reports_the_token_expiry(fake: FakeLinkedin) -> None:
    result = introspected(fake)
    assert result.ok, result.message
    assert result.expires_at == datetime.fromtimestamp(fake.token_info["expires_at"], UTC)
    intro = fake.calls("POST", "/oauth/v2/introspectToken")[0]
    assert intro.form["token"] == [TOKEN]
    assert SECRET not in result.message
    assert TOKEN not in result.message


def test_check_fails_for_an_expired_token_with_its_expiry(fake: FakeLinkedin) -> None:
    fake.token_info.update(active=False, status="expired", expires_at=1_700_000_000)
    result = introspected(fake)
    assert not result.ok
    assert "expired" in result.message
    assert f"${ENV}" in result.message
    assert result.expires_at == datetime.fromtimestamp(1_700_000_000, UTC)


def test_check_fails_without_the_posting_permission(fake: FakeLinkedin) -> None:
    fake.token_info["scope"] = "r_organization_social"
    result = introspected(fake)
    assert not result.ok
    assert "w_organization_social" in result.message


def test_check_fails_for_a_revoked_token(
    fake: FakeLinkedin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "revoked-token-value")
    result = channel(fake).check()
    assert not result.ok
    assert f"${ENV}" in result.message
    assert "revoked-token-value" not in result.message
    result = introspected(fake)
    assert not result.ok
    assert "revoked" in result.message


def test_check_with_wrong_client_secret_says_so(
    fake: FakeLinkedin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "wrong-secret-value")
    result = introspected(fake)
    assert not result.ok
    assert SECRET_ENV in result.message
    assert "wrong-secret-value" not in result.message


def test_missing_organization_id_is_rejected(fake: FakeLinkedin) -> None:
    with pytest.raises(RejectedError, match="organization_id"):
        channel(fake, organization_id="").publish(post())
    assert not channel(fake, organization_id="").check().ok

"""The wordpress channel against a fake WordPress REST API on 127.0.0.1."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import pytest
import requests

from comms.channels.base import Figures, OutgoingPost
from comms.channels.registry import create_channel
from comms.channels.settings import ChannelSettings
from comms.channels.wordpress import WordPressChannel, news_html
from comms.errors import AuthError, ConfigError, RateLimitedError, RejectedError, TransientError
from tests.channels import factory
from tests.channels.contract import Contract
from tests.fakes.wordpress import FakeWordPress

SECRET = "Zq9x MARK3R pw77 UNIQ ue00 tokn"  # an application password no message may show
ENV = "COMMS_TEST_WP_PASSWORD"


def png_bytes() -> bytes:
    """A real 1×1 PNG (WordPress checks that an image is one)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xc8\x10\x2e"))
        + chunk(b"IEND", b"")
    )


def channel(fake: FakeWordPress, **options: object) -> WordPressChannel:
    defaults: dict[str, object] = {
        "base_url": fake.api_url,
        "username": "admin",
        "password_env": ENV,
        "timeout_seconds": 1.0,
    }
    return WordPressChannel(factory.settings("hjemmeside-wp", "wordpress", defaults, options))


def post(post_id: int = 1, **fields: object) -> OutgoingPost:
    defaults: dict[str, object] = {
        "idempotency_key": factory.key("wp", post_id),
        "channel": "hjemmeside-wp",
        "title": "Tryg i Ålborg – før festen",
        "text": "Kom godt hjem efter festen.\nHusk hinanden.\n\nSe mere på https://aalborg.dk/tryg.",
        "link": "https://aalborg.dk/natteliv",
    }
    return factory.outgoing(post_id, defaults, fields)


CONTRACT = Contract(
    type="wordpress",
    fake=lambda: FakeWordPress(password=SECRET),
    env={ENV: SECRET},
    build=channel,
    post=lambda _files: post(),
    secret=SECRET,
    token_env=ENV,
    sends=("POST", r"/wp/v2/posts$"),
    stored=lambda fake: [str(post_id) for post_id in fake.posts],
    path="POST /wp/v2/posts",
    missing=ConfigError,  # read unwrapped through ChannelSettings.secret (not AuthError)
    wrong_says=("incorrect_password",),
)


server, fake = factory.fixtures(CONTRACT)


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return factory.write(tmp_path, "plakat.png", png_bytes())


# --- success -----------------------------------------------------------------------------------


def test_registry_builds_the_wordpress_channel(fake):
    settings = ChannelSettings(name="wp", type="wordpress", options={"base_url": fake.api_url})
    assert isinstance(create_channel(settings), WordPressChannel)


def test_text_with_link_becomes_a_published_news_post(fake):
    receipt = channel(fake).publish(post())
    [stored] = fake.posts.values()
    assert receipt.external_id == str(stored["id"])
    assert receipt.url == stored["link"]
    assert stored["status"] == "publish"
    assert stored["title"] == "Tryg i Ålborg – før festen"
    assert stored["content"] == (
        "<p>Kom godt hjem efter festen.<br>\nHusk hinanden.</p>\n"
        '<p>Se mere på <a href="https://aalborg.dk/tryg">https://aalborg.dk/tryg</a>.</p>\n'
        '<p>Læs mere: <a href="https://aalborg.dk/natteliv">https://aalborg.dk/natteliv</a></p>'
    )
    assert stored["featured_media"] == 0
    [create] = fake.calls("POST", r"/wp/v2/posts$")
    assert create.header("authorization").startswith("Basic ")


def test_slug_is_derived_from_the_idempotency_key(fake):
    wp = channel(fake)
    assert wp.slug(post(1)) == wp.slug(post(1, title="Ny titel"))
    assert wp.slug(post(1)) != wp.slug(post(2))
    assert re.fullmatch(r"nyhed-[0-9a-f]{16}", wp.slug(post(1)))
    wp.publish(post(1))
    assert [p["slug"] for p in fake.posts.values()] == [wp.slug(post(1))]


def test_html_escapes_the_text_and_only_adds_a_link_it_lacks():
    html = news_html('<script>alert("x")</script> & "mere" https://a.dk/x?a=1&b=2', None)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "&amp; &#34;mere&#34;" in html or "&amp; &quot;mere&quot;" in html
    assert '<a href="https://a.dk/x?a=1&amp;b=2">' in html
    assert "Læs mere" not in news_html("Se https://a.dk", "https://a.dk")
    assert news_html("Hej", "javascript:alert(1)") == "<p>Hej</p>"


def test_image_is_uploaded_with_alt_text_and_becomes_the_featured_image(fake, image):
    wp = channel(fake)
    wp.publish(post(image_path=image, image_alt="Plakat med teksten Kom godt hjem"))
    [media] = fake.media.values()
    [stored] = fake.posts.values()
    assert stored["featured_media"] == media["id"]
    assert media["alt_text"] == "Plakat med teksten Kom godt hjem"
    assert fake.uploads[media["id"]] == png_bytes()
    [upload] = fake.calls("POST", r"/wp/v2/media$")
    assert upload.header("content-type") == "image/png"
    assert upload.header("content-disposition") == (
        f'attachment; filename="{wp.slug(post())}-billede.png"'
    )


def test_featured_image_is_set_again_when_wordpress_ignored_it(fake, image):
    fake.drop_featured = True
    channel(fake).publish(post(image_path=image, image_alt="Plakat"))
    [stored] = fake.posts.values()
    [media] = fake.media.values()
    assert stored["featured_media"] == media["id"]


def test_image_without_alt_text_is_rejected_before_any_call(fake, image):
    with pytest.raises(RejectedError, match="alt text"):
        channel(fake).publish(post(image_path=image, image_alt=" "))
    assert fake.requests == []


def test_missing_image_is_rejected(fake, tmp_path):
    with pytest.raises(RejectedError, match="not found"):
        channel(fake).publish(post(image_path=tmp_path / "nope.png", image_alt="x"))


def test_a_file_that_is_no_picture_is_rejected_before_wordpress_sees_it(fake, tmp_path):
    """WordPress would refuse it (500 rest_upload_sideload_error); the content check comes first."""
    path = tmp_path / "plakat.bmp"
    path.write_bytes(b"BM fake")
    with pytest.raises(RejectedError, match=r"must be \.png, \.jpg, \.gif or \.webp"):
        channel(fake).publish(post(image_path=path, image_alt="Plakat"))
    assert fake.posts == {}
    assert fake.calls("POST", "/wp/v2/media") == []


# --- idempotency -------------------------------------------------------------------------------


def test_publishing_twice_finds_the_first_post(fake):
    wp = channel(fake)
    first = wp.publish(post())
    second = wp.publish(post())
    assert first == second
    assert len(fake.posts) == 1


def test_find_returns_none_for_a_post_never_published(fake):
    assert channel(fake).find(post(99)) is None


def test_retry_after_a_failed_image_step_reuses_the_uploaded_image(fake, image):
    wp = channel(fake)
    fake.fail_next("after-500", path="POST /wp/v2/media/")
    with pytest.raises(TransientError) as info:
        wp.publish(post(image_path=image, image_alt="Plakat"))
    assert info.value.maybe_delivered is False  # no news post exists yet
    assert fake.posts == {}
    wp.publish(post(image_path=image, image_alt="Plakat"))
    assert len(fake.media) == 1
    assert len(fake.calls("POST", r"/wp/v2/media$")) == 1
    [stored] = fake.posts.values()
    assert stored["featured_media"] == next(iter(fake.media))


# --- failures ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["500", "timeout", "reset", "malformed"])
def test_a_failed_lookup_publishes_nothing(fake, fault):
    fake.fail_next(fault, path="GET /wp/v2/posts", delay=1.5)
    with pytest.raises(TransientError) as info:
        channel(fake).publish(post())
    assert info.value.maybe_delivered is False
    assert fake.calls("POST", r"/wp/v2/posts$") == []


@pytest.mark.parametrize("fault", ["500", "timeout", "reset"])
def test_a_failed_upload_publishes_nothing(fake, image, fault):
    fake.fail_next(fault, path="POST /wp/v2/media", delay=1.5)
    with pytest.raises(TransientError) as info:
        channel(fake).publish(post(image_path=image, image_alt="Plakat"))
    assert info.value.maybe_delivered is False
    assert fake.posts == {}


def test_user_without_publish_right_is_auth_403(fake):
    fake.capabilities.discard("publish_posts")
    with pytest.raises(AuthError) as info:
        channel(fake).publish(post())
    assert info.value.status == 403
    assert "rest_cannot_publish" in str(info.value)


def test_invalid_parameter_is_rejected_with_wordpress_reason(fake):
    fake.reject_next(400, "rest_invalid_param", "Invalid parameter(s): title")
    with pytest.raises(RejectedError, match=r"HTTP 400 rest_invalid_param: Invalid parameter"):
        channel(fake).publish(post())


def test_forbidden_status_lookup_is_auth_not_rejected(fake):
    """Without credentials WordPress answers `status=any` with a 400 that means 401."""
    wp = channel(fake)
    response = requests.get(fake.api_url + "/wp/v2/posts?status=any", timeout=5)
    assert response.status_code == 400
    assert isinstance(wp._classify(response), AuthError)


def test_password_never_appears_in_any_error(fake, image):
    messages = []
    for fault in ("500", "expired", "malformed", "reset", "429"):
        fake.fail_next(fault, path="POST /wp/v2/posts")
        try:
            channel(fake).publish(post(hash(fault)))
        except (TransientError, AuthError, RateLimitedError) as exc:
            messages.append(str(exc))
    fake.reject_next(400, "rest_invalid_param", f"echo {SECRET}")
    try:
        channel(fake).publish(post(77))
    except RejectedError as exc:
        messages.append(str(exc))
    assert len(messages) == 6
    for message in messages:
        assert SECRET not in message
        assert SECRET.replace(" ", "") not in message
        assert "MARK3R" not in message


# --- metrics and check -------------------------------------------------------------------------


def test_core_wordpress_has_no_figures(fake):
    wp = channel(fake)
    assert wp.has_metrics is False
    assert wp.metrics(wp.publish(post())) == Figures()


def test_check_reports_user_role_and_rights(fake):
    result = channel(fake).check()
    assert result.ok
    assert "admin (administrator)" in result.message
    assert result.expires_at is None  # application passwords do not expire
    [call] = fake.calls("GET", "/users/me")
    assert call.query["context"] == ["edit"]


def test_check_fails_for_a_user_who_cannot_publish(fake):
    fake.capabilities.discard("publish_posts")
    fake.roles = ["contributor"]
    result = channel(fake).check()
    assert not result.ok
    assert "publish_posts" in result.message


def test_check_raises_when_wordpress_cannot_be_reached(monkeypatch):
    monkeypatch.setenv(ENV, SECRET)
    gone = FakeWordPress().start()
    url = gone.api_url
    gone.stop()
    wp = WordPressChannel(
        ChannelSettings(
            name="wp",
            type="wordpress",
            options={"base_url": url, "username": "admin", "password_env": ENV},
        )
    )
    with pytest.raises(TransientError) as info:
        wp.check()
    assert info.value.maybe_delivered is False

"""The wordpress channel against a real WordPress (Debian's package, started on 127.0.0.1).

Publishes a news post with an image through the adapter, then reads it back through WordPress's
own REST API: title, content, featured image and the image's alt text. Skips loudly when no
WordPress can be had; fails instead under CI=true (see tests/peers/wordpress.py).
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from comms.channels.base import OutgoingPost
from comms.channels.settings import ChannelSettings
from comms.channels.wordpress import WordPressChannel, news_html
from comms.errors import AuthError
from tests.peers import common
from tests.peers.wordpress import WordPress, wordpress  # noqa: F401 - the session fixture

pytestmark = pytest.mark.slow  # real servers, browsers, many processes or long loops

ENV = "COMMS_TEST_WP_REAL_PASSWORD"
UPLOADS = Path("/var/lib/wordpress/wp-content/uploads")  # WP_CONTENT_DIR in start.sh


def png_bytes(width: int = 4, height: int = 3) -> bytes:
    """A real RGB PNG: WordPress reads the image's size and refuses what is not one."""
    return common.png(width, height, b"\xc8\x10\x2e")


@pytest.fixture
def wp(wordpress: WordPress, monkeypatch) -> WordPressChannel:  # noqa: F811
    monkeypatch.setenv(ENV, wordpress.password)
    options = {
        "base_url": wordpress.api_url,
        "username": wordpress.username,
        "password_env": ENV,
        "timeout_seconds": 30,
    }
    return WordPressChannel(
        ChannelSettings(name="hjemmeside-wp", type="wordpress", options=options)
    )


def read(wordpress: WordPress, route: str, **params: Any) -> Any:  # noqa: F811
    """GET a REST route as the admin, the way any other client would read it."""
    token = base64.b64encode(f"{wordpress.username}:{wordpress.password}".encode()).decode()
    root = wordpress.api_url.rstrip("/")
    response = requests.get(
        root + route, params=params, headers={"Authorization": f"Basic {token}"}, timeout=30
    )
    assert response.status_code == 200, response.text[:300]
    return response.json()


def news_post(tmp_path: Path) -> OutgoingPost:
    image = tmp_path / "plakat.png"
    image.write_bytes(png_bytes())
    return OutgoingPost(
        post_id=1,
        idempotency_key=str(uuid.uuid4()),  # the site keeps its posts between test runs
        channel="hjemmeside-wp",
        title="Tryg i Ålborg – før festen",
        text="Kom godt hjem efter festen.\nHusk hinanden & jeres venner.\n\n"
        "Se mere på https://aalborg.dk/tryg.",
        link="https://aalborg.dk/natteliv",
        image_path=image,
        image_alt="Plakat: to venner følges hjem over Limfjordsbroen",
    )


def test_check_sees_an_admin_who_may_publish(wp):
    result = wp.check()
    assert result.ok, result.message
    assert "administrator" in result.message


def test_news_post_with_image_reads_back_through_the_rest_api(wp, wordpress, tmp_path):  # noqa: F811
    post = news_post(tmp_path)
    receipt = wp.publish(post)

    stored = read(wordpress, f"/wp/v2/posts/{receipt.external_id}", context="edit")
    assert stored["status"] == "publish"
    assert stored["slug"] == wp.slug(post)
    assert stored["title"]["raw"] == "Tryg i Ålborg – før festen"
    assert stored["content"]["raw"] == news_html(post.text, post.link)
    assert '<a href="https://aalborg.dk/natteliv">' in stored["content"]["rendered"]
    assert "&amp; jeres venner" in stored["content"]["rendered"]
    assert receipt.url == stored["link"]

    assert stored["featured_media"] > 0
    media = read(wordpress, f"/wp/v2/media/{stored['featured_media']}", context="edit")
    assert media["alt_text"] == "Plakat: to venner følges hjem over Limfjordsbroen"
    assert media["mime_type"] == "image/png"
    assert media["media_details"]["width"] == 4
    # PHP's built-in server serves only /usr/share/wordpress, not Debian's uploads folder, so
    # the bytes are compared where WordPress stored them (when this machine runs the peer)
    uploaded = UPLOADS / media["media_details"]["file"]
    if UPLOADS.is_dir():
        assert uploaded.read_bytes() == png_bytes()

    # WordPress has no idempotency key: the slug lookup must find the post, and a resend
    # must not make a second one
    assert wp.find(post) == receipt
    assert wp.publish(post) == receipt
    same_slug = read(wordpress, "/wp/v2/posts", slug=wp.slug(post), status="any")
    assert [p["id"] for p in same_slug] == [int(receipt.external_id)]


def test_wrong_application_password_is_an_auth_error(wp, monkeypatch, tmp_path):
    monkeypatch.setenv(ENV, "abcd efgh ijkl mnop qrst uvwx")
    with pytest.raises(AuthError) as info:
        wp.publish(news_post(tmp_path))
    assert ENV in str(info.value)
    assert "abcd efgh" not in str(info.value)
    assert not wp.check().ok

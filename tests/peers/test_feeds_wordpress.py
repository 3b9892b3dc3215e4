"""A news feed read from a real WordPress (Debian's package on 127.0.0.1): its RSS 2.0 feed.

A post is published through WordPress's own REST API, as an editor on the site would, and
`comms feeds poll` (a process of its own) makes the drafts of it from `/?feed=rss2`. Skips
loudly when no WordPress can be had; fails instead under CI=true (tests/peers/wordpress.py).
"""

from __future__ import annotations

import base64
import textwrap
import uuid
from pathlib import Path

import pytest
import requests
from sqlmodel import col, select

from comms.config import load_settings
from comms.store.db import session_scope
from comms.store.models import Post, PostState
from tests.cli import run_comms
from tests.factories import stub_channel
from tests.peers.wordpress import WordPress, wordpress  # noqa: F401 - the session fixture

pytestmark = pytest.mark.slow  # a real WordPress


def publish(site: WordPress, title: str, content: str) -> dict:
    token = base64.b64encode(f"{site.username}:{site.password}".encode()).decode()
    response = requests.post(
        site.api_url.rstrip("/") + "/wp/v2/posts",
        json={"title": title, "content": content, "status": "publish"},
        headers={"Authorization": f"Basic {token}"},
        timeout=60,
    )
    assert response.status_code == 201, response.text[:300]
    return response.json()


def test_a_post_published_on_wordpress_becomes_drafts(wordpress: WordPress, tmp_path: Path):  # noqa: F811
    (tmp_path / "templates" / "feeds").mkdir(parents=True)
    (tmp_path / "templates" / "feeds" / "nyhed.j2").write_text(
        "{{ title }}\n\n{{ summary }}\n\n{{ link }}\n", encoding="utf-8"
    )
    config = tmp_path / "comms.toml"
    config.write_text(
        textwrap.dedent(f"""\
            [database]
            url = "sqlite:///{tmp_path / "comms.db"}"
            """)
        + stub_channel(tmp_path)
        + textwrap.dedent(f"""\
            [feeds.wordpress]
            url = "{wordpress.url}/?feed=rss2"
            channels = ["stub"]
            template = "feeds/nyhed"
            """),
        encoding="utf-8",
    )
    first = run_comms("--config", str(config), "feeds", "poll")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "første hentning" in first.stdout

    title = f"Vejarbejde på Vesterbro {uuid.uuid4().hex[:6]}"
    stored = publish(wordpress, title, "<p>Vesterbro er <strong>spærret</strong> i weekenden.</p>")

    second = run_comms("--config", str(config), "feeds", "poll")
    assert second.returncode == 0, second.stdout + second.stderr
    url = load_settings(config).database_url
    with session_scope(url) as session:
        made = list(session.exec(select(Post).order_by(col(Post.id))).all())
    assert [p.title for p in made] == [title]
    [post] = made
    assert post.state == PostState.DRAFT
    assert post.link == stored["link"]  # not one of our UTM domains: the link as WordPress gave it
    assert "Vesterbro er spærret i weekenden." in post.text
    assert "<strong>" not in post.text

    third = run_comms("--config", str(config), "feeds", "poll")
    assert third.returncode == 0, third.stdout + third.stderr
    with session_scope(url) as session:
        assert len(session.exec(select(Post)).all()) == 1

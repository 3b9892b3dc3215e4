"""Mastodon: `comms channels connect` registers comms as an app on the instance, runs its
authorisation code flow through the local listener, and the daemon posts with the stored
token; a revoked token (Mastodon's never expire, and have no refresh) pauses the channel with
the command that reconnects it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from comms.config import load_settings
from comms.publishing.daemon import Daemon
from comms.queue import transitions as queue
from comms.store import tokens
from comms.store.db import dispose_all, session_scope
from comms.store.models import ChannelState, PostState, utcnow
from comms.store.sealed import sealer_from_env
from tests.channels.oauth_setup import (
    assert_file_clean,
    assert_no_marker,
    connect_channel,
    oauth_env,
    write_config,
)
from tests.factories import add_post, get_post
from tests.fakes.mastodon import FakeMastodon


@pytest.fixture
def fake_mastodon() -> Iterator[FakeMastodon]:
    fake = FakeMastodon(token="not-the-stored-one")
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def test_connect_registers_the_app_and_the_daemon_posts_with_the_stored_token(
    tmp_path, fake_mastodon, monkeypatch
):
    path = write_config(
        tmp_path, f'[channels.mastodon]\ntype = "mastodon"\nbase_url = "{fake_mastodon.url}"\n'
    )
    env = oauth_env()
    out, err = connect_channel(path, env, "mastodon")
    assert "Kanalen mastodon er forbundet; tokenet gælder til aldrig" in out
    assert len(fake_mastodon.apps) == 1
    assert fake_mastodon.apps[0]["redirect_uri"].startswith("http://127.0.0.1:")
    monkeypatch.setenv("COMMS_SECRET_KEY", env["COMMS_SECRET_KEY"])
    settings = load_settings(path)
    post = add_post(settings.database_url, channel="mastodon", due=utcnow(), text="Hej fra comms")
    Daemon(settings).run_once()
    assert get_post(settings.database_url, post).state == PostState.PUBLISHED
    assert len(fake_mastodon.statuses) == 1
    with session_scope(settings.database_url) as session:
        stored = tokens.load(session, sealer_from_env(), "mastodon")
    assert stored is not None
    assert stored.expires_at is None
    dispose_all()
    assert_no_marker(out, err)
    assert_file_clean(tmp_path / "comms.db")

    fake_mastodon.oauth.expire_now()  # the token is revoked on the instance
    waiting = add_post(settings.database_url, channel="mastodon", due=utcnow(), text="Igen")
    Daemon(settings).run_once()
    assert get_post(settings.database_url, waiting).state == PostState.QUEUED
    with session_scope(settings.database_url) as session:
        assert queue.paused_channels(session) == {"mastodon"}
        state = session.get(ChannelState, "mastodon")
        assert state is not None
        assert "comms channels connect mastodon" in str(state.paused_reason)

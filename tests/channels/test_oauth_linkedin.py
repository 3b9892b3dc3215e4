"""LinkedIn: 3-legged OAuth through the local listener (client in the form, state checked, no
PKCE for a web app), then the daemon refreshes the member token with its refresh token when it
runs out (LinkedIn does not rotate it) and goes on posting for the organisation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from comms.config import load_settings
from comms.publishing.daemon import Daemon
from comms.store import tokens
from comms.store.db import dispose_all, session_scope
from comms.store.models import PostState, utcnow
from comms.store.sealed import sealer_from_env
from tests.channels.oauth_setup import (
    assert_file_clean,
    assert_no_marker,
    connect_channel,
    oauth_env,
    write_config,
)
from tests.factories import add_post, get_post
from tests.fakes.linkedin import FakeLinkedin
from tests.timing import wait_until

SECRET_ENV = "COMMS_TEST_LI_CLIENT_SECRET"


@pytest.fixture
def fake_linkedin() -> Iterator[FakeLinkedin]:
    fake = FakeLinkedin(token="not-the-stored-one", client_secret="li-secret-SECMARK")
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def test_connect_then_publish_across_a_refresh(tmp_path, fake_linkedin, monkeypatch):
    path = write_config(
        tmp_path,
        f'[channels.linkedin]\ntype = "linkedin"\norganization_id = "2414183"\n'
        f'base_url = "{fake_linkedin.url}"\noauth_url = "{fake_linkedin.url}"\n'
        f'client_id = "{fake_linkedin.client_id}"\nclient_secret_env = "{SECRET_ENV}"\n',
    )
    env = {**oauth_env(), SECRET_ENV: fake_linkedin.client_secret}
    out, err = connect_channel(path, env, "linkedin")
    assert "Kanalen linkedin er forbundet" in out
    for name in ("COMMS_SECRET_KEY", SECRET_ENV):
        monkeypatch.setenv(name, env[name])
    settings = load_settings(path)
    url = settings.database_url
    first = add_post(url, channel="linkedin", due=utcnow(), text="Første opslag")
    Daemon(settings).run_once()
    assert get_post(url, first).state == PostState.PUBLISHED
    with session_scope(url) as session:
        before = tokens.load(session, sealer_from_env(), "linkedin")
    assert before is not None
    wait_until(lambda: fake_linkedin.oauth.access_state(before.access_token) == "expired", 10)
    second = add_post(url, channel="linkedin", due=utcnow(), text="Andet opslag")
    Daemon(settings).run_once()
    assert get_post(url, second).state == PostState.PUBLISHED
    # at least once; on a slow machine the two-second token may already be refreshed before the
    # first post
    assert fake_linkedin.oauth.refreshes >= 1
    with session_scope(url) as session:
        after = tokens.load(session, sealer_from_env(), "linkedin")
    assert after is not None
    assert after.access_token != before.access_token
    assert after.secrets["refresh_token"] == before.secrets["refresh_token"]  # not rotated
    dispose_all()
    assert_no_marker(out, err)
    assert "SECMARK" not in out + err
    assert_file_clean(tmp_path / "comms.db")

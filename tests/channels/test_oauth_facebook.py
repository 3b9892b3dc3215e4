"""Facebook and Instagram: Facebook Login through the local listener, the short-lived user
token exchanged (`fb_exchange_token`) for a long-lived one, the Page's token read with it (one
that does not expire), its expiry read back with /debug_token; the daemon posts with it."""

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
from tests.cli import run_comms
from tests.factories import add_post, get_post
from tests.fakes.graph import GraphFake

SECRET_ENV = "COMMS_TEST_META_APP_SECRET"


@pytest.fixture
def graph() -> Iterator[GraphFake]:
    fake = GraphFake(token="not-the-stored-one")
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def _table(graph: GraphFake, name: str, kind: str, extra: str) -> str:
    return (
        f'[channels.{name}]\ntype = "{kind}"\nbase_url = "{graph.url}/v24.0"\n'
        f'authorize_url = "{graph.url}/v24.0/dialog/oauth"\n'
        f'client_id = "{graph.login.app_id}"\nclient_secret_env = "{SECRET_ENV}"\n' + extra
    )


def test_facebook_connects_to_a_page_token_that_does_not_expire_and_posts(
    tmp_path, graph, monkeypatch
):
    path = write_config(tmp_path, _table(graph, "facebook", "facebook", 'page_id = "1001"\n'))
    env = {**oauth_env(), SECRET_ENV: graph.login.app_secret}
    out, err = connect_channel(path, env, "facebook")
    assert "Kanalen facebook er forbundet; tokenet gælder til aldrig" in out
    assert graph.login.exchanges == 1  # the short-lived token was exchanged before the Page's
    for name in ("COMMS_SECRET_KEY", SECRET_ENV):
        monkeypatch.setenv(name, env[name])
    settings = load_settings(path)
    with session_scope(settings.database_url) as session:
        stored = tokens.load(session, sealer_from_env(), "facebook")
    assert stored is not None
    assert stored.access_token == graph.token  # the Page's token, not a user token
    assert stored.expires_at is None
    post = add_post(settings.database_url, channel="facebook", due=utcnow(), text="Hej Aalborg")
    Daemon(settings).run_once()
    assert get_post(settings.database_url, post).state == PostState.PUBLISHED
    assert [p["message"] for p in graph.posts] == ["Hej Aalborg"]
    check = run_comms("--config", str(path), "channels", "check", "facebook", env=env)
    assert check.returncode == 0, check.stderr
    assert "never expires" in check.stdout
    dispose_all()
    assert_no_marker(out, err, check.stdout, check.stderr)
    assert "SECMARK" not in out + err + check.stdout + check.stderr
    assert_file_clean(tmp_path / "comms.db")


def test_instagram_connects_through_its_linked_page(tmp_path, graph, monkeypatch):
    extra = f'ig_user_id = "{graph.ig_user_id}"\npage_id = "1001"\n'
    path = write_config(tmp_path, _table(graph, "instagram", "instagram", extra))
    env = {**oauth_env(), SECRET_ENV: graph.login.app_secret}
    out, _err = connect_channel(path, env, "instagram")
    assert "Kanalen instagram er forbundet; tokenet gælder til aldrig" in out
    check = run_comms("--config", str(path), "channels", "check", "instagram", env=env)
    assert "@trygaalborg" in check.stdout  # the stored Page token reads the account
    assert_no_marker(out, check.stdout, check.stderr)

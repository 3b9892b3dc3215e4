"""X with OAuth 1.0a user context: `comms channels connect x --oauth1` through the local
listener (request token, authorise, access token), then the daemon posts with every call
signed; the fake checks each signature with oauthlib's server side."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
import requests

from comms.config import load_settings
from comms.publishing.daemon import Daemon
from comms.store import tokens
from comms.store.db import dispose_all, session_scope
from comms.store.models import PostState, utcnow
from comms.store.sealed import new_key, sealer_from_env
from tests.channels.oauth_setup import (
    assert_file_clean,
    assert_no_marker,
    connect_command,
    write_config,
)
from tests.factories import add_post, get_post
from tests.fakes.x import FakeX


@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    fake = FakeX(token="not-the-stored-one")
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def _setup(tmp_path, fake: FakeX):
    path = write_config(
        tmp_path,
        f'[channels.x]\ntype = "x"\nbase_url = "{fake.url}"\n'
        f'oauth1_authorize_url = "{fake.url}/oauth/authorize"\n'
        'api_key_env = "COMMS_TEST_X_KEY"\napi_secret_env = "COMMS_TEST_X_SECRET"\n'
        f'user_id = "{fake.user["id"]}"\n',
    )
    env = {
        **os.environ,
        "COMMS_SECRET_KEY": new_key(),
        "COMMS_TEST_X_KEY": fake.oauth1.consumer_key,
        "COMMS_TEST_X_SECRET": fake.oauth1.consumer_secret,
    }
    return path, env


def _connect(path, env) -> subprocess.Popen[str]:
    return subprocess.Popen(
        connect_command(path, "x", "--oauth1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_connect_with_oauth1_and_publish_signed(tmp_path, fake_x, monkeypatch):
    path, env = _setup(tmp_path, fake_x)
    process = _connect(path, env)
    assert process.stdout is not None
    url = next(line for line in process.stdout if line.startswith("http")).strip()
    page = requests.get(url, timeout=10)  # the browser: X's authorise page, then the listener
    assert page.status_code == 200
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "forbundet med OAuth 1.0a; tokenet udløber ikke" in out
    for name in ("COMMS_SECRET_KEY", "COMMS_TEST_X_KEY", "COMMS_TEST_X_SECRET"):
        monkeypatch.setenv(name, env[name])
    settings = load_settings(path)
    with session_scope(settings.database_url) as session:
        stored = tokens.load(session, sealer_from_env(), "x")
    assert stored is not None
    assert stored.kind == "oauth1"
    assert stored.expires_at is None
    assert stored.access_token in fake_x.oauth1.access_tokens
    post = add_post(settings.database_url, channel="x", due=utcnow(), text="Signeret opslag")
    Daemon(settings).run_once()
    assert get_post(settings.database_url, post).state == PostState.PUBLISHED, fake_x.oauth1.refused
    assert fake_x.texts() == ["Signeret opslag"]
    assert fake_x.oauth1.signed_calls >= 1
    dispose_all()
    assert_no_marker(out, err)
    assert "SECMARK" not in out + err
    assert_file_clean(tmp_path / "comms.db")


def test_a_redirect_for_another_request_token_is_refused(tmp_path, fake_x):
    path, env = _setup(tmp_path, fake_x)
    process = _connect(path, env)
    assert process.stdout is not None
    url = next(line for line in process.stdout if line.startswith("http")).strip()
    redirect = next(iter(fake_x.oauth1.request_tokens.values()))["callback"]
    requests.get(redirect, params={"oauth_token": "someoneelse", "oauth_verifier": "v"}, timeout=10)
    _out, err = process.communicate(timeout=30)
    assert process.returncode != 0
    assert "oauth_token hører ikke til denne godkendelse" in err
    assert url  # the address was printed, and never used

"""`comms channels connect NAME --paste --no-browser` as a person runs it where the browser
cannot reach this machine: the command prints the authorisation address, the "browser" (here:
requests, against the fake service) says yes and is sent to the redirect address, which nothing
listens on; the person pastes that address, or only its code, and the token is stored sealed.
A pasted address whose `state` is not this authorisation's is refused and nothing is stored."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from comms.config import load_settings
from comms.publishing.daemon import Daemon
from comms.store import tokens
from comms.store.db import dispose_all, session_scope
from comms.store.models import PostState, utcnow
from comms.store.sealed import sealer_from_env
from tests.channels.oauth_setup import (
    CLIENT_SECRET_ENV,
    assert_file_clean,
    assert_no_marker,
    lines_until_address,
    oauth_env,
    write_config,
    x_channel,
)
from tests.factories import add_post, get_post
from tests.fakes.linkedin import FakeLinkedin
from tests.fakes.x import FakeX

LI_SECRET_ENV = "COMMS_TEST_LI_CLIENT_SECRET"


@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    fake = FakeX()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def connect_pasting(
    config: Path, env: dict[str, str], name: str, paste: Callable[[str], str], *extra: str
) -> subprocess.CompletedProcess[str]:
    """Run the command, play the browser up to the redirect it cannot follow, and paste what
    `paste` makes of the address the browser ended on."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "comms", "--config", str(config)),
            *("channels", "connect", name, "--paste", "--no-browser", *extra),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdin is not None
    lines = lines_until_address(process)
    assert "Åbn denne adresse, og giv comms adgang:" in "".join(lines)
    said_yes = requests.get(lines[-1].strip(), allow_redirects=False, timeout=10)
    assert said_yes.status_code == 302
    ended_on = said_yes.headers["Location"]
    assert ended_on.startswith("http://127.0.0.1:8765/callback?")  # nothing listens there
    out, err = process.communicate(paste(ended_on) + "\n", timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, "".join(lines) + out, err)


def test_x_pasting_the_whole_address_stores_the_token_sealed_and_publishes(
    tmp_path, fake_x, monkeypatch
):
    path = write_config(tmp_path, x_channel(fake_x))
    env = oauth_env(fake_x)
    done = connect_pasting(path, env, "x", lambda address: address)
    assert done.returncode == 0, done.stderr
    assert "Kanalen x er forbundet; tokenet gælder til " in done.stdout
    assert " kl. " in done.stdout  # a Danish date and time, not 2026-12-01 14:00
    assert_no_marker(done.stdout, done.stderr)
    token_calls = [r for r in fake_x.requests if r.path == fake_x.oauth.token_path]
    assert len(token_calls) == 1
    assert token_calls[0].form["redirect_uri"] == ["http://127.0.0.1:8765/callback"]
    for key in ("COMMS_SECRET_KEY", CLIENT_SECRET_ENV):
        monkeypatch.setenv(key, env[key])
    settings = load_settings(path)
    with session_scope(settings.database_url) as session:
        stored = tokens.load(session, sealer_from_env(), "x")
    assert stored is not None
    assert stored.access_token in fake_x.oauth.issued_tokens()
    post = add_post(settings.database_url, channel="x", due=utcnow(), text="Indsat og udgivet")
    Daemon(settings).run_once()
    assert get_post(settings.database_url, post).state == PostState.PUBLISHED
    assert fake_x.texts() == ["Indsat og udgivet"]
    dispose_all()
    assert_file_clean(tmp_path / "comms.db")


def test_linkedin_pasting_only_the_code_stores_the_token_and_publishes(tmp_path, monkeypatch):
    fake = FakeLinkedin(token="not-the-stored-one", client_secret="li-secret-SECMARK")
    fake.start()
    try:
        path = write_config(
            tmp_path,
            f'[channels.linkedin]\ntype = "linkedin"\norganization_id = "2414183"\n'
            f'base_url = "{fake.url}"\noauth_url = "{fake.url}"\n'
            f'client_id = "{fake.client_id}"\nclient_secret_env = "{LI_SECRET_ENV}"\n',
        )
        env = {**oauth_env(), LI_SECRET_ENV: str(fake.client_secret)}
        done = connect_pasting(
            path, env, "linkedin", lambda address: parse_qs(urlsplit(address).query)["code"][0]
        )
        assert done.returncode == 0, done.stderr
        assert "Kanalen linkedin er forbundet" in done.stdout
        for key in ("COMMS_SECRET_KEY", LI_SECRET_ENV):
            monkeypatch.setenv(key, env[key])
        settings = load_settings(path)
        post = add_post(settings.database_url, channel="linkedin", due=utcnow(), text="Kode")
        Daemon(settings).run_once()
        assert get_post(settings.database_url, post).state == PostState.PUBLISHED
        assert [p.shown for p in fake.posts] == ["Kode"]
        dispose_all()
        assert_file_clean(tmp_path / "comms.db")
    finally:
        fake.stop()


def _with_state(address: str, state: str) -> str:
    parts = urlsplit(address)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query["state"] = state
    return parts._replace(query=urlencode(query)).geturl()


@pytest.mark.parametrize("state", ["not-ours", ""])
def test_a_pasted_address_with_a_foreign_state_is_refused(tmp_path, fake_x, state):
    path = write_config(tmp_path, x_channel(fake_x))
    done = connect_pasting(path, oauth_env(fake_x), "x", lambda a: _with_state(a, state))
    assert done.returncode != 0
    assert "adressens state passer ikke til denne godkendelse: afvist, intet er gemt" in done.stderr
    assert not [r for r in fake_x.requests if r.path == fake_x.oauth.token_path]  # not traded
    settings = load_settings(path)
    with session_scope(settings.database_url) as session:
        assert tokens.rows(session) == []


def test_x_oauth1_pasting_only_the_verifier_stores_the_token_and_publishes_signed(
    tmp_path, monkeypatch
):
    fake = FakeX(token="not-the-stored-one")
    fake.start()
    try:
        path = write_config(
            tmp_path,
            f'[channels.x]\ntype = "x"\nbase_url = "{fake.url}"\n'
            f'oauth1_authorize_url = "{fake.url}/oauth/authorize"\n'
            'api_key_env = "COMMS_TEST_X_KEY"\napi_secret_env = "COMMS_TEST_X_SECRET"\n'
            f'user_id = "{fake.user["id"]}"\n',
        )
        env = {
            **oauth_env(),
            "COMMS_TEST_X_KEY": fake.oauth1.consumer_key,
            "COMMS_TEST_X_SECRET": fake.oauth1.consumer_secret,
        }
        done = connect_pasting(
            path,
            env,
            "x",
            lambda address: parse_qs(urlsplit(address).query)["oauth_verifier"][0],
            "--oauth1",
        )
        assert done.returncode == 0, done.stderr
        assert "Kanalen x er forbundet med OAuth 1.0a; tokenet udløber ikke." in done.stdout
        for key in ("COMMS_SECRET_KEY", "COMMS_TEST_X_KEY", "COMMS_TEST_X_SECRET"):
            monkeypatch.setenv(key, env[key])
        settings = load_settings(path)
        post = add_post(settings.database_url, channel="x", due=utcnow(), text="Signeret")
        Daemon(settings).run_once()
        assert get_post(settings.database_url, post).state == PostState.PUBLISHED
        assert fake.texts() == ["Signeret"]
        # the request token is in the authorisation address by design; nothing after it
        assert_no_marker(done.stdout.splitlines()[-1], done.stderr)
    finally:
        fake.stop()

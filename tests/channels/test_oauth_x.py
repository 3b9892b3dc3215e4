"""X OAuth 2.0 with PKCE end to end: `comms channels connect` through its one-shot listener,
then daemons that publish across several access-token lifetimes with nobody at the keyboard.

The fake X (tests/fakes/oauth.py) checks the client's credentials, PKCE S256 and state, lets
an access token live two seconds and kills a refresh token once it is used."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from comms.config import Settings, load_settings
from comms.store import tokens
from comms.store.db import ensure_schema, session_scope
from comms.store.models import PostState, utcnow
from comms.store.sealed import sealer_from_env
from tests.channels.oauth_setup import (
    assert_file_clean,
    assert_no_marker,
    connect_command,
    connect_x,
    oauth_env,
    x_channel,
)
from tests.factories import add_post, get_post
from tests.fakes.x import FakeX
from tests.pg import pg_url  # noqa: F401  (a fixture)
from tests.timing import wait_until


@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    fake = FakeX()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def _config(tmp_path, fake: FakeX, database: str | None = None) -> Settings:
    database = database or f"sqlite:///{tmp_path / 'comms.db'}"
    path = tmp_path / "comms.toml"
    path.write_text(
        'timezone = "Europe/Copenhagen"\nrequire_approval = false\n'
        f'[database]\nurl = "{database}"\n'
        "[daemon]\ntick_seconds = 0.5\nbackoff_base_seconds = 1\nbackoff_cap_seconds = 2\n"
        + x_channel(fake),
        encoding="utf-8",
    )
    settings = load_settings(path)
    ensure_schema(settings.database_url)
    return settings


def test_connect_runs_pkce_through_the_local_listener_and_stores_the_token_sealed(
    tmp_path, fake_x, monkeypatch
):
    settings = _config(tmp_path, fake_x)
    env = oauth_env(fake_x)
    out, err = connect_x(settings.path, env)
    assert "Kanalen x er forbundet; tokenet gælder til " in out
    assert "comms fornyer det selv." in out
    assert_no_marker(out, err)
    token_calls = [r for r in fake_x.requests if r.path == fake_x.oauth.token_path]
    assert len(token_calls) == 1  # the code, traded once, with its verifier
    assert "code_verifier" in token_calls[0].form
    monkeypatch.setenv("COMMS_SECRET_KEY", env["COMMS_SECRET_KEY"])
    with session_scope(settings.database_url) as session:
        stored = tokens.load(session, sealer_from_env(), "x")
    assert stored is not None
    assert stored.access_token in fake_x.oauth.issued_tokens()
    assert stored.secrets["refresh_token"] in fake_x.oauth.issued_tokens()
    from comms.store.db import dispose_all

    dispose_all()
    assert_file_clean(tmp_path / "comms.db")


def test_a_forged_redirect_is_refused(tmp_path, fake_x):
    """A redirect whose state is not this authorisation's stores nothing."""
    import requests

    settings = _config(tmp_path, fake_x)
    process = subprocess.Popen(
        connect_command(settings.path, "x"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=oauth_env(fake_x),
    )
    assert process.stdout is not None
    url = next(line for line in process.stdout if line.startswith("http"))
    from urllib.parse import parse_qs, urlsplit

    redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
    requests.get(redirect, params={"code": "stolen", "state": "not-ours"}, timeout=10)
    _, err = process.communicate(timeout=30)
    assert process.returncode != 0
    assert "state passer ikke til denne godkendelse" in err
    with session_scope(settings.database_url) as session:
        assert tokens.rows(session) == []


def test_connect_without_a_key_says_how_to_make_one(tmp_path, fake_x):
    settings = _config(tmp_path, fake_x)
    env = oauth_env(fake_x)
    del env["COMMS_SECRET_KEY"]
    result = subprocess.run(
        connect_command(settings.path, "x"),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode != 0
    assert "COMMS_SECRET_KEY" in result.stderr
    assert "new-key" in result.stderr
    assert not [r for r in fake_x.requests if r.path == fake_x.oauth.authorize_path]


def _daemon(config, env, log) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "comms", "--config", str(config), "daemon"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )


def publish_in_rounds(url: str, fake: FakeX, *, rounds: int, per_round: int) -> None:
    """Posts due now, `per_round` at a time; after each round, wait until the daemons have
    refreshed the token once more, so each round is published in a token lifetime of its own
    however slowly the daemons started."""
    for round_ in range(rounds):
        ids = [
            add_post(url, channel="x", due=utcnow(), text=f"Husk refleksen {round_}.{i}")
            for i in range(per_round)
        ]
        wait_until(
            lambda ids=ids: all(get_post(url, i).state == PostState.PUBLISHED for i in ids), 60
        )
        refreshed = fake.oauth.refreshes
        wait_until(lambda refreshed=refreshed: fake.oauth.refreshes > refreshed, 10)


@pytest.mark.slow
def test_a_daemon_publishes_across_several_token_lifetimes(tmp_path, fake_x):
    settings = _config(tmp_path, fake_x)
    env = oauth_env(fake_x)
    out, err = connect_x(settings.path, env)
    log_path = tmp_path / "daemon.log"
    with log_path.open("w") as log:
        process = _daemon(settings.path, env, log)
        try:
            publish_in_rounds(settings.database_url, fake_x, rounds=4, per_round=2)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    assert fake_x.oauth.refreshes >= 3  # each round after the first needed a new token
    assert fake_x.oauth.reused == []
    assert len(fake_x.tweets) == 8
    from comms.store.db import dispose_all

    dispose_all()
    assert_no_marker(out, err, log_path.read_text())
    assert_file_clean(tmp_path / "comms.db")


@pytest.mark.slow
def test_two_daemons_on_postgresql_race_to_refresh_and_both_keep_publishing(
    tmp_path,
    fake_x,
    pg_url,  # noqa: F811  (the fixture)
):
    settings = _config(tmp_path, fake_x, database=pg_url)
    env = oauth_env(fake_x)
    connect_x(settings.path, env)
    logs = [tmp_path / f"daemon{n}.log" for n in (1, 2)]
    handles = [path.open("w") for path in logs]
    processes = [_daemon(settings.path, env, handle) for handle in handles]
    try:
        publish_in_rounds(settings.database_url, fake_x, rounds=4, per_round=12)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(30)
        for handle in handles:
            handle.close()
    texts = [path.read_text() for path in logs]
    assert fake_x.oauth.reused == []  # never a refresh token used twice: none lost
    assert fake_x.oauth.refreshes >= 3
    assert all("published on x" in text for text in texts), texts  # both kept publishing
    assert len(fake_x.tweets) == 48
    assert_no_marker(*texts)
    with session_scope(settings.database_url) as session:
        from comms.queue import transitions as queue

        assert queue.paused_channels(session) == set()


def test_a_refused_refresh_pauses_only_that_channel_with_one_notice(tmp_path, fake_x, monkeypatch):
    """The refresh token is revoked: x pauses (its post waits, not failed), the stub channel
    publishes, and the team gets one notice naming x and the command that reconnects it."""
    from comms.publishing.daemon import Daemon
    from comms.queue import transitions as queue
    from tests.factories import stub_channel

    path = tmp_path / "comms.toml"
    path.write_text(
        'timezone = "Europe/Copenhagen"\nrequire_approval = false\n'
        f'[database]\nurl = "sqlite:///{tmp_path / "comms.db"}"\n'
        '[notifications]\nchannel = "team"\n'
        + x_channel(fake_x)
        + stub_channel(tmp_path)
        + stub_channel(tmp_path, "team"),
        encoding="utf-8",
    )
    settings = load_settings(path)
    ensure_schema(settings.database_url)
    env = oauth_env(fake_x)
    connect_x(path, env)
    for name in ("COMMS_SECRET_KEY", "COMMS_TEST_X_CLIENT_SECRET"):
        monkeypatch.setenv(name, env[name])
    fake_x.oauth.refused_refresh = True
    url = settings.database_url
    on_x = add_post(url, channel="x", due=utcnow(), text="Til X")
    on_stub = add_post(url, channel="stub", due=utcnow(), text="Til stub")
    wait_until(lambda: fake_x.oauth.access_state(_stored_access(url)) == "expired", 10)
    daemon = Daemon(settings)
    daemon.run_once()
    daemon.run_once()  # a second pass sends no second notice
    assert get_post(url, on_stub).state == PostState.PUBLISHED
    assert get_post(url, on_x).state == PostState.QUEUED  # not sent, not failed: it waits
    with session_scope(url) as session:
        assert queue.paused_channels(session) == {"x"}
    notices = (tmp_path / "team.jsonl").read_text().splitlines()
    assert len(notices) == 1
    assert "comms channels connect x" in notices[0]
    assert_no_marker(*notices)
    assert fake_x.tweets == []


def _stored_access(url: str) -> str:
    with session_scope(url) as session:
        token = tokens.load(session, sealer_from_env(), "x")
    assert token is not None
    return token.access_token


def test_a_401_on_a_token_not_yet_due_refreshes_once_and_publishes(tmp_path, fake_x, monkeypatch):
    from comms.publishing.daemon import Daemon

    fake_x.oauth.access_life = 3600  # comms would not refresh it for an hour
    settings = _config(tmp_path, fake_x)
    env = oauth_env(fake_x)
    connect_x(settings.path, env)
    for name in ("COMMS_SECRET_KEY", "COMMS_TEST_X_CLIENT_SECRET"):
        monkeypatch.setenv(name, env[name])
    fake_x.oauth.expire_now()  # X says the token expired anyway
    post = add_post(settings.database_url, channel="x", due=utcnow(), text="Efter 401")
    Daemon(settings).run_once()
    assert get_post(settings.database_url, post).state == PostState.PUBLISHED
    assert fake_x.oauth.refreshes == 1
    assert fake_x.texts() == ["Efter 401"]

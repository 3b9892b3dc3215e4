"""Bluesky: the app password is traded once for a session (`comms channels connect`), the
session is stored sealed (never the password), and a daemon process keeps it alive with
refreshSession across several access-JWT lifetimes; a spent refresh JWT is never used again."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from comms.config import load_settings
from comms.store.db import dispose_all
from comms.store.models import PostState, utcnow
from tests.channels.oauth_setup import assert_file_clean, assert_no_marker, oauth_env, write_config
from tests.factories import add_post, get_post
from tests.fakes.bluesky import FakeBluesky
from tests.timing import wait_until


@pytest.fixture
def fake_bluesky() -> Iterator[FakeBluesky]:
    fake = FakeBluesky(password="app-pass-SECMARK", access_life=2.0)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def _connect(path, env) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "comms", "--config", str(path), "channels", "connect", "bsky"],
        input="app-pass-SECMARK\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.mark.slow
def test_a_connected_session_is_refreshed_by_the_daemon_across_lifetimes(tmp_path, fake_bluesky):
    path = write_config(
        tmp_path,
        f'[channels.bsky]\ntype = "bluesky"\nbase_url = "{fake_bluesky.url}"\n'
        'handle = "tryg.test"\n',
    )
    env = oauth_env()
    connected = _connect(path, env)
    assert connected.returncode == 0, connected.stderr
    assert "Kanalen bsky er forbundet; sessionen gælder til " in connected.stdout
    assert fake_bluesky.sessions_created == 1
    settings = load_settings(path)
    log = tmp_path / "daemon.log"
    with log.open("w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "comms", "--config", str(path), "daemon"],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            for round_ in range(4):  # each round in an access JWT's lifetime of its own
                post = add_post(
                    settings.database_url,
                    channel="bsky",
                    due=utcnow(),
                    text=f"Husk refleksen {round_}",
                )
                wait_until(
                    lambda post=post: (
                        get_post(settings.database_url, post).state == PostState.PUBLISHED
                    ),
                    60,
                )
                refreshed = fake_bluesky.refreshes
                wait_until(lambda seen=refreshed: fake_bluesky.refreshes > seen, 10)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    assert fake_bluesky.sessions_created == 1  # logged in once, at connect; never again
    assert fake_bluesky.refreshes >= 3  # each round after the first needed a new session
    assert fake_bluesky.reused == []
    assert len(fake_bluesky.records) == 4
    dispose_all()
    text = connected.stdout + connected.stderr + log.read_text()
    assert_no_marker(text)
    assert "SECMARK" not in text
    assert_file_clean(tmp_path / "comms.db")
    assert b"SECMARK" not in (tmp_path / "comms.db").read_bytes()


def test_connect_refuses_a_wrong_app_password(tmp_path, fake_bluesky):
    path = write_config(
        tmp_path,
        f'[channels.bsky]\ntype = "bluesky"\nbase_url = "{fake_bluesky.url}"\n'
        'handle = "tryg.test"\n',
    )
    result = subprocess.run(
        [sys.executable, "-m", "comms", "--config", str(path), "channels", "connect", "bsky"],
        input="wrong-password\n",
        capture_output=True,
        text=True,
        env=oauth_env(),
        timeout=60,
    )
    assert result.returncode != 0
    assert "wrong-password" not in result.stdout + result.stderr

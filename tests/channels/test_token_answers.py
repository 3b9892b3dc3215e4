"""A refused stored token: refreshed once when the service says it expired, never refreshed when
the service says it was revoked (the channel pauses with one Danish notice naming the command
that reconnects it), and refreshed once, as the safe default, when the answer says neither or
is garbage. Each case against the service's fake, which answers the way the service does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from comms.channels import token_answer
from comms.config import Settings, load_settings
from comms.publishing.daemon import Daemon
from comms.queue import transitions as queue
from comms.store.db import session_scope
from comms.store.models import ChannelState, PostState, utcnow
from tests.channels.oauth_setup import (
    CLIENT_SECRET_ENV,
    assert_no_marker,
    connect_channel,
    oauth_env,
    write_config,
    x_channel,
)
from tests.factories import add_post, get_post, stub_channel
from tests.fakes.bluesky import FakeBluesky
from tests.fakes.graph import GraphFake
from tests.fakes.linkedin import FakeLinkedin
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.server import Response
from tests.fakes.x import FakeX

LI_SECRET_ENV = "COMMS_TEST_LI_CLIENT_SECRET"
META_SECRET_ENV = "COMMS_TEST_META_APP_SECRET"
TEAM = '[notifications]\nchannel = "team"\n'


@pytest.fixture
def linkedin() -> Iterator[FakeLinkedin]:
    fake = FakeLinkedin(token="not-the-stored-one", client_secret="li-secret-SECMARK")
    fake.oauth.access_life = 3600  # comms would not refresh it on its own for an hour
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def mastodon() -> Iterator[FakeMastodon]:
    fake = FakeMastodon(token="not-the-stored-one")
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def _setup(tmp_path: Path, table: str, env: dict[str, str], name: str, monkeypatch) -> Settings:
    path = write_config(tmp_path, TEAM + table + stub_channel(tmp_path, "team"))
    connect_channel(path, env, name)
    for key in ("COMMS_SECRET_KEY", LI_SECRET_ENV, META_SECRET_ENV, CLIENT_SECRET_ENV):
        if key in env:
            monkeypatch.setenv(key, env[key])
    return load_settings(path)


def _linkedin(tmp_path: Path, fake: FakeLinkedin, monkeypatch) -> Settings:
    table = (
        f'[channels.linkedin]\ntype = "linkedin"\norganization_id = "2414183"\n'
        f'base_url = "{fake.url}"\noauth_url = "{fake.url}"\n'
        f'client_id = "{fake.client_id}"\nclient_secret_env = "{LI_SECRET_ENV}"\n'
    )
    env = {**oauth_env(), LI_SECRET_ENV: str(fake.client_secret)}
    return _setup(tmp_path, table, env, "linkedin", monkeypatch)


def _notices(tmp_path: Path) -> list[str]:
    path = tmp_path / "team.jsonl"
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def _assert_paused_once(settings: Settings, tmp_path: Path, name: str, post: int) -> None:
    """Paused with its post waiting (not failed), one Danish notice with the command."""
    url = settings.database_url
    assert get_post(url, post).state == PostState.QUEUED
    with session_scope(url) as session:
        assert queue.paused_channels(session) == {name}
        state = session.get(ChannelState, name)
        assert state is not None
        assert "tilbagekaldt eller ugyldigt" in str(state.paused_reason)
    notices = _notices(tmp_path)
    assert len(notices) == 1, notices
    assert f"Kanalen {name} blev sat på pause" in notices[0]
    assert f"comms channels connect {name}" in notices[0]
    assert_no_marker(*notices)


def test_linkedin_revoked_pauses_without_spending_the_refresh_token(
    tmp_path, linkedin, monkeypatch
):
    settings = _linkedin(tmp_path, linkedin, monkeypatch)
    linkedin.oauth.revoke_all()  # 401 serviceErrorCode 65601
    post = add_post(settings.database_url, channel="linkedin", due=utcnow(), text="Tilbagekaldt")
    daemon = Daemon(settings)
    daemon.run_once()
    daemon.run_once()  # no second notice, no refresh later either
    assert linkedin.oauth.refresh_attempts == 0
    assert linkedin.posts == []
    _assert_paused_once(settings, tmp_path, "linkedin", post)


def test_linkedin_expired_refreshes_once_and_publishes(tmp_path, linkedin, monkeypatch):
    settings = _linkedin(tmp_path, linkedin, monkeypatch)
    linkedin.oauth.expire_now()  # 401 serviceErrorCode 65602
    post = add_post(settings.database_url, channel="linkedin", due=utcnow(), text="Udløbet")
    Daemon(settings).run_once()
    assert get_post(settings.database_url, post).state == PostState.PUBLISHED
    assert linkedin.oauth.refresh_attempts == 1
    assert _notices(tmp_path) == []


def _mastodon(tmp_path: Path, fake: FakeMastodon, monkeypatch) -> Settings:
    table = f'[channels.mastodon]\ntype = "mastodon"\nbase_url = "{fake.url}"\n'
    return _setup(tmp_path, table, oauth_env(), "mastodon", monkeypatch)


def test_mastodon_says_expired_and_comms_tries_to_refresh_it(tmp_path, mastodon, monkeypatch):
    """An expired Mastodon token is one comms would renew; Mastodon gives no refresh token, so
    the attempt itself is what pauses the channel (unlike a revoked one, below)."""
    settings = _mastodon(tmp_path, mastodon, monkeypatch)
    mastodon.oauth.expire_now()  # WWW-Authenticate: ... error_description="...expired"
    post = add_post(settings.database_url, channel="mastodon", due=utcnow(), text="Udløbet")
    Daemon(settings).run_once()
    assert get_post(settings.database_url, post).state == PostState.QUEUED
    with session_scope(settings.database_url) as session:
        state = session.get(ChannelState, "mastodon")
        assert state is not None
        assert "fornyelsen af dens gemte token blev afvist" in str(state.paused_reason)
    assert len(_notices(tmp_path)) == 1


def test_mastodon_says_revoked_and_its_refresh_token_is_kept(tmp_path, mastodon, monkeypatch):
    mastodon.oauth.access_life = 3600  # an instance that gives tokens a life and a refresh
    settings = _mastodon(tmp_path, mastodon, monkeypatch)
    mastodon.oauth.revoke_all()  # error_description="The access token was revoked"
    post = add_post(settings.database_url, channel="mastodon", due=utcnow(), text="Væk")
    Daemon(settings).run_once()
    assert mastodon.oauth.refresh_attempts == 0
    _assert_paused_once(settings, tmp_path, "mastodon", post)


@pytest.mark.parametrize("subcode", [460, 458, 467])
def test_graph_password_changed_or_app_removed_pauses_facebook(tmp_path, monkeypatch, subcode):
    graph = GraphFake(token="not-the-stored-one")
    graph.start()
    try:
        table = (
            f'[channels.facebook]\ntype = "facebook"\nbase_url = "{graph.url}/v24.0"\n'
            f'authorize_url = "{graph.url}/v24.0/dialog/oauth"\n'
            f'client_id = "{graph.login.app_id}"\nclient_secret_env = "{META_SECRET_ENV}"\n'
            'page_id = "1001"\n'
        )
        env = {**oauth_env(), META_SECRET_ENV: graph.login.app_secret}
        settings = _setup(tmp_path, table, env, "facebook", monkeypatch)
        graph.revoked_subcode = subcode  # 400, code 190 with this error_subcode
        post = add_post(settings.database_url, channel="facebook", due=utcnow(), text="Hej")
        Daemon(settings).run_once()
        assert graph.posts == []
        _assert_paused_once(settings, tmp_path, "facebook", post)
    finally:
        graph.stop()


def test_bluesky_invalid_token_pauses_without_refresh_session(tmp_path, monkeypatch):
    import subprocess
    import sys

    fake = FakeBluesky(password="app-pass-SECMARK", access_life=3600.0)
    fake.start()
    try:
        path = write_config(
            tmp_path,
            TEAM + f'[channels.bsky]\ntype = "bluesky"\nbase_url = "{fake.url}"\n'
            'handle = "tryg.test"\n' + stub_channel(tmp_path, "team"),
        )
        env = oauth_env()
        connected = subprocess.run(
            [sys.executable, "-m", "comms", "--config", str(path), "channels", "connect", "bsky"],
            input="app-pass-SECMARK\n",
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert connected.returncode == 0, connected.stderr
        monkeypatch.setenv("COMMS_SECRET_KEY", env["COMMS_SECRET_KEY"])
        settings = load_settings(path)
        fake.revoke_all()  # 400 InvalidToken, not ExpiredToken
        post = add_post(settings.database_url, channel="bsky", due=utcnow(), text="Hej")
        Daemon(settings).run_once()
        assert fake.refresh_attempts == 0
        assert fake.sessions_created == 1  # no login with a password comms does not keep
        _assert_paused_once(settings, tmp_path, "bsky", post)
    finally:
        fake.stop()


def test_x_garbage_401_refreshes_once_as_the_safe_default(tmp_path, monkeypatch):
    fake = FakeX()
    fake.oauth.access_life = 3600
    fake.start()
    try:
        env = oauth_env(fake)
        settings = _setup(tmp_path, x_channel(fake), env, "x", monkeypatch)
        challenge = 'Bearer error="' + "x" * 5000  # unterminated, far over the bound
        fake.canned.append(Response(401, b"\xff\xfe{" * 50_000, {"WWW-Authenticate": challenge}))
        post = add_post(settings.database_url, channel="x", due=utcnow(), text="Efter rod")
        Daemon(settings).run_once()
        assert get_post(settings.database_url, post).state == PostState.PUBLISHED
        assert fake.oauth.refreshes == 1
        assert fake.texts() == ["Efter rod"]
    finally:
        fake.stop()


# --- the verdicts themselves, on answers as the services send them ---------------------------


def _answer(status: int, body: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.headers.update(headers or {})
    return response


@pytest.mark.parametrize(
    ("body", "verdict"),
    [
        (
            b'{"serviceErrorCode": 65602, "message": "The token used in the request has expired"}',
            "expired",
        ),
        (b'{"serviceErrorCode": 65601, "message": "revoked by the user"}', "revoked"),
        (b'{"serviceErrorCode": 65600, "message": "Invalid access token"}', "revoked"),
        (b'{"serviceErrorCode": "65602"}', "expired"),
        (b'{"message": "The token used in the request has expired"}', "expired"),
        (b'{"status": 401}', None),
        (b"[1, 2, 3]", None),
        (b"[" * 100_000, None),  # nested past any parser's patience
        (b"\xff\xfe not json", None),
    ],
)
def test_linkedin_verdicts(body, verdict):
    assert token_answer.linkedin(_answer(401, body)) == verdict


@pytest.mark.parametrize(
    ("code", "subcode", "message", "verdict"),
    [
        (190, 463, "Session has expired", "expired"),
        (190, 460, "password changed", "revoked"),
        (190, 458, "not authorized application", "revoked"),
        (190, 467, "Invalid OAuth access token", "revoked"),
        (190, None, "Error validating access token: Session has expired", "expired"),
        (190, None, "Invalid OAuth access token", None),
        (10, None, "Permission denied", None),
    ],
)
def test_graph_verdicts(code, subcode, message, verdict):
    assert token_answer.graph(code, subcode, message) == verdict


@pytest.mark.parametrize(
    ("headers", "body", "verdict"),
    [
        (
            {
                "WWW-Authenticate": 'Bearer error="invalid_token", '
                'error_description="The access token expired"'
            },
            b"{}",
            "expired",
        ),
        (
            {
                "WWW-Authenticate": 'Bearer error="invalid_token", '
                'error_description="The access token was revoked"'
            },
            b"{}",
            "revoked",
        ),
        ({}, b'{"error": "The access token is invalid"}', "revoked"),
        ({"WWW-Authenticate": "Basic realm=x"}, b"<html>", None),
        ({"WWW-Authenticate": 'Bearer error="' + "a" * 100_000}, b"", None),
    ],
)
def test_bearer_verdicts(headers, body, verdict):
    assert token_answer.bearer(_answer(401, body, headers)) == verdict


def test_x_and_bluesky_verdicts():
    unauthorized = b'{"title": "Unauthorized", "status": 401, "detail": "Unauthorized"}'
    assert token_answer.x(_answer(401, unauthorized)) is None  # X does not say: refresh once
    revoked = b'{"error": "invalid_token", "error_description": "Token was revoked"}'
    assert token_answer.x(_answer(401, revoked)) == "revoked"
    assert token_answer.bluesky("ExpiredToken") == "expired"
    assert token_answer.bluesky("InvalidToken") == "revoked"
    assert token_answer.bluesky({"nested": "garbage"}) is None

"""Tokens comms cannot renew for ever: LinkedIn's refresh token runs out after about a year
(`refresh_token_expires_in`), and an app without refresh tokens gets access tokens that simply
end. The expiry is shown (`comms channels tokens`, the Channels page), the team gets one Danish
notice `token_warning_days` ahead naming the reconnect command, and the channel goes on
publishing until the token has really run out, only then pausing. Short lifetimes on the fake."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from comms.config import Settings, load_settings
from comms.publishing.daemon import Daemon
from comms.queue import transitions as queue
from comms.store import tokens
from comms.store.db import session_scope
from comms.store.models import ChannelState, ChannelToken, Notice, PostState, utcnow
from comms.store.sealed import sealer_from_env
from tests.channels.oauth_setup import assert_no_marker, connect_channel, oauth_env, write_config
from tests.cli import run_comms
from tests.factories import add_post, get_post, stub_channel
from tests.fakes.linkedin import FakeLinkedin

SECRET_ENV = "COMMS_TEST_LI_CLIENT_SECRET"


@pytest.fixture
def linkedin() -> Iterator[FakeLinkedin]:
    fake = FakeLinkedin(token="not-the-stored-one", client_secret="li-secret-SECMARK")
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def _connected(
    tmp_path: Path, fake: FakeLinkedin, monkeypatch, warning_days: int = 14
) -> tuple[Settings, str, dict[str, str]]:
    table = (
        f'[channels.linkedin]\ntype = "linkedin"\norganization_id = "2414183"\n'
        f'base_url = "{fake.url}"\noauth_url = "{fake.url}"\n'
        f'client_id = "{fake.client_id}"\nclient_secret_env = "{SECRET_ENV}"\n'
    )
    team = f'[notifications]\nchannel = "team"\ntoken_warning_days = {warning_days}\n'
    path = write_config(tmp_path, team + table + stub_channel(tmp_path, "team"))
    env = {**oauth_env(), SECRET_ENV: str(fake.client_secret)}
    out, err = connect_channel(path, env, "linkedin")
    assert_no_marker(out, err)
    for key in ("COMMS_SECRET_KEY", SECRET_ENV):
        monkeypatch.setenv(key, env[key])
    return load_settings(path), out, env


def _notices(tmp_path: Path) -> list[str]:
    path = tmp_path / "team.jsonl"
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def test_linkedin_refresh_token_expiry_is_stored_shown_and_noticed_once(
    tmp_path, linkedin, monkeypatch
):
    linkedin.oauth.access_life = 3600
    linkedin.oauth.refresh_life = 10 * 86400  # inside the 14 days' warning
    settings, out, env = _connected(tmp_path, linkedin, monkeypatch)
    assert "Fornyelsen gælder til " in out
    assert "comms channels connect linkedin" in out
    with session_scope(settings.database_url) as session:
        stored = tokens.load(session, sealer_from_env(), "linkedin")
    assert stored is not None
    assert stored.refresh_expires_at is not None
    assert timedelta(days=9.9) < stored.refresh_expires_at - utcnow() <= timedelta(days=10)
    local = stored.refresh_expires_at.astimezone(settings.zone)
    listing = run_comms(
        "--config", str(settings.path), "channels", "tokens", env={**env, "COLUMNS": "200"}
    )
    assert listing.returncode == 0, listing.stderr
    assert "fornyelse udløber" in listing.stdout
    assert f"{local.day}.{local.month}.{local.year}" in listing.stdout  # Danish, local date
    assert_no_marker(listing.stdout, listing.stderr)

    daemon = Daemon(settings)
    assert daemon.check_tokens() == 1
    assert daemon.check_tokens() == 0  # one notice, however often the daemon looks
    assert Daemon(settings).check_tokens() == 0  # or however many daemons
    [notice] = _notices(tmp_path)
    assert "Fornyelsestokenet for kanalen linkedin udløber" in notice
    assert "(om 9 dage)" in notice
    assert "comms channels connect linkedin" in notice
    assert_no_marker(notice)
    with session_scope(settings.database_url) as session:
        keys = session.exec(select(Notice.key).where(Notice.kind == "token-expiring")).all()
    assert keys == [f"linkedin:{local:%Y-%m-%d}"]  # what the overview lists as expiring
    post = add_post(settings.database_url, channel="linkedin", due=utcnow(), text="Stadig her")
    daemon.run_once()
    assert get_post(settings.database_url, post).state == PostState.PUBLISHED  # not paused


def test_a_refresh_token_far_from_its_end_is_not_noticed(tmp_path, linkedin, monkeypatch):
    linkedin.oauth.access_life = 3600
    linkedin.oauth.refresh_life = 365 * 86400
    settings, _out, _env = _connected(tmp_path, linkedin, monkeypatch)
    assert Daemon(settings).check_tokens() == 0
    assert _notices(tmp_path) == []


def test_a_token_comms_cannot_refresh_is_used_to_its_end_and_only_then_pauses(
    tmp_path, linkedin, monkeypatch
):
    linkedin.oauth.issue_refresh = False  # an app without refresh tokens
    linkedin.oauth.access_life = 3600
    settings, out, _env = _connected(tmp_path, linkedin, monkeypatch, warning_days=1)
    assert "det kan ikke fornyes." in out
    url = settings.database_url
    # a minute left: well inside the five minutes before the end when comms refreshes a token
    _expires_in(url, timedelta(minutes=1))
    daemon = Daemon(settings)
    assert daemon.check_tokens() == 1
    first = add_post(url, channel="linkedin", due=utcnow(), text="Før udløb")
    daemon.run_once()
    assert get_post(url, first).state == PostState.PUBLISHED  # not paused ahead of time
    with session_scope(url) as session:
        assert queue.paused_channels(session) == set()
    linkedin.oauth.expire_now()  # and now it has run out, at the service and in the store
    _expires_in(url, timedelta(seconds=-1))
    second = add_post(url, channel="linkedin", due=utcnow(), text="Efter udløb")
    daemon.run_once()
    daemon.run_once()
    assert get_post(url, second).state == PostState.QUEUED  # it waits for a person
    assert [p.shown for p in linkedin.posts] == ["Før udløb"]
    assert linkedin.oauth.refresh_attempts == 0
    with session_scope(url) as session:
        assert queue.paused_channels(session) == {"linkedin"}
        state = session.get(ChannelState, "linkedin")
        assert state is not None
        assert "dens gemte token er udløbet" in str(state.paused_reason)
    notices = _notices(tmp_path)
    assert len(notices) == 2  # the warning ahead, and the pause itself
    assert "Adgangstokenet for kanalen linkedin udløber" in notices[0]
    assert "Kanalen linkedin blev sat på pause" in notices[1]
    assert all("comms channels connect linkedin" in n for n in notices)
    assert_no_marker(*notices)


def _expires_in(url: str, left: timedelta) -> None:
    """Move the stored token's end (the clear columns the refresher reads) to `left` from now,
    as for a token connected an hour ago."""
    with session_scope(url) as session:
        session.execute(
            sa.update(ChannelToken)
            .where(col(ChannelToken.channel) == "linkedin")
            .values(expires_at=utcnow() + left, connected_at=utcnow() - timedelta(hours=1))
        )

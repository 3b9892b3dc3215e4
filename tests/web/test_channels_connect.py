"""Connecting a channel from the workspace's Channels page: an admin's button runs the same
OAuth 2.0 flow as `comms channels connect` (PKCE and state checked by the fake X), the redirect
lands on the workspace, and the page then shows the connection, its expiry and last refresh,
never a token. A callback with another state, or for another admin, is refused; one that comes
back to another workspace process is taken there, once."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import sqlalchemy as sa
from sqlmodel import select

from comms import accounts
from comms.config import Settings
from comms.store import pending, tokens
from comms.store.db import session_scope, sqlite_path
from comms.store.models import PendingAuthorisation, utcnow
from comms.store.sealed import new_key, sealer_from_env
from comms.web.connect_page import LIFETIME, NOT_YOURS
from comms.web.context import SESSION_COOKIE
from tests.factories import channel_table
from tests.fakes.oauth import MARKER
from tests.fakes.x import FakeX
from tests.web.conftest import PASSWORD, Client
from tests.web.live import comms_serve


@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    fake = FakeX(token="not-the-stored-one")
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def site(make_settings: Callable[..., Settings], fake_x: FakeX, monkeypatch) -> Settings:
    monkeypatch.setenv("COMMS_SECRET_KEY", new_key())
    monkeypatch.setenv("COMMS_TEST_X_CLIENT_SECRET", str(fake_x.oauth.client_secret))
    settings = make_settings(
        channels=channel_table(
            "x",
            "x",
            base_url=fake_x.url,
            authorize_url=f"{fake_x.url}{fake_x.oauth.authorize_path}",
            client_id=fake_x.oauth.client_id,
            client_secret_env="COMMS_TEST_X_CLIENT_SECRET",
        )
    )
    with session_scope(settings.database_url) as session:
        for name in ("admin", "admin2"):
            accounts.add_user(session, name, PASSWORD, role="admin", organisation=None, actor="t")
    return settings


def signed_in(settings: Settings, name: str) -> Client:
    browser = Client(settings)
    assert browser.sign_in(name).status_code == 303
    return browser


def _consent(admin: Client) -> str:
    """Press »Forbind« and say yes at the fake X: the callback path the browser is sent to."""
    page = admin.get("/channels").text
    assert 'action="/channels/x/connect"' in page
    assert ">Forbind<" in page
    started = admin.post("/channels/x/connect")
    assert started.status_code == 303
    consent = requests.get(started.headers["location"], allow_redirects=False, timeout=10)
    assert consent.status_code == 302
    back = urlsplit(consent.headers["Location"])
    assert back.path == "/channels/x/callback"
    return f"{back.path}?{back.query}"


def test_an_admin_connects_x_from_the_channels_page(site: Settings, fake_x: FakeX):
    admin = signed_in(site, "admin")
    done = admin.get(_consent(admin))
    assert done.status_code == 303
    page = admin.get(done.headers["location"]).text
    assert "Kanalen er forbundet" in page
    assert "forbundet</span> (OAuth 2.0) af admin" in page
    assert "Udløber:" in page
    assert "Sidst fornyet: endnu ikke" in page
    assert "Forbind igen" in page
    assert MARKER not in page
    with session_scope(site.database_url) as session:
        stored = tokens.load(session, sealer_from_env(), "x")
    assert stored is not None
    assert stored.access_token in fake_x.oauth.issued_tokens()
    token_calls = [r for r in fake_x.requests if r.path == fake_x.oauth.token_path]
    assert "code_verifier" in token_calls[0].form  # PKCE, checked by the fake


def test_a_callback_with_another_state_or_admin_is_refused(site: Settings):
    admin = signed_in(site, "admin")
    callback = _consent(admin)
    forged = callback.replace("state=", "state=x")
    assert admin.get(forged).status_code == 400
    other = signed_in(site, "admin2")
    assert other.get(callback).status_code == 400  # someone else's authorisation
    with session_scope(site.database_url) as session:
        assert tokens.rows(session) == []


def _database_bytes(settings: Settings) -> bytes:
    """The SQLite file and its write-ahead log, as a reader of the disk sees them."""
    path = sqlite_path(settings.database_url)
    assert path is not None
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_a_second_workspace_process_takes_the_callback_once(site: Settings, fake_x: FakeX):
    """Behind a load balancer (or after a restart) the service's redirect reaches another
    `comms serve` than the one the admin pressed »Forbind« on: it connects the channel, and a
    replay of the same redirect is refused by either."""
    admin = signed_in(site, "admin")
    callback = _consent(admin)
    cookies = {SESSION_COOKIE: admin.http.cookies[SESSION_COOKIE]}
    with comms_serve(site) as other:
        done = requests.get(other + callback, cookies=cookies, allow_redirects=False, timeout=30)
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/channels?ok=connected"
        replay = requests.get(other + callback, cookies=cookies, allow_redirects=False, timeout=30)
        assert replay.status_code == 400
        assert NOT_YOURS in replay.text
    again = admin.get(callback)
    assert again.status_code == 400
    assert NOT_YOURS in again.text
    with session_scope(site.database_url) as session:
        stored = tokens.load(session, sealer_from_env(), "x")
    assert stored is not None
    assert stored.access_token in fake_x.oauth.issued_tokens()


def test_an_authorisation_that_took_too_long_is_refused(site: Settings):
    admin = signed_in(site, "admin")
    callback = _consent(admin)
    with session_scope(site.database_url) as session:  # eleven minutes at the service
        later = utcnow() - timedelta(seconds=LIFETIME + 60)
        session.execute(
            sa.update(PendingAuthorisation).values(
                created_at=later, expires_at=later + timedelta(seconds=LIFETIME)
            )
        )
    late = admin.get(callback)
    assert late.status_code == 400
    assert NOT_YOURS in late.text
    with session_scope(site.database_url) as session:
        assert tokens.rows(session) == []
        assert session.exec(select(PendingAuthorisation)).all() == []


def test_the_database_holds_no_state_verifier_or_client_secret_of_a_begun_connect(
    site: Settings, fake_x: FakeX
):
    admin = signed_in(site, "admin")
    callback = _consent(admin)
    state = parse_qs(urlsplit(callback).query)["state"][0]
    on_disk = _database_bytes(site)
    with session_scope(site.database_url) as session:
        taken = pending.take(session, sealer_from_env(), kind="channel", key=state)
    assert taken is not None
    begun = json.loads(taken.payload)
    secrets = [state, begun["pkce"]["verifier"], str(fake_x.oauth.client_secret)]
    assert all(len(secret) > 20 for secret in secrets)
    for secret in secrets:
        assert secret.encode() not in on_disk

"""The channels page through TestClient: admins only, status and resume, secrets set or not but
never their values, and the adapter's check with the token's expiry against a fake Graph API."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from comms import accounts
from comms.config import Settings
from comms.queue import transitions as queue
from comms.store.db import session_scope
from comms.store.models import AuditEvent, ChannelState, Post
from tests.factories import channel_table
from tests.fakes.graph import GraphFake
from tests.fakes.webhook import FakeRelay
from tests.web.conftest import PASSWORD, Client

TOKEN = "EAAB-marker-5d1c-never-print-me"
X_SECRET = "x-secret-value-3b9a-never-print-me"


@pytest.fixture(scope="module")
def graph() -> Iterator[GraphFake]:
    with GraphFake(TOKEN) as fake:
        yield fake


@pytest.fixture
def admin_site(
    make_settings: Callable[..., Settings], graph: GraphFake, monkeypatch, tmp_path
) -> Settings:
    """A kommune Facebook page on the fake Graph API (token set), an X channel (secret set)
    and one whose secret is missing; an admin, an approver and a viewer."""
    graph.reset()
    monkeypatch.setenv("COMMS_TEST_PAGE_TOKEN", TOKEN)
    monkeypatch.setenv("COMMS_TEST_X_SECRET", X_SECRET)
    monkeypatch.delenv("COMMS_TEST_MISSING", raising=False)
    kommune = {"organisation": "kommune"}
    settings = make_settings(
        channels="\n".join(
            (
                channel_table("hjemmeside", "site", path=str(tmp_path / "site"), **kommune),
                channel_table(
                    "kommune-facebook",
                    "facebook",
                    page_id=graph.page_id,
                    token_env="COMMS_TEST_PAGE_TOKEN",
                    base_url=f"{graph.url}/v24.0",
                    timeout_seconds=2,
                    **kommune,
                ),
                channel_table("kommune-x", "x", token_env="COMMS_TEST_X_SECRET", **kommune),
                channel_table(
                    "politi-facebook",
                    "facebook",
                    page_id="2",
                    token_env="COMMS_TEST_MISSING",
                    organisation="politi",
                ),
            )
        )
    )
    with session_scope(settings.database_url) as session:
        for name, role in (("admin", "admin"), ("anna", "approver"), ("vera", "viewer")):
            accounts.add_user(session, name, PASSWORD, role=role, organisation=None, actor="t")
    return settings


def signed_in(settings: Settings, name: str) -> Client:
    browser = Client(settings)
    assert browser.sign_in(name).status_code == 303
    return browser


def row(page: str, channel: str) -> str:
    found = re.search(rf'<tr data-channel="{re.escape(channel)}">.*?</tr>', page, re.S)
    assert found is not None, channel
    return found.group(0)


def test_only_admins_see_channels(admin_site: Settings):
    for name in ("anna", "vera"):
        person = signed_in(admin_site, name)
        assert person.get("/channels").status_code == 403, name
        assert 'href="/channels"' not in person.get("/").text
        assert person.post("/channels/hjemmeside/check").status_code == 403
    admin = signed_in(admin_site, "admin")
    assert 'href="/channels"' in admin.get("/").text
    assert admin.get("/channels").status_code == 200


def test_each_channel_shows_type_organisation_secrets_and_last_publish(admin_site: Settings):
    published = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
    with session_scope(admin_site.database_url) as session:
        session.add(
            Post(
                channel="hjemmeside",
                text="Udgivet",
                scheduled_at=published - timedelta(minutes=1),
                published_at=published,
                state="published",
            )
        )
    page = signed_in(admin_site, "admin").get("/channels").text
    assert "Hjemmeside" in row(page, "hjemmeside")
    assert "2. marts 2026" in row(page, "hjemmeside")  # 10.15 in Copenhagen
    x_row = row(page, "kommune-x")
    assert "COMMS_TEST_X_SECRET" in x_row
    assert "ikke sat" not in x_row
    missing = row(page, "politi-facebook")
    assert "COMMS_TEST_MISSING" in missing
    assert "ikke sat" in missing
    assert "politi" in missing
    assert X_SECRET not in page
    assert TOKEN not in page


def test_a_paused_channel_shows_its_reason_and_resumes(admin_site: Settings):
    with session_scope(admin_site.database_url) as session:
        queue.pause_channel(session, "kommune-x", "adgangen blev afvist (401)")
    admin = signed_in(admin_site, "admin")
    page = admin.get("/channels").text
    paused = row(page, "kommune-x")
    assert "på pause" in paused
    assert "adgangen blev afvist (401)" in paused
    assert 'action="/channels/kommune-x/resume"' in paused
    response = admin.post("/channels/kommune-x/resume")
    assert response.status_code == 303
    assert "Kanalen er genoptaget" in admin.get(response.headers["location"]).text
    with session_scope(admin_site.database_url) as session:
        state = session.get(ChannelState, "kommune-x")
        assert state is not None
        assert not state.paused
        actors = session.exec(
            sa.select(AuditEvent.actor).where(AuditEvent.action == "resume-channel")
        ).all()
    assert [tuple(a) for a in actors] == [("admin",)]
    assert "på pause" not in row(admin.get("/channels").text, "kommune-x")


def pressed_check(settings: Settings, name: str) -> tuple[Client, Any, str]:
    """An admin presses "check" on channel `name`: the admin, the answer and that row in it."""
    admin = signed_in(settings, "admin")
    admin.get("/channels")
    answer = admin.post(f"/channels/{name}/check")
    assert answer.status_code == 200
    return admin, answer, row(answer.text, name)


def test_check_shows_the_token_expiry_and_never_the_token(admin_site: Settings, graph):
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=20)
    graph.info.expires_at = int(expires.timestamp())
    graph.info.data_access_expires_at = int((expires + timedelta(days=60)).timestamp())
    _, checked, result = pressed_check(admin_site, "kommune-facebook")
    assert "Virker" in result
    assert "Virker ikke" not in result
    assert "Adgangen udløber" in result
    assert re.search(r"\((19|20) dage\)", result)
    assert TOKEN not in checked.text
    assert graph.posts == []  # checking never posts
    assert "Adgangen udløber" not in row(checked.text, "hjemmeside")  # only the one asked


def test_a_failing_check_says_so_without_the_secret(admin_site: Settings):
    admin, _, result = pressed_check(admin_site, "politi-facebook")
    assert "Virker ikke" in result
    assert "COMMS_TEST_MISSING" in result
    site = admin.post("/channels/hjemmeside/check")
    assert "Virker" in row(site.text, "hjemmeside")
    assert admin.post("/channels/ukendt/check").status_code == 404


# --- a webhook's relay URL is a secret: at most https://host/… of it is shown ----------------

HOOK_SECRET = "hook-signing-secret-77d1-never-print-me"


@pytest.fixture(scope="module")
def relay() -> Iterator[FakeRelay]:
    with FakeRelay(HOOK_SECRET) as fake:
        yield fake


@pytest.fixture
def hook_site(make_settings: Callable[..., Settings], relay: FakeRelay, monkeypatch) -> Settings:
    """A webhook on the fake relay (token in its path) and one whose relay is not there (token
    in path and query): what an admin sees of either must not hold the token."""
    monkeypatch.setenv("COMMS_TEST_HOOK_SECRET", HOOK_SECRET)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    settings = make_settings(
        channels="\n".join(
            (
                channel_table(
                    "intranet", "webhook", url=relay.hook_url, secret_env="COMMS_TEST_HOOK_SECRET"
                ),
                channel_table(
                    "teams",
                    "webhook",
                    url=f"http://127.0.0.1:{closed}/webhookb2/{DEAD_TOKEN}?sig={DEAD_SIG}",
                    secret_env="COMMS_TEST_HOOK_SECRET",
                    timeout_seconds=1,
                ),
            )
        )
    )
    with session_scope(settings.database_url) as session:
        accounts.add_user(session, "admin", PASSWORD, role="admin", organisation=None, actor="t")
    return settings


DEAD_TOKEN = "a1b2c3d4-0000-4e5f-9999-Teams0Token"
DEAD_SIG = "Zm9vYmFyLXNpZ25hdHVyZQ"


def test_a_webhook_url_is_never_shown_whole(hook_site: Settings, relay: FakeRelay):
    listing = signed_in(hook_site, "admin").get("/channels").text
    _, answered, working = pressed_check(hook_site, "intranet")
    _, refused, dead = pressed_check(hook_site, "teams")
    assert "Virker" in working
    assert "Virker ikke" not in working
    assert f"{relay.url}/…" in working  # the relay is named by its host only
    assert "Virker ikke" in dead
    assert "http://127.0.0.1:" in dead
    assert "/…" in dead
    for page in (listing, answered.text, refused.text):
        assert relay.path not in page
        assert "T0K3N-in-path" not in page
        assert DEAD_TOKEN not in page
        assert DEAD_SIG not in page
        assert "webhookb2" not in page
        assert HOOK_SECRET not in page


def test_the_page_masks_a_relay_url_even_if_an_adapter_echoes_it(hook_site: Settings):
    """The page's own net under the adapter's redaction: a message holding the whole URL (in any
    of the forms an error may quote it) keeps nothing of its token."""
    from comms.web.channels_page import blank_secrets

    channel = hook_site.channels["teams"]
    url = str(channel.get("url"))
    quoted = url.replace("?", "%3F").replace("=", "%3D")
    shown = blank_secrets(channel, f"POST {url} failed; retried {quoted}; token {DEAD_TOKEN}")
    assert DEAD_TOKEN not in shown
    assert DEAD_SIG not in shown
    assert "webhookb2" not in shown
    assert shown.startswith("POST ")


def test_a_connected_channel_shows_when_its_refresh_token_runs_out(
    admin_site: Settings, monkeypatch
):
    """LinkedIn's refresh token ends (refresh_token_expires_in): the page says when, in
    Copenhagen time, beside the access token's expiry, and never shows a token."""
    from comms.store import tokens
    from comms.store.sealed import new_key, sealer_from_env

    monkeypatch.setenv("COMMS_SECRET_KEY", new_key())
    ends = datetime(2027, 11, 30, 23, 30, tzinfo=UTC)  # 1 December 2027 at 00.30 in Denmark
    secrets = {
        "access_token": "access-marker-never-shown",
        "refresh_token": "refresh-marker-never-shown",
        "refresh_expires_at": ends.isoformat(),
    }
    with session_scope(admin_site.database_url) as session:
        tokens.save(
            session,
            sealer_from_env(),
            "kommune-x",
            kind="oauth2",
            secrets=secrets,
            expires_at=ends - timedelta(days=300),
            actor="admin",
        )
    page = signed_in(admin_site, "admin").get("/channels").text
    x_row = row(page, "kommune-x")
    assert "Fornyelsen udløber: 1. december 2027 kl. 0.30" in x_row
    assert "marker-never-shown" not in page
    monkeypatch.delenv("COMMS_SECRET_KEY")  # without the key: the rest still shows
    page = signed_in(admin_site, "admin").get("/channels").text
    assert "Fornyelsen udløber" not in row(page, "kommune-x")
    assert "Udløber:" in row(page, "kommune-x")

"""One campaign published through every adapter against its fake service, by the real daemon
process; `comms channels check` on all of them; and every secret, set to a unique marker, found
nowhere it must not be: not in a log line, an error message, the database or a report."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import textwrap
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.cli import run_comms
from tests.fakes.bluesky import FakeBluesky
from tests.fakes.graph import GraphFake
from tests.fakes.linkedin import FakeLinkedin
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.server import Response
from tests.fakes.webhook import FakeRelay
from tests.fakes.wordpress import FakeWordPress
from tests.fakes.x import FakeX

pytestmark = pytest.mark.slow  # real servers, browsers, many processes or long loops

CPH = ZoneInfo("Europe/Copenhagen")
ROOT = Path(__file__).resolve().parent.parent
MARK = uuid.uuid4().hex[:10]
SECRETS = {
    name: f"SECRET{MARK}{name}"
    for name in ("FB", "LI", "X", "MASTODON", "BSKY", "WP", "SMTP", "HOOK")
}


class EchoingX(FakeX):
    """An X whose expiry error repeats the token, so the adapter must scrub it."""

    def expired_response(self) -> Response:
        return Response(
            401,
            {
                "title": "Unauthorized",
                "detail": f"token {self.token} expired",
                "type": "about:blank",
                "status": 401,
            },
        )


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content)
        return "250 2.0.0 queued"


def smtp_auth(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.password == SECRETS["SMTP"].encode()
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def services():
    fakes = {
        "graph": GraphFake(token=SECRETS["FB"]),
        "linkedin": FakeLinkedin(token=SECRETS["LI"]),
        "x": EchoingX(token=SECRETS["X"]),
        "mastodon": FakeMastodon(token=SECRETS["MASTODON"]),
        "bluesky": FakeBluesky(password=SECRETS["BSKY"]),
        "wordpress": FakeWordPress(password=SECRETS["WP"]),
        "relay": FakeRelay(SECRETS["HOOK"]),
    }
    for fake in fakes.values():
        fake.start()
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    smtp = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=smtp_auth, auth_require_tls=False
    )
    smtp.start()
    fakes["smtp_port"] = port
    fakes["inbox"] = inbox
    yield fakes
    smtp.stop()
    for fake in fakes.values():
        if hasattr(fake, "stop") and not isinstance(fake, int):
            fake.stop()


def write_project(folder: Path, fakes) -> dict[str, str]:
    graph, wp, relay = fakes["graph"], fakes["wordpress"], fakes["relay"]
    (folder / "comms.toml").write_text(
        textwrap.dedent(f"""
        timezone = "Europe/Copenhagen"
        require_approval = false
        [database]
        url = "sqlite:///comms.db"
        [daemon]
        backoff_base_seconds = 1
        backoff_cap_seconds = 1
        [channels.hjemmeside]
        type = "site"
        path = "site"
        [channels.facebook]
        type = "facebook"
        page_id = "{graph.page_id}"
        token_env = "COMMS_E2E_FB"
        base_url = "{graph.url}/v24.0"
        timeout_seconds = 5
        [channels.instagram]
        type = "instagram"
        ig_user_id = "{graph.ig_user_id}"
        token_env = "COMMS_E2E_FB"
        base_url = "{graph.url}/v24.0"
        media_base_url = "https://www.aalborg.dk/tryg/media/"
        poll_seconds = 0.05
        timeout_seconds = 5
        [channels.linkedin]
        type = "linkedin"
        organization_id = "2414183"
        token_env = "COMMS_E2E_LI"
        base_url = "{fakes["linkedin"].url}"
        oauth_url = "{fakes["linkedin"].url}"
        timeout_seconds = 5
        [channels.x]
        type = "x"
        token_env = "COMMS_E2E_X"
        base_url = "{fakes["x"].url}"
        timeout_seconds = 5
        [channels.mastodon]
        type = "mastodon"
        token_env = "COMMS_E2E_MASTODON"
        base_url = "{fakes["mastodon"].url}"
        timeout_seconds = 5
        [channels.bluesky]
        type = "bluesky"
        handle = "{fakes["bluesky"].handle}"
        password_env = "COMMS_E2E_BSKY"
        base_url = "{fakes["bluesky"].url}"
        timeout_seconds = 5
        [channels.wordpress]
        type = "wordpress"
        base_url = "{wp.url}/wp-json"
        username = "{wp.username}"
        password_env = "COMMS_E2E_WP"
        timeout_seconds = 5
        [channels.nyhedsbrev]
        type = "email"
        host = "127.0.0.1"
        port = {fakes["smtp_port"]}
        starttls = false
        username = "tryg"
        password_env = "COMMS_E2E_SMTP"
        from = "Tryg Aalborg <tryg@aalborg.dk>"
        to = ["nyhedsbrev@aalborg.dk"]
        [channels.intranet]
        type = "webhook"
        url = "{relay.url}{relay.path}"
        secret_env = "COMMS_E2E_HOOK"
        """),
        encoding="utf-8",
    )
    today = datetime.now(CPH)
    due = today - timedelta(minutes=1)
    (folder / "campaigns" / "images").mkdir(parents=True)
    (folder / "campaigns" / "images" / "refleks.png").write_bytes(
        (ROOT / "campaigns" / "images").glob("*.png").__next__().read_bytes()
    )
    channels = [
        "hjemmeside",
        "facebook",
        "instagram",
        "linkedin",
        "x",
        "mastodon",
        "bluesky",
        "wordpress",
        "nyhedsbrev",
        "intranet",
    ]
    (folder / "campaigns" / "refleks.toml").write_text(
        textwrap.dedent(f"""
        title = "Refleksdag"
        focus_area = "Tryg trafik"
        [variables]
        link = "https://www.aalborg.dk/refleks"
        [event]
        date = {{ type = "explicit", dates = {{ {due.year} = [{due.date().isoformat()}] }} }}
        [[steps]]
        name = "dagen"
        offset_days = 0
        time = "{due:%H:%M}"
        channels = {json.dumps(channels)}
        audience = "borgere"
        template = "refleks"
        image = "images/refleks.png"
        alt = "En fodgænger med refleksvest lyser op i billygterne på en mørk vej"
        """),
        encoding="utf-8",
    )
    (folder / "templates").mkdir()
    (folder / "templates" / "refleks.j2").write_text(
        "I dag er det refleksdag: bliv set i mørket, {{ event.date | dato }}. {{ link }}",
        encoding="utf-8",
    )
    env = {**os.environ, "COMMS_USER": "test", "COMMS_CONFIG": str(folder / "comms.toml")}
    for name, value in SECRETS.items():
        env[f"COMMS_E2E_{name}"] = value
    return env


def comms(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_comms(*args, cwd=folder, env=env, timeout=180)


def test_a_campaign_through_every_adapter_and_no_secret_anywhere(services, tmp_path):
    if datetime.now(CPH).hour == 0 and datetime.now(CPH).minute < 2:
        pytest.skip("the one-minute-ago step would fall on yesterday")
    env = write_project(tmp_path, services)
    outputs: list[str] = []

    def run(*args: str, code: int = 0) -> str:
        result = comms(tmp_path, env, *args)
        outputs.extend([result.stdout, result.stderr])
        assert result.returncode == code, result.stderr + result.stdout
        return result.stdout + result.stderr

    checked = run("channels", "check")
    assert checked.count(" ok ") + checked.count("│ ok") >= 10, checked
    run("plan", "--year", str(datetime.now(CPH).year))

    services["x"].fail_next("expired")  # X refuses the first call with the token in its body
    daemon = run("daemon", "--once", "--log-format", "json")
    assert "published 9," in daemon
    states = {
        p["channel"]: p["state"] for p in json.loads(run("queue", "list", "--format", "json"))
    }
    assert states.pop("x") == "failed"
    assert set(states.values()) == {"published"}, states

    graph = services["graph"]
    assert len(graph.posts) == 1
    assert len(graph.media) == 1
    assert len(services["linkedin"].posts) == 1
    assert len(services["mastodon"].statuses) == 1
    assert len(services["bluesky"].records) == 1
    assert len(services["wordpress"].posts) == 1
    assert len(services["relay"].deliveries) == 1
    assert len(services["inbox"].messages) == 1
    assert len(services["x"].tweets) == 0
    feed = feedparser.parse(str(tmp_path / "site" / "feed.xml"))
    assert [entry.title for entry in feed.entries] == ["Refleksdag"]

    services["x"].fail_next("expired")
    assert "FEJL" in run("channels", "check", "x", code=1)  # and the check says so
    run("report", "--from", "2000-01-01", "--to", "2099-12-31", "--format", "json")
    run("report", "--from", "2000-01-01", "--to", "2099-12-31", "--format", "md")
    run("queue", "list", "--state", "failed")
    run("reconcile")

    haystacks = {
        "output": "\n".join(outputs).encode(),
        "database": b"".join(p.read_bytes() for p in tmp_path.glob("comms.db*")),
        "site": b"".join(p.read_bytes() for p in (tmp_path / "site").rglob("*") if p.is_file()),
    }
    for where, data in haystacks.items():
        for name, secret in SECRETS.items():
            assert secret.encode() not in data, f"the {name} secret leaked into the {where}"
    assert "COMMS_E2E_X" in "\n".join(outputs)  # the error names the variable to renew

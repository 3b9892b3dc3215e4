"""A new user's first day, end to end, as separate `comms` processes on a real SQLite file:
their own config, their own campaign and templates, validate, preview, plan, approve, the
daemon publishing to the site (its feed read by feedparser), an import and the report."""

from __future__ import annotations

import json
import subprocess
import textwrap
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import pytest

from tests.cli import run_comms

pytestmark = pytest.mark.slow  # real servers, browsers, many processes or long loops

CPH = ZoneInfo("Europe/Copenhagen")


def comms(folder: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = run_comms(
        *args,
        cwd=folder,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "COMMS_USER": "mette", "HOME": str(folder)},
    )
    if ok:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def test_first_day(tmp_path):
    now = datetime.now(CPH)
    soon = now - timedelta(minutes=2)  # due already, well inside the grace window
    write(
        tmp_path / "comms.toml",
        """
        timezone = "Europe/Copenhagen"
        [database]
        url = "sqlite:///data/comms.db"
        [lint]
        brand = { "Tryk Aalborg" = "Tryg Aalborg" }
        [utm]
        domains = ["aalborg.dk"]
        medium = "social"
        [channels.nyheder]
        type = "site"
        path = "public"
        base_url = "https://tryg.example.dk/"
        [channels.politi-fb]
        type = "facebook"
        page_id = "42"
        token_env = "COMMS_POLITI_FB"
        """,
    )
    (tmp_path / "data").mkdir()
    write(
        tmp_path / "campaigns" / "cykellygter.toml",
        f"""
        title = "Cykellygter"
        focus_area = "Tryg trafik"
        [variables]
        link = "https://www.aalborg.dk/cykellygter"
        [event]
        date = {{ type = "explicit", dates = {{ {now.year} = [{now.date().isoformat()}] }} }}
        [[steps]]
        name = "i-dag"
        offset_days = 0
        time = "{soon:%H:%M}"
        channels = ["nyheder", "politi-fb"]
        audience = "borgere"
        template = "cykellygter/dagen"
        title = "Tænd lyset – {{{{ event.date | dato }}}}"
        """,
    )
    write(
        tmp_path / "templates" / "cykellygter" / "_base.j2",
        """
        {% block tekst %}{% endblock %}
        Læs mere: {{ link }}
        """,
    )
    write(
        tmp_path / "templates" / "cykellygter" / "dagen.j2",
        """
        {% extends "cykellygter/_base.j2" %}
        {% block tekst %}Det er {{ event.date | ugedag }}, og det bliver mørkt kl. 16.{% endblock %}
        """,
    )
    if soon.date() != now.date():  # just after midnight: the step would be yesterday
        return

    assert comms(tmp_path, "campaigns", "validate", "--year", str(now.year)).stdout.startswith(
        "ok: 1 campaign(s)"
    )
    preview = comms(tmp_path, "campaigns", "preview", "cykellygter", "--year", str(now.year))
    assert "politi-fb" in preview.stdout
    assert "utm_source=nyheder" in preview.stdout

    planned = comms(tmp_path, "plan", "--year", str(now.year))
    assert "2 post(s) were added" in planned.stdout
    drafts = comms(tmp_path, "queue", "list", "--state", "draft", "--format", "json").stdout
    assert drafts.count('"state": "draft"') == 2  # nothing goes out before it is approved
    # (a draft the daemon finds unapproved at its time expires: approve before the time)
    assert (
        "approved 2"
        in comms(tmp_path, "approve", "--campaign", "cykellygter", "--year", str(now.year)).stdout
    )
    daemon = comms(tmp_path, "daemon", "--once")
    assert "published 1," in daemon.stderr  # the site; Facebook waits for its token
    assert "$COMMS_POLITI_FB is not set" in daemon.stderr

    listed = json.loads(comms(tmp_path, "queue", "list", "--format", "json").stdout)
    states = {post["channel"]: post["state"] for post in listed}
    assert states == {"nyheder": "published", "politi-fb": "queued"}

    feed = feedparser.parse(str(tmp_path / "public" / "feed.xml"))
    assert not feed.bozo
    [entry] = feed.entries
    assert entry.title.startswith("Tænd lyset – ")
    assert entry.link.startswith("https://tryg.example.dk/")

    shown = comms(
        tmp_path, "queue", "show", str(next(p["id"] for p in listed if p["channel"] == "nyheder"))
    )
    assert "mette" in shown.stdout  # who approved it, in the history

    write(
        tmp_path / "facebook.csv",
        """
        channel,published_at,title,url,reach,impressions,engagements
        politi-fb,2018-01-14T10:00:00+01:00,Pas på hinanden,https://facebook.com/p/1,3555,,
        politi-fb,2018-12-20 19:30,Julefrokost,https://facebook.com/p/2,25056,30000,800
        """,
    )
    assert "Importerede 2 opslag" in comms(tmp_path, "import", "facebook.csv").stdout
    report = json.loads(
        comms(
            tmp_path, "report", "--from", "2018-01-14", "--to", "2019-01-07", "--format", "json"
        ).stdout
    )
    assert report["channels"]["politi-fb"]["reach"] == {
        "known": 2,
        "min": 3555,
        "max": 25056,
        "median": 14305.5,
        "total": 28611,
    }
    assert report["summary"] == (
        "Fra den 14. januar 2018 til den 7. januar 2019 har der "
        "været 2 opslag på Facebook, som har nået fra 3.555 til "
        "25.056 personer."
    )

    bad = comms(tmp_path, "import", "facebook.csv", "--config", "nope.toml", ok=False)
    assert bad.returncode == 1
    assert "nope.toml: config file not found" in bad.stderr

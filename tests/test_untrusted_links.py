"""Links from untrusted places: only http(s) addresses are ever written as links.

A channel's answer, a campaign file and an import all end up as `href` in the report, the
calendar and the workspace; a `javascript:` address there would be a script one click away.
The generated HTML files carry their own Content-Security-Policy, and Markdown cells are text.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markupsafe import escape
from sqlmodel import select

from comms.channels.base import Receipt
from comms.config import Settings
from comms.content.links import MAX_LINK, safe_link
from comms.queue import transitions as queue
from comms.report.calendar import calendar_entries, to_html, to_ics
from comms.report.figures import build_report
from comms.report.html import FILE_CSP, render_html
from comms.report.render import markdown_text, to_markdown
from comms.store.db import session_scope
from comms.store.models import AuditEvent, MetricSample, Post, PostState, utcnow
from tests.cli import comms_cli
from tests.factories import add_post, get_post

HOSTILE = [
    "javascript:alert(document.cookie)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "//evil.example/x",
    "https://user:secret@evil.example/",
    "https://evil.example\\@aalborg.dk/",
    "http://",
    "https:///nohost",
    "https://a b.dk/",
    "https://aalborg.dk/\x00",
    "https://aalborg.dk:port/",
    "https://aalborg.dk/" + "a" * MAX_LINK,
]


@pytest.fixture
def site(make_settings) -> Settings:
    return make_settings()


# --- the one rule ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", HOSTILE)
def test_hostile_addresses_are_no_links(url: str):
    assert safe_link(url) is None


@pytest.mark.parametrize(
    "url",
    ["https://www.aalborg.dk/karneval?utm_source=x#top", "http://tryg.aalborg.dk", "HTTPS://A.DK/"],
)
def test_web_addresses_are_links(url: str):
    assert safe_link(url) == url


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), st.from_regex(r"\A[a-zA-Z]{0,12}:[ -~]{0,40}\Z")))
def test_whatever_passes_is_an_http_address_with_a_host(text: str):
    link = safe_link(text)
    if link is not None:
        parts = urlsplit(link)
        assert parts.scheme.lower() in ("http", "https")
        assert parts.hostname
        assert parts.username is None
        assert parts.password is None
        assert not any(ord(c) < 0x21 or ord(c) == 0x7F for c in link)


# --- the channel's answer -------------------------------------------------------------------


def test_a_receipt_url_that_is_no_web_address_is_not_stored(site: Settings):
    url = site.database_url
    post_id = add_post(url)
    with session_scope(url) as session:
        [claim] = queue.claim_due(
            session,
            worker="w1",
            now=utcnow(),
            channels={"stub"},
            limit=1,
            lease=timedelta(minutes=5),
        )
    receipt = Receipt(external_id="123", url="javascript:alert(document.cookie)")
    with session_scope(url) as session:
        assert queue.record_success(session, claim, receipt, now=utcnow())
    post = get_post(url, post_id)
    assert post.state == PostState.PUBLISHED
    assert post.external_id == "123"
    assert post.external_url is None
    with session_scope(url) as session:
        [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "publish")).all()
    assert "javascript" not in (event.detail or "")


# --- what the HTML files write --------------------------------------------------------------


def _published(
    settings: Settings, *, title: str, external_url: str, link: str | None = None
) -> int:
    """A published post as a service (or an older comms) left it: the URL stored as it came."""
    when = datetime(2026, 3, 2, 10, tzinfo=UTC)
    with session_scope(settings.database_url) as session:
        post = Post(
            channel="stub",
            state=PostState.PUBLISHED,
            scheduled_at=when,
            published_at=when,
            title=title,
            text="Hej",
            external_url=external_url,
            link=link,
        )
        session.add(post)
        session.flush()
        session.add(MetricSample(post_id=post.id, reach=500, impressions=900))
        return int(post.id or 0)


def _report(settings: Settings):
    return build_report(
        settings.database_url,
        start=date(2026, 3, 1),
        end=date(2026, 3, 31),
        zone=settings.zone,
        channel_types={"stub": "stub"},
    )


def test_report_and_calendar_show_a_hostile_stored_url_as_no_link(site: Settings):
    _published(site, title="Ondt", external_url="javascript:alert(1)", link="data:text/html,x")
    _published(site, title="Godt", external_url="https://www.facebook.com/1_2")
    html = render_html(_report(site), [])
    entries = calendar_entries(site.database_url, year=2026, zone=ZoneInfo("Europe/Copenhagen"))
    page = to_html(entries, year=2026, zone=ZoneInfo("Europe/Copenhagen"))
    ics = to_ics(entries, year=2026, zone=ZoneInfo("Europe/Copenhagen")).decode()
    for document in (html, page):
        hrefs = re.findall(r'href="([^"]*)"', document)
        assert hrefs == ["https://www.facebook.com/1_2"]
        policy = escape(FILE_CSP)
        assert f'<meta http-equiv="Content-Security-Policy" content="{policy}">' in document
    assert "Ondt" in html
    assert "Ondt" in page
    assert "javascript" not in ics
    assert "data:text" not in ics
    assert "URL:https://www.facebook.com/1_2" in ics


@pytest.mark.slow
def test_the_files_render_in_chromium_without_a_policy_violation(site: Settings, tmp_path: Path):
    """The policy is what the files need: styles apply, the chart shows, nothing is refused."""
    from playwright.sync_api import sync_playwright

    from comms.report.charts import build_charts
    from comms.report.figures import post_points
    from tests.headless import CHROMIUM_ARGS, chromium

    _published(site, title="Godt", external_url="https://www.facebook.com/1_2")
    report = _report(site)
    points = post_points(site.database_url, start=report.start, end=report.end, zone=site.zone)
    zone = ZoneInfo("Europe/Copenhagen")
    files = {
        "rapport.html": render_html(report, build_charts(report, points)),
        "kalender.html": to_html(
            calendar_entries(site.database_url, year=2026, zone=zone), year=2026, zone=zone
        ),
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        for name, html in files.items():
            path = tmp_path / name
            path.write_text(html, encoding="utf-8")
            page = browser.new_page()
            messages: list[str] = []
            page.on("console", lambda m, messages=messages: messages.append(m.text))
            page.add_init_script(
                "window.__violations = [];"
                "document.addEventListener('securitypolicyviolation',"
                " e => window.__violations.push(e.violatedDirective));"
            )
            page.goto(path.as_uri())
            assert page.evaluate("window.__violations") == []
            assert messages == []
            assert page.eval_on_selector("h1", "e => getComputedStyle(e).fontSize") == "26px"
            if name == "rapport.html":
                widths = page.eval_on_selector_all("figure img", "l => l.map(i => i.naturalWidth)")
                assert widths
                assert all(w > 0 for w in widths)
            page.close()
        browser.close()


# --- campaign files and imports -------------------------------------------------------------


def test_a_campaign_link_that_is_no_web_address_is_an_error_at_its_line(project: Path):
    path = project / "campaigns" / "karneval.toml"
    text = path.read_text(encoding="utf-8")
    first = 'link = "https://tryg.aalborg.dk/karneval/foraeldre"'
    assert first in text
    path.write_text(text.replace(first, 'link = "javascript:alert(1)"'), encoding="utf-8")
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "javascript" in t)
    result = CliRunner().invoke(comms_cli(), ["campaigns", "validate"])
    assert result.exit_code != 0
    assert f"karneval.toml:{line}: link = 'javascript:alert(1)' cannot be a link" in result.output


def test_a_campaign_variable_link_is_checked_too(project: Path):
    path = project / "campaigns" / "karneval.toml"
    text = path.read_text(encoding="utf-8")
    first = 'link = "https://tryg.aalborg.dk/karneval"'
    path.write_text(text.replace(first, 'link = "https://anne:pw@tryg.aalborg.dk/"'), "utf-8")
    result = CliRunner().invoke(comms_cli(), ["campaigns", "validate"])
    assert result.exit_code != 0
    assert "karneval.toml:14: link = 'https://anne:pw@tryg.aalborg.dk/' cannot be a link" in (
        result.output
    )
    assert "user name or password" in result.output


@pytest.mark.parametrize("bad", ["javascript:alert(1)", "https://u:p@evil.example/"])
def test_an_import_url_that_is_no_web_address_is_a_row_error(
    make_settings, tmp_path: Path, bad: str
):
    settings = make_settings()
    path = tmp_path / "posts.csv"
    path.write_text(
        "channel,published_at,title,url,reach,impressions,engagements\n"
        "facebook,2019-01-14 10:00,A,https://www.facebook.com/1,5,,\n"
        f"facebook,2019-01-15 10:00,B,{bad},5,,\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(comms_cli(), ["--config", str(settings.path), "import", str(path)])
    assert result.exit_code == 1
    assert f"{path}:3: url {bad!r} er ikke en webadresse" in result.output
    why = "kun adresser med http://" if bad.startswith("javascript") else "et brugernavn eller"
    assert why in result.output  # the reason in Danish too, not only the frame
    with session_scope(settings.database_url) as session:
        assert session.exec(select(Post)).all() == []


# --- Markdown -------------------------------------------------------------------------------

_MARKUP = {
    "link_open",
    "image",
    "html_inline",
    "html_block",
    "em_open",
    "strong_open",
    "code_inline",
    "s_open",
}


def _cell_tokens(cell: str) -> list:
    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    tokens = md.parse(f"| Navn | Tal |\n|---|---:|\n| {cell} | 1 |\n")
    inline = [t for t in tokens if t.type == "inline"]
    assert len(inline) == 4, cell  # two headings and two cells: the row kept its shape
    return inline[2].children or []


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("[]()<>*_`#|!~&\\:/ah ;.-=\"'\n"))) | st.text())
def test_no_text_in_a_markdown_cell_is_markup(text: str):
    children = _cell_tokens(markdown_text(text))
    assert not {child.type for child in children} & _MARKUP
    shown = "".join(c.content for c in children if c.type == "text")
    assert shown == " ".join(text.split()).replace("\x00", "\ufffd")  # as CommonMark says


def test_a_hostile_post_title_in_the_markdown_report_is_text(site: Settings):
    title = "[klik](javascript:alert(1)) <img src=x onerror=alert(1)> **fed** | kolonne"
    _published(site, title=title, external_url="https://www.facebook.com/1_2")
    markdown = to_markdown(_report(site))
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    cells = [t for t in tokens if t.type == "inline" and "klik" in t.content]
    assert len(cells) == 1
    assert {child.type for child in cells[0].children or []} == {"text"}
    assert "".join(child.content for child in cells[0].children or []) == title


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["https://", "http://", "javascript:", "data:", "aalborg.dk", "@", ":", "/", " ", "x"]
        )
        | st.text(max_size=6),
        max_size=12,
    ).map("".join)
)
def test_linkify_writes_only_web_addresses_as_links(text: str):
    from comms.content.text import linkify

    for href in re.findall(r'href="([^"]*)"', str(linkify(text))):
        address = html.unescape(href)
        assert safe_link(address) == address

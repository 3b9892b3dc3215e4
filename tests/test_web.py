"""`comms serve` and the HTML documents, end to end in headless Chromium (Debian's, via Playwright).

The routing is tested without a socket first; then a real server on 127.0.0.1 (port 0) is driven
by the browser: the queue, a post's preview, the calendar and the report, each with a screenshot
that must show a rendered page. Without chromium the browser tests are skipped with a loud
reason on a developer's machine, and fail in CI (CI=true), where .ci/run installs it.
"""

from __future__ import annotations

import http.client
import importlib.util
import io
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from comms.config import Settings
from comms.store.db import session_scope
from comms.store.models import Attempt, Post
from comms.web import WebView, make_server
from tests.headless import CHROMIUM, CHROMIUM_ARGS
from tests.seed import CHANNELS_TOML, seed_history, seed_planned

IMAGE = Path(__file__).resolve().parent.parent / "campaigns" / "images" / "karneval.png"


@pytest.fixture
def site(make_settings) -> tuple[Settings, int]:
    """A database with 2026's history, a planned 2027, and a failed attempt on one post."""
    settings = make_settings(channels=CHANNELS_TOML)
    seed_history(settings.database_url, first_year=2026, years=1)
    ids = seed_planned(settings.database_url, year=2027, image=str(IMAGE))
    with session_scope(settings.database_url) as session:
        post = session.get(Post, ids[1])  # kommune-facebook, queued
        assert post is not None
        started = datetime(2027, 1, 27, 8, tzinfo=UTC)
        session.add(
            Attempt(
                post_id=ids[1],
                attempt_id="a1",
                worker="daemon@host",
                started_at=started,
                finished_at=started + timedelta(seconds=2),
                outcome="transient",
                http_status=503,
                error="Service Unavailable",
            )
        )
    return settings, ids[1]


# --- routing, without a socket -------------------------------------------------------------


def test_pages_answer(site: tuple[Settings, int]):
    settings, post_id = site
    view = WebView(settings)
    index = view.respond("/", {})
    assert index.status == 200
    assert b"Kommende opslag" in index.body
    page = view.respond(f"/posts/{post_id}", {})
    assert page.status == 200
    text = page.body.decode()
    assert "af 63.206 tegn, som Facebook tæller" in text
    assert f'src="/posts/{post_id}/image"' in text
    assert "Tre unge går hjem sammen" in text
    assert "Service Unavailable" in text
    assert ">approve<" in text
    image = view.respond(f"/posts/{post_id}/image", {})
    assert (image.status, image.content_type) == (200, "image/png")
    ics = view.respond("/calendar/2027.ics", {})
    assert ics.content_type.startswith("text/calendar")
    assert ics.body.count(b"BEGIN:VEVENT") == 108
    assert view.respond("/calendar", {}).headers["Location"].startswith("/calendar/")
    assert view.respond("/posts/999999", {}).status == 404
    assert view.respond("/nothing", {}).status == 404
    bad = view.respond("/report", {"from": ["14-01-2026"]})
    assert bad.status == 400
    assert "er ikke en dato" in bad.body.decode()


def test_a_post_too_long_for_its_channel_says_so(make_settings):
    settings = make_settings(
        channels='[channels.x]\ntype = "x"\ntoken_env = "COMMS_TEST_X_TOKEN"\n'
    )
    with session_scope(settings.database_url) as session:
        post = Post(channel="x", text="ø" * 300, scheduled_at=datetime(2027, 1, 1, tzinfo=UTC))
        session.add(post)
        session.flush()
        post_id = post.id
    text = WebView(settings).respond(f"/posts/{post_id}", {}).body.decode()
    assert "300 af 280 tegn, som X tæller" in text
    assert "for langt" in text


# --- a real server -------------------------------------------------------------------------


@pytest.fixture
def server(site: tuple[Settings, int]) -> Iterator[tuple[str, int]]:
    settings, post_id = site
    httpd = make_server(settings, "127.0.0.1", 0, quiet=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", post_id
    finally:
        httpd.shutdown()
        httpd.server_close()


def request(base: str, method: str, path: str) -> http.client.HTTPResponse:
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request(method, path)
    return connection.getresponse()


def test_the_server_is_read_only_and_local(server: tuple[str, int]):
    base, _ = server
    assert base.startswith("http://127.0.0.1:")
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        response = request(base, method, "/")
        assert response.status == 405
        assert response.getheader("Allow") == "GET, HEAD"
    head = request(base, "HEAD", "/")
    assert head.status == 200
    assert head.read() == b""
    get = request(base, "GET", "/")
    assert "script-src" not in (get.getheader("Content-Security-Policy") or "")
    assert "default-src 'none'" in (get.getheader("Content-Security-Policy") or "")


# --- in the browser ------------------------------------------------------------------------


def require_browser() -> None:
    """Skip loudly without chromium or playwright; in CI that is a failure."""
    missing = None
    if not Path(CHROMIUM).exists():
        missing = f"{CHROMIUM} is missing (apt-get install chromium)"
    elif importlib.util.find_spec("playwright") is None:
        missing = "the playwright package is missing (pip install -e '.[test]')"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run in CI: {missing}")
        pytest.skip(f"!!! BROWSER TESTS SKIPPED: {missing} !!!")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="da-DK")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield page
    context.close()
    assert errors == [], errors


def assert_rendered(png: bytes, *, min_height: int = 600) -> None:
    """The screenshot is a real page: wide, tall, with text and colour, not a blank sheet."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.width >= 1000
    assert image.height >= min_height
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is None or len(colours) > 200
    white = max(colours or [(0, None)])[0] / (image.width * image.height)
    assert white < 0.97


def images_loaded(page: Any) -> list[bool]:
    return page.eval_on_selector_all("img", "els => els.map(e => e.complete && e.naturalWidth > 0)")


def test_queue_then_a_post_preview(page: Any, server: tuple[str, int], tmp_path: Path):
    base, post_id = server
    page.goto(base + "/")
    assert page.title() == "Kø – comms"
    link = page.locator(f'a[href="/posts/{post_id}"]')
    assert link.count() == 1
    link.click()
    page.wait_for_url(f"**/posts/{post_id}")
    preview = page.locator("#preview")
    assert "aalborg.dk/tryg/blaa-mandag" in preview.inner_text()
    assert images_loaded(page) == [True]
    assert page.get_attribute("#preview img", "alt").startswith("Tre unge går hjem")
    assert "af 63.206 tegn" in page.inner_text("#length")
    assert page.locator("#attempts tbody tr").count() == 1
    assert "503" in page.inner_text("#attempts")
    assert [row.inner_text().split("\t")[2] for row in page.locator("#audit tbody tr").all()] == [
        "plan",
        "approve",
    ]
    png = page.screenshot(full_page=True)
    (tmp_path / "web-post.png").write_bytes(png)
    assert_rendered(png)


def test_calendar_page_links_to_posts(page: Any, server: tuple[str, int]):
    base, post_id = server
    page.goto(base + "/calendar/2027")
    assert page.locator("section.month").count() == 12
    assert page.inner_text("#maaned-1 h2") == "Januar 2027"
    page.locator(f'#maaned-1 a[href="/posts/{post_id}"]').click()
    page.wait_for_url(f"**/posts/{post_id}")
    page.goto(base + "/calendar/2027")
    assert_rendered(page.screenshot(), min_height=900)


def test_report_page_with_charts(page: Any, server: tuple[str, int]):
    base, _ = server
    page.goto(base + "/report?from=2026-01-01&to=2026-12-31")
    assert page.inner_text("h1") == "Opslag og rækkevidde"
    assert page.inner_text("#summary").startswith(
        "Fra den 1. januar 2026 til den 31. december 2026 har der været"
    )
    assert images_loaded(page) == [True, True, True]
    widths = page.eval_on_selector_all("figure img", "els => els.map(e => e.naturalWidth)")
    assert all(width > 600 for width in widths)
    assert_rendered(page.screenshot(full_page=True), min_height=2000)


def test_the_report_file_is_self_contained_in_the_browser(
    page: Any, site: tuple[Settings, int], tmp_path: Path
):
    from comms.report import figures as reports
    from comms.report.charts import build_charts
    from comms.report.html import render_html

    settings, _ = site
    types = {name: channel.type for name, channel in settings.channels.items()}
    start, end = date(2026, 1, 1), date(2026, 12, 31)
    result = reports.build_report(
        settings.database_url, start=start, end=end, zone=settings.zone, channel_types=types
    )
    points = reports.post_points(settings.database_url, start=start, end=end, zone=settings.zone)
    path = tmp_path / "status.html"
    path.write_text(render_html(result, build_charts(result, points)), encoding="utf-8")
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url))
    page.goto(path.as_uri())
    assert images_loaded(page) == [True, True, True]
    assert [url for url in fetched if not url.startswith(("file:", "data:"))] == []
    assert page.evaluate("document.documentElement.lang") == "da"
    tables = page.locator("table").count()
    assert tables == 5  # channels, channel types, campaigns, focus areas, top posts
    assert_rendered(page.screenshot(full_page=True), min_height=2000)


def test_the_screenshot_script(tmp_path: Path):
    """scripts/screenshots.py writes the pages people see (the DOCX pages are tested elsewhere)."""
    require_browser()
    script = Path(__file__).resolve().parent.parent / "scripts" / "screenshots.py"
    out = tmp_path / "shots"
    subprocess.run(
        [sys.executable, str(script), str(out), "--no-docx"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    names = sorted(path.name for path in out.iterdir())
    assert names == sorted(
        [
            "report.png",
            "report-10-years.png",
            "calendar.png",
            "web-queue.png",
            "web-post.png",
            "web-report.png",
        ]
    )
    for name in names:
        assert_rendered((out / name).read_bytes())

"""End to end in Debian's Chromium through Playwright, against the workspace served by uvicorn.

People sign in through the form and click the buttons: an editor edits and submits, an approver
of another organisation is refused, the right one approves, a rejection reaches its author, a
script in a post stays text, a cross-origin form is refused, throttling answers 429, and a
disabled user's session ends. Chromium is found by tests/headless.py ($COMMS_CHROMIUM or PATH).
"""

from __future__ import annotations

import http.server
import io
import threading
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from comms.config import Settings
from tests.web.conftest import add_post
from tests.web.live import free_port, sign_in, state_of

pytestmark = pytest.mark.slow


def test_edit_submit_refuse_approve(open_page: Any, base: str, site: Settings):
    post_id = add_post(site, author="eva", text="Første udkast")
    eva = open_page()
    sign_in(eva, base, "eva")
    assert eva.title() == "Overblik – comms"
    eva.goto(f"{base}/posts/{post_id}")
    eva.fill("#text", "Kom til Blå Mandag på Gammeltorv kl. 17")
    eva.click("#edit-form button[type=submit]")
    eva.wait_for_url(f"**/posts/{post_id}?ok=edited")
    assert "Blå Mandag på Gammeltorv kl. 17" in eva.inner_text("#preview")
    assert eva.locator("#approve-form").count() == 0  # an editor cannot approve

    peter = open_page()  # approver of politi
    sign_in(peter, base, "peter")
    peter.goto(f"{base}/posts/{post_id}")
    assert peter.locator("#approve-form").count() == 0
    token = peter.get_attribute("header form.who input[name=csrf_token]", "value")
    forced = peter.request.post(
        f"{base}/posts/{post_id}/approve",
        form={"csrf_token": token},
        headers={"Origin": base},
    )
    assert forced.status == 403
    assert state_of(site, post_id).state == "draft"

    anna = open_page()  # approver of kommune
    sign_in(anna, base, "anna")
    assert f'data-post="{post_id}"' in anna.inner_html("#awaiting")
    anna.click(f'#awaiting a[href="/posts/{post_id}"]')
    anna.wait_for_url(f"**/posts/{post_id}")
    anna.click("#approve-form button[type=submit]")
    anna.wait_for_url(f"**/posts/{post_id}?ok=approved")
    assert "godkendt" in anna.inner_text(".badge")
    post = state_of(site, post_id)
    assert (post.state, post.approved_by, post.last_editor) == ("queued", "anna", "eva")


def test_a_rejection_returns_to_the_author(open_page: Any, base: str, site: Settings):
    post_id = add_post(site, author="eva", title="Nattevandring")
    anna = open_page()
    sign_in(anna, base, "anna")
    anna.goto(f"{base}/posts/{post_id}")
    anna.fill("#comment", "Tjek datoen for nattevandringen")
    anna.click("#reject-form button[type=submit]")
    anna.wait_for_url(f"**/posts/{post_id}?ok=rejected")
    eva = open_page()
    sign_in(eva, base, "eva")
    assert "Tjek datoen for nattevandringen" in eva.inner_text("#rejected")
    eva.click(f'#rejected a[href="/posts/{post_id}"]')
    assert "Tjek datoen for nattevandringen" in eva.inner_text("#review-comment")


def test_a_script_in_a_post_shows_as_text(open_page: Any, base: str, site: Settings):
    hostile = "<script>alert('xss')</script><img src=x onerror=alert(2)>"
    post_id = add_post(site, text=hostile)
    vera = open_page()
    sign_in(vera, base, "vera")
    vera.goto(f"{base}/posts/{post_id}")
    assert hostile in vera.inner_text("#preview .text")
    assert vera.locator("#preview script").count() == 0
    assert vera.locator("#preview img").count() == 0
    vera.goto(f"{base}/queue?from=")
    assert "<script>alert('xss')</script>" in vera.inner_text("#queue")


def test_a_cross_origin_form_post_is_refused(
    open_page: Any, base: str, site: Settings, tmp_path: Path
):
    post_id = add_post(site, author="eva")
    anna = open_page()
    sign_in(anna, base, "anna")
    token = anna.get_attribute("header form.who input[name=csrf_token]", "value")
    (tmp_path / "evil.html").write_text(
        f'<!DOCTYPE html><form action="{base}/posts/{post_id}/approve" method="post">'
        f'<input type="hidden" name="csrf_token" value="{token}">'
        '<button id="go">Vind en iPad</button></form>',
        encoding="utf-8",
    )
    port = free_port()
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    evil = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        anna.goto(f"http://localhost:{port}/evil.html")  # another origin, anna's cookie on hand
        with anna.expect_navigation() as navigation:
            anna.click("#go")
        assert navigation.value.status == 403
        assert "kom ikke fra denne side" in anna.inner_text("#error-message")
    finally:
        evil.shutdown()
        evil.server_close()
    assert state_of(site, post_id).state == "draft"


def test_throttling_gives_429(open_page: Any, base: str):
    import time

    page = open_page()
    first = sign_in(page, base, "anna", "forkert-adgangskode")
    assert first.status == 400
    wait = 0
    for _ in range(12):  # five free tries, then waits that double (each waited out here)
        response = sign_in(page, base, "anna", "forkert-adgangskode")
        if response.status == 429:
            assert "For mange forkerte forsøg" in page.inner_text("#login-error")
            wait = int(response.headers["retry-after"])
            if wait >= 8:
                break
            time.sleep(wait)
    assert wait >= 8
    assert sign_in(page, base, "anna").status == 429  # the right password waits too


def test_a_disabled_users_session_ends(open_page: Any, base: str):
    eva = open_page()
    sign_in(eva, base, "eva")
    assert eva.title() == "Overblik – comms"
    admin = open_page()
    sign_in(admin, base, "admin")
    admin.goto(base + "/users")
    admin.click('tr[data-user="eva"] form[action="/users/eva/disable"] button')
    admin.wait_for_url("**/users?ok=user-disabled")
    assert "spærret" in admin.inner_text('tr[data-user="eva"]')
    eva.reload()
    assert eva.url.startswith(base + "/login?next=")
    assert sign_in(eva, base, "eva").status == 400


def test_sign_out(open_page: Any, base: str):
    page = open_page()
    sign_in(page, base, "vera")
    page.click("header form.who button")
    page.wait_for_url("**/login")
    page.goto(base + "/queue")
    assert "/login?next=/queue" in page.url


def test_the_pages_render_on_a_phone(open_page: Any, base: str, site: Settings):
    url = "https://www.aalborg.dk/" + "en-meget-lang-adresse-uden-mellemrum/" * 6
    post_id = add_post(site, channel="kommune-x", text=f"Se mere: {url}")
    phone = open_page(width=390)
    sign_in(phone, base, "admin")
    for path in ("/", "/queue", f"/posts/{post_id}", "/calendar", "/users", "/audit"):
        phone.goto(base + path)
        scroll = phone.evaluate("document.documentElement.scrollWidth")
        assert scroll <= 392, (path, scroll)  # nothing wider than the phone, long URLs wrap
    phone.goto(f"{base}/posts/{post_id}")
    box = phone.locator("#preview").bounding_box()
    assert box is not None
    assert box["width"] <= 390


def assert_rendered(png: bytes, *, min_height: int = 600) -> None:
    """The screenshot is a real page: wide, tall, with text and colour, not a blank sheet."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.width >= 1000
    assert image.height >= min_height
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is None or len(colours) > 50


def test_the_report_file_is_self_contained_in_the_browser(
    open_page: Any, site: Settings, tmp_path: Path
):
    from comms.report import figures as reports
    from comms.report.charts import build_charts
    from comms.report.html import render_html
    from tests.seed import seed_history

    seed_history(site.database_url, first_year=2026, years=1)
    types = {name: channel.type for name, channel in site.channels.items()}
    start, end = date(2026, 1, 1), date(2026, 12, 31)
    result = reports.build_report(
        site.database_url, start=start, end=end, zone=site.zone, channel_types=types
    )
    points = reports.post_points(site.database_url, start=start, end=end, zone=site.zone)
    path = tmp_path / "status.html"
    path.write_text(render_html(result, build_charts(result, points)), encoding="utf-8")
    page = open_page()
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url))
    page.goto(path.as_uri())
    loaded = page.eval_on_selector_all(
        "img", "els => els.map(e => e.complete && e.naturalWidth > 0)"
    )
    assert loaded == [True, True, True]
    assert [url for url in fetched if not url.startswith(("file:", "data:"))] == []
    assert page.evaluate("document.documentElement.lang") == "da"
    assert_rendered(page.screenshot(full_page=True), min_height=2000)


def test_the_screenshot_script(tmp_path: Path):
    """scripts/screenshots.py writes a picture of every page (DOCX pages are tested elsewhere)."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "scripts" / "screenshots.py"
    out = tmp_path / "shots"
    subprocess.run(
        [sys.executable, str(script), str(out), "--no-docx"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    names = sorted(path.name for path in out.iterdir())
    pages = ["login", "overview", "compose", "queue", "post", "post-x", "calendar", "report"]
    pages += ["calendar-week", "users", "compose-errors", "calendar-feed", "campaigns"]
    pages += ["campaign-year", "channels"]
    expected = [f"web-{name}.png" for name in [*pages, "audit", "error"]]
    expected += ["phone-overview.png", "phone-post.png"]
    expected += ["report.png", "report-10-years.png", "calendar.png"]
    assert names == sorted(expected)
    from PIL import Image

    for name in names:
        if name.startswith("phone"):
            assert Image.open(out / name).width == 390, name
        else:
            assert_rendered((out / name).read_bytes(), min_height=400)

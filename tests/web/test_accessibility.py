"""Every page of the workspace against axe-core's WCAG 2.1 A and AA rules, in Chromium.

axe-core (npm, pinned in tests/web/axe/package-lock.json) is installed once into
$COMMS_AXE_WORKDIR (default ~/.cache/comms-tests/axe-core, outside the repository). It is put
into the page by Playwright in a context that bypasses the page's CSP: the workspace itself
allows no inline script, and axe is the test's tool, not part of the page.
"""

from __future__ import annotations

import fcntl
import filecmp
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from comms.config import Settings
from comms.store.db import session_scope
from comms.store.models import AuditEvent
from tests.web.conftest import add_post
from tests.web.live import sign_in
from tests.web.test_campaigns_page import NEXT_YEAR, write_campaigns

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent / "axe"
WORKDIR = Path(
    os.environ.get("COMMS_AXE_WORKDIR")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "comms-tests" / "axe-core"
)
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe.min.js, installed with npm ci from the pinned lock file on first use."""
    if shutil.which("npm") is None:
        pytest.fail("the accessibility tests need npm (Node 20) to install axe-core")
    WORKDIR.mkdir(parents=True, exist_ok=True)
    with open(WORKDIR / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel sessions install once
        script = WORKDIR / "node_modules" / "axe-core" / "axe.min.js"
        same = all(
            (WORKDIR / name).exists() and filecmp.cmp(HERE / name, WORKDIR / name, shallow=False)
            for name in ("package.json", "package-lock.json")
        )
        if not (same and script.exists()):
            for name in ("package.json", "package-lock.json"):
                shutil.copy(HERE / name, WORKDIR / name)
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=WORKDIR,
                check=True,
                capture_output=True,
                timeout=300,
            )
        return script.read_text(encoding="utf-8")


@pytest.fixture
def admin_page(browser: Any, base: str) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 1100, "height": 900}, locale="da-DK", bypass_csp=True
    )
    page = context.new_page()
    sign_in(page, base, "admin")
    yield page
    context.close()


def violations(page: Any, axe_source: str) -> list[str]:
    """axe's WCAG 2.1 A/AA violations on the page, one line each (rule, first element)."""
    page.add_script_tag(content=axe_source)
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG
    )
    return [f"{v['id']}: {v['help']} ({v['nodes'][0]['target']})" for v in result["violations"]]


def compose_rounds(page: Any, base: str, axe_source: str) -> dict[str, list[str]]:
    """The compose page with a channel's own text open, then back with errors beside fields."""
    found = {}
    page.goto(base + "/compose")
    page.check('input[name=channel][value="kommune-x"]')
    page.click('details[data-variant-for="kommune-x"] summary')
    page.fill('details[data-variant-for="kommune-x"] textarea', "Refleks " * 40)
    page.wait_for_selector('output[data-count-for="kommune-x"].over')
    found["/compose (egen tekst)"] = violations(page, axe_source)
    page.fill("#link", "ftp://aalborg.dk")
    with page.expect_navigation():
        page.click('button[name=action][value="draft"]')
    page.wait_for_selector("#compose-error")
    found["/compose (fejl)"] = violations(page, axe_source)
    return {name: problems for name, problems in found.items() if problems}


def crisis_rounds(page: Any, base: str, axe_source: str, site: Settings) -> dict[str, list[str]]:
    """The crisis page with nothing stopped, then stopped with a held post, and the banner."""
    page.goto(base + "/crisis")
    found = {"/crisis": violations(page, axe_source)}
    add_post(site, state="queued", scheduled_at=datetime.now(UTC) - timedelta(minutes=1))
    page.fill("#stop-reason", "Alvorlig ulykke")
    page.check("#stop-form input[name=confirm]")
    with page.expect_navigation():
        page.click("#stop-form button[type=submit]")
    found["/crisis (stoppet)"] = violations(page, axe_source)
    page.goto(base + "/queue?from=")
    found["/queue (krisestop)"] = violations(page, axe_source)
    return {name: problems for name, problems in found.items() if problems}


def test_every_page_passes_wcag_2_1_aa(admin_page: Any, base: str, site: Settings, axe_source: str):
    write_campaigns(site)
    post_id = add_post(
        site, title="Blå Mandag", link="https://www.aalborg.dk/tryg", story="historie-1"
    )
    add_post(site, channel="kommune-x", title="Blå Mandag på X", story="historie-1")
    x_id = add_post(site, channel="kommune-x", state="rejected", review_comment="For langt")
    with session_scope(site.database_url) as session:
        session.add(AuditEvent(actor="anna", action="approve", post_id=post_id))
    week = (datetime.now(UTC) + timedelta(days=7)).isocalendar()
    found = {}
    for path in (
        f"/calendar/{week.year}/uge/{week.week}",
        "/",
        "/compose",
        "/campaigns",
        f"/campaigns/karneval/{NEXT_YEAR}",
        "/channels",
        "/queue?from=",
        "/queue?story=historie-1&from=",
        f"/posts/{post_id}",
        f"/posts/{x_id}",
        "/calendar",
        "/report?from=2026-01-01&to=2026-12-31",
        "/users",
        "/audit",
        "/posts/999999",
    ):
        admin_page.goto(base + path)
        problems = violations(admin_page, axe_source)
        if problems:
            found[path] = problems
    found.update(compose_rounds(admin_page, base, axe_source))  # its tabs and its errors
    admin_page.goto(base + "/calendar")
    admin_page.click('#feed-form button[value="create"]')  # the feed address, shown once
    admin_page.wait_for_selector("#feed-url")
    problems = violations(admin_page, axe_source)
    if problems:
        found["/calendar/feed"] = problems
    found.update(crisis_rounds(admin_page, base, axe_source, site))  # stopped, and its banner
    admin_page.goto(base + "/")  # the sign-in page as a visitor sees it: sign out first
    admin_page.click("header form.who button")
    admin_page.wait_for_url("**/login")
    login = violations(admin_page, axe_source)
    if login:
        found["/login"] = login
    assert found == {}

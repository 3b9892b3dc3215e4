"""The issue's whole journey in Chromium: compose for two channels, watch the X count follow the
typing, submit; the other organisation's approver cannot approve, the right one does, and the
daemon publishes to the site channel. It drives the compose page only through what a person
sees (its fields, its live count per channel, its buttons)."""

from __future__ import annotations

from typing import Any

import pytest

from comms.config import Settings
from comms.store.db import session_scope
from comms.store.models import Post
from tests.web.conftest import PASSWORD
from tests.web.live import sign_in, state_of

pytestmark = pytest.mark.slow


def test_compose_watch_the_x_count_submit_approve_publish(
    open_page: Any, base: str, site: Settings
):
    """The whole journey: compose for two channels, the X count follows the typing, submit,
    the other organisation's approver cannot, the right one approves, the daemon publishes."""
    import subprocess
    import sys

    from playwright.sync_api import expect

    eva = open_page()
    sign_in(eva, base, "eva")
    eva.click('header nav a[href="/compose"]')
    eva.wait_for_url("**/compose")
    eva.check('input[name=channel][value="hjemmeside"]')
    eva.check('input[name=channel][value="kommune-x"]')
    count = eva.locator('output[data-count-for="kommune-x"]')
    eva.fill("#title", "Reflekser i mørket")
    eva.locator("#text").press_sequentially("Husk refleksen")
    expect(count).to_have_text("14 / 280")  # (no wait_for_function: the CSP forbids eval)
    eva.locator("#text").press_sequentially(" https://www.aalborg.dk/" + "refleks" * 10)
    expect(count).to_have_text("38 / 280")  # the long link counts 23, as X counts it
    eva.check('input[name=when][value="approval"]')
    eva.click('button[name=action][value="submit"]')
    eva.wait_for_url("**/posts/*?ok=composed-submitted")
    with session_scope(site.database_url) as session:
        from sqlmodel import select

        made = session.exec(select(Post).where(Post.author == "eva").order_by(Post.channel)).all()
    assert [p.channel for p in made] == ["hjemmeside", "kommune-x"]
    site_post = made[0]

    peter = open_page()
    sign_in(peter, base, "peter")
    peter.goto(f"{base}/posts/{site_post.id}")
    assert peter.locator("#approve-form").count() == 0

    anna = open_page()
    sign_in(anna, base, "anna")
    anna.goto(f"{base}/posts/{site_post.id}")
    anna.click("#approve-form button[type=submit]")
    anna.wait_for_url(f"**/posts/{site_post.id}?ok=approved")

    assert site.path is not None
    subprocess.run(
        [sys.executable, "-m", "comms", "--config", str(site.path), "daemon", "--once"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert state_of(site, int(site_post.id or 0)).state == "published"
    anna.goto(f"{base}/posts/{site_post.id}")
    assert "udgivet" in anna.inner_text(".badge")


def tab_to(page: Any, selector: str, *, limit: int = 80) -> None:
    """Press Tab until the element matching `selector` has the focus (as a keyboard user does)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def sign_in_by_keyboard(page: Any, base: str, username: str) -> None:
    """Type the name into the focused field, Tab, the password, Enter: as a keyboard user does.

    A person types once the field has the focus; typing before that loses keys at random.
    """
    from playwright.sync_api import expect

    page.goto(base + "/login")
    expect(page.locator("#username")).to_be_focused()
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    expect(page.locator("#username")).to_have_value(username)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/login" not in page.url, page.inner_text("main")


def test_compose_to_approve_by_keyboard_alone(open_page: Any, base: str, site: Settings):
    eva = open_page()
    sign_in_by_keyboard(eva, base, "eva")
    tab_to(eva, 'a[href="/compose"]')
    with eva.expect_navigation():
        eva.keyboard.press("Enter")
    tab_to(eva, "#text")
    eva.keyboard.type("Husk lygten på cyklen")
    tab_to(eva, "input[name=when]")  # Tab enters the radio group at its chosen one
    if not eva.is_checked('input[name=when][value="approval"]'):
        eva.keyboard.press("ArrowDown")  # on to "when approved"
    assert eva.is_checked('input[name=when][value="approval"]')
    tab_to(eva, 'input[name=channel][value="hjemmeside"]')
    eva.keyboard.press("Space")
    tab_to(eva, 'button[name=action][value="submit"]')
    with eva.expect_navigation():
        eva.keyboard.press("Enter")
    assert "?ok=composed-submitted" in eva.url

    with session_scope(site.database_url) as session:
        from sqlmodel import select

        post = session.exec(select(Post).where(Post.author == "eva")).one()
    anna = open_page()
    sign_in_by_keyboard(anna, base, "anna")
    tab_to(anna, f'#awaiting a[href="/posts/{post.id}"]')
    with anna.expect_navigation():
        anna.keyboard.press("Enter")
    tab_to(anna, "#approve-form button")
    with anna.expect_navigation():
        anna.keyboard.press("Enter")
    assert state_of(site, int(post.id or 0)).state == "queued"


def test_readability_advice_follows_the_typing(open_page: Any, base: str, site: Settings):
    """The live check under a channel's own-text tab gives the hashtag advice while the person
    types #trygaalborg, and takes it back once it is written #TrygAalborg."""
    from playwright.sync_api import expect

    eva = open_page()
    sign_in(eva, base, "eva")
    eva.goto(base + "/compose")
    eva.check('input[name=channel][value="hjemmeside"]')
    eva.click('details[data-variant-for="hjemmeside"] summary')  # the channel's own tab
    line = eva.locator('p[data-problems-for="hjemmeside"]')
    eva.locator("#text").press_sequentially("Kom godt hjem #trygaalborg")
    expect(line).to_be_visible()
    expect(line).to_contain_text("Råd: Skriv hashtags med stort begyndelsesbogstav")
    eva.locator("#text").fill("")
    eva.locator("#text").press_sequentially("Kom godt hjem #TrygAalborg")
    expect(line).not_to_contain_text("Råd:")
    expect(line).to_contain_text("26 tegn")

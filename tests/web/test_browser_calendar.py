"""In Chromium: dragging a post to another day in the calendar moves it through the move form,
and a channel's own text on the compose page is counted live for that channel."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from comms.config import Settings
from tests.web.conftest import add_post
from tests.web.live import sign_in, state_of

pytestmark = pytest.mark.slow


def test_dragging_a_post_to_another_day_moves_it(open_page: Any, base: str, site: Settings):
    post_id = add_post(site, scheduled_at=datetime(2031, 3, 12, 8, 30, tzinfo=UTC))
    eva = open_page()
    sign_in(eva, base, "eva")
    eva.goto(f"{base}/calendar/2031/3")
    assert eva.is_visible("#drag-hint")
    with eva.expect_navigation():
        eva.drag_and_drop(f'a.entry[data-move="{post_id}"]', 'td[data-date="2031-03-20"]')
    assert eva.url.endswith("/calendar/2031/3?ok=rescheduled")
    moved = state_of(site, post_id).scheduled_at
    assert moved == datetime(2031, 3, 20, 8, 30, tzinfo=UTC)  # the day changes, the time stays
    eva.goto(f"{base}/calendar/2031/uge/12")
    with eva.expect_navigation():
        eva.drag_and_drop(f'a.entry[data-move="{post_id}"]', 'td[data-date="2031-03-17"]')
    assert state_of(site, post_id).scheduled_at == datetime(2031, 3, 17, 8, 30, tzinfo=UTC)


def test_a_channels_own_text_is_counted_live_for_that_channel(open_page: Any, base: str):
    from playwright.sync_api import expect

    eva = open_page()
    sign_in(eva, base, "eva")
    eva.goto(base + "/compose")
    tab = eva.locator('details[data-variant-for="kommune-x"]')
    expect(tab).to_be_hidden()  # only the chosen channels have a tab
    eva.check('input[name=channel][value="kommune-facebook"]')
    eva.check('input[name=channel][value="kommune-x"]')
    expect(tab).to_be_visible()
    eva.fill("#text", "ø" * 300)
    count = eva.locator('output[data-count-for="kommune-x"]')
    expect(count).to_have_text("300 / 280")
    tab.locator("summary").click()
    tab.locator("textarea").fill("Kort udgave til X")
    expect(count).to_have_text("17 / 280")
    expect(eva.locator('output[data-count-for="kommune-facebook"]')).to_have_text("300 / 63.206")
    other = eva.locator('details[data-variant-for="kommune-facebook"]')
    other.locator("summary").click()
    expect(other).to_have_attribute("open", "")
    expect(tab).not_to_have_attribute("open", "")  # one tab open at a time

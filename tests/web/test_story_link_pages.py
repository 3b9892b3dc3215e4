"""A post that links to an earlier post's page, as the workspace shows it: the link said in
words, and "waiting" on the queue and the post page while that page is not out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from comms.config import Settings
from comms.content.link_from import placeholder
from comms.queue import transitions as queue
from comms.store.db import session_scope
from comms.store.models import Post
from tests.web.conftest import add_post

WORDS = "(link til nyhed.hjemmeside, når den er udgivet)"


DUE = timedelta(hours=2)  # how long ago the linking post's own time passed


def story(site: Settings, channel: str = "kommune-facebook") -> tuple[int, int]:
    """A news page (approved, not out) and a post linking to it (on Facebook unless told)."""
    news = add_post(site, channel="hjemmeside", step="nyhed", state="queued", title="Lås døren")
    due = datetime.now(UTC) - DUE  # its own time has passed: it waits
    address = placeholder("nyhed", "hjemmeside")
    social = add_post(
        site,
        channel=channel,
        step="opslag",
        state="queued",
        text=f"Læs vores råd: {address}",
        link=address,
        link_from_post_id=news,
        scheduled_at=due,
    )
    return news, social


def queue_from_its_day(site: Settings) -> str:
    """The queue from the day the linking post was due (by default it starts today, and two
    hours ago may have been yesterday)."""
    day = (datetime.now(UTC) - DUE).astimezone(site.zone).date()
    return f"/queue?from={day.isoformat()}"


def test_the_post_page_says_where_the_link_goes_and_that_it_waits(client, site: Settings):
    news, social = story(site)
    page = client("anna").get(f"/posts/{social}").text
    assert f"Læs vores råd: {WORDS}" in page
    assert 'id="link-waiting"' in page
    assert f"venter på nyhed.hjemmeside (opslag {news}, godkendt, planlagt" in page
    assert f'<a href="/posts/{news}">opslag {news}</a>' in page  # the link's source
    assert "link-fra.example.com</div>" not in page  # no placeholder domain in the link box
    # the edit form keeps the placeholder, and says what it stands for
    assert 'id="link-placeholder-help"' in page
    listing = client("anna").get(queue_from_its_day(site)).text
    assert listing.count("venter på nyhed.hjemmeside") == 1  # the post, not its page


def test_a_cancelled_page_leaves_the_post_waiting_for_good(client, site: Settings):
    news, social = story(site, channel="hjemmeside")  # a channel that can publish
    with session_scope(site.database_url) as session:
        queue.cancel(session, news, actor="anna")
    page = client("anna").get(f"/posts/{social}").text
    assert f"venter på nyhed.hjemmeside (opslag {news}, som er annulleret)" in page
    assert "flyt den, eller annullér dette opslag" in page
    # the overview lists it among the posts held up, saying why (not "the time has passed")
    overview = client("anna").get("/").text
    assert f"venter på nyhed.hjemmeside (opslag {news}, som er annulleret)" in overview


def test_a_headline_says_the_link_in_words(client, site: Settings):
    story(site)
    listing = client("anna").get(queue_from_its_day(site)).text
    assert "Læs vores råd: (link til nyhed.hjemmeside, når den er udgivet)" in listing
    assert "link-fra.example.com" not in listing


def test_an_edit_that_drops_or_changes_the_placeholder_is_refused(client, site: Settings):
    _news, social = story(site)
    address = placeholder("nyhed", "hjemmeside")
    with session_scope(site.database_url) as session:
        before = session.get(Post, social)
        assert before is not None
        original = (before.text, before.link, before.state)
    emil = client("emil")
    emil.get(f"/posts/{social}")
    attempts = [
        {"text": "Læs vores råd på hjemmesiden", "link": address},  # placeholder deleted
        {"text": "Læs vores råd: " + address.replace("nyhed", "nyhedx"), "link": address},
        {"text": f"Læs vores råd: {address}", "link": "https://www.aalborg.dk/raad"},
        {"text": f"Læs vores råd: {address}", "link": ""},  # link cleared
    ]
    for form in attempts:
        refused = emil.post(f"/posts/{social}/edit", form)
        assert refused.status_code == 400, form
        assert "link-fra.example.com" in refused.text or "nyhed.hjemmeside" in refused.text
        assert "udgivet" in refused.text  # says why: it is filled in when the page is out
    with session_scope(site.database_url) as session:
        after = session.get(Post, social)
        assert after is not None
        assert (after.text, after.link, after.state) == original  # nothing saved
    kept = emil.post(
        f"/posts/{social}/edit", {"text": f"Læs vores nye råd her: {address}", "link": address}
    )
    assert kept.status_code == 303  # the words around it may change
    with session_scope(site.database_url) as session:
        edited = session.get(Post, social)
        assert edited is not None
        assert edited.text == f"Læs vores nye råd her: {address}"


def test_the_queue_refuses_it_too_whoever_calls(site: Settings):
    """The rule sits in queue.edit, so no other way of editing can lose the placeholder."""
    from comms.errors import QueueError

    _news, social = story(site)
    with (
        session_scope(site.database_url) as session,
        pytest.raises(QueueError, match="skal beholde adressen https://link-fra"),
    ):
        queue.edit(session, social, actor="emil", text="Uden link")
    plain = add_post(site, channel="kommune-facebook", state="draft", text="Almindeligt opslag")
    with (
        session_scope(site.database_url) as session,
        pytest.raises(QueueError, match="kan ikke skrives ind i hånden"),
    ):
        queue.edit(session, plain, actor="emil", text="Se " + placeholder("nyhed", "x"))

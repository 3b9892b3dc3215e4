"""`link_from`, piece by piece: the campaign file's checks, the placeholder, and the queue's rules
for a post linking to an earlier post's page (claimed only once that page is out with an
http(s) address, filled in with UTM tags, never missed while it waits), on SQLite and
PostgreSQL. The whole story through `comms` and the daemon as processes is test_story_links.py.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from comms.campaigns.loader import load_campaign
from comms.config import UtmSettings
from comms.content import link_from
from comms.errors import CampaignError
from comms.queue import transitions as queue
from comms.queue.links import waits
from comms.store.db import session_scope, upgrade
from comms.store.models import Post, PostState, utcnow
from tests.factories import add_post, get_post
from tests.pg import BACKENDS, empty_database

LEASE = timedelta(seconds=60)
UTM = UtmSettings(domains=("aalborg.dk",), medium="social")
ADDRESS = link_from.placeholder("nyhed", "hjemmeside")

STEPS = """\
title = "Tryg sommer"
focus_area = "Tryghed"
[event]
date = {{ type = "fixed", month = 6, day = 20 }}
[[steps]]
name = "nyhed"
offset_days = 0
time = "10:00"
channels = ["hjemmeside"]
audience = "borgere"
template = "nyhed"
[[steps]]
name = "opslag"
offset_days = 0
time = "10:30"
channels = ["facebook"]
audience = "borgere"
template = "opslag"
{extra}
"""


# --- the campaign file -------------------------------------------------------------------------


def load(tmp_path: Path, extra: str):
    path = tmp_path / "sommer.toml"
    path.write_text(STEPS.format(extra=extra), encoding="utf-8")
    return load_campaign(path)


def test_link_from_is_read_as_step_and_channel(tmp_path):
    spec = load(tmp_path, 'link_from = "nyhed.hjemmeside"')
    source = spec.steps[1].link_from
    assert (source.step, source.channel, source.line) == ("nyhed", "hjemmeside", 19)
    assert spec.steps[0].link_from is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('link_from = "nyhedd.hjemmeside"', "(did you mean 'nyhed'?)"),
        ('link_from = "nyhed.facebook"', "not a channel of step 'nyhed' (step 'nyhed' posts on"),
        ('link_from = "opslag.facebook"', "cannot link to its own page"),
        ('link_from = "hjemmeside"', "does not name a step and a channel"),
        ("link_from = 3", "does not name a step and a channel"),
        ('link_from = "nyhed.hjemmeside"\nevent = "event:jul"', "with its own event"),
    ],
)
def test_a_wrong_link_from_is_an_error_on_its_line(tmp_path, extra, message):
    with pytest.raises(CampaignError) as caught:
        load(tmp_path, extra)
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"{tmp_path / 'sommer.toml'}:")


def test_a_step_later_in_the_file_cannot_be_the_source(tmp_path):
    later = '[[steps]]\nname = "slut"\noffset_days = -3\ntime = "09:00"\nchannels = ["x"]\n'
    later += 'audience = "unge"\ntemplate = "slut"'
    extra = 'link_from = "slut.x"\n' + later
    with pytest.raises(CampaignError, match="which comes after step 'opslag'"):
        load(tmp_path, extra)


# --- the placeholder ---------------------------------------------------------------------------


def test_the_placeholder_is_a_link_people_see_in_words_and_the_daemon_fills_in():
    text = f"Læs mere: {ADDRESS}."
    assert link_from.describe(text) == "Læs mere: (link til nyhed.hjemmeside, når den er udgivet)."
    assert link_from.fill(text, "https://www.aalborg.dk/a.html") == (
        "Læs mere: https://www.aalborg.dk/a.html."
    )
    assert link_from.placeholder_source(link_from.placeholder("uge 1", "x")) == "uge 1.x"
    assert link_from.for_lint(text) == f"Læs mere: {link_from.STAND_IN_URL}."
    assert link_from.describe("Ingen link her") == "Ingen link her"


# --- the queue, on both backends --------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    with empty_database(request.param, tmp_path) as url:
        upgrade(url)
        yield url


def claim(url, now=None):
    with session_scope(url) as session:
        return queue.claim_due(
            session,
            worker="w1",
            now=now or utcnow(),
            channels={"stub"},
            limit=10,
            lease=LEASE,
            utm=UTM,
        )


def story(url, *, source_state=PostState.QUEUED, source_url=None, **source):
    """A page on the site and a due stub post linking to it; (page id, post id)."""
    page = add_post(
        url,
        channel="hjemmeside",
        step="nyhed",
        state=source_state,
        external_url=source_url,
        due=utcnow() + timedelta(hours=1),
        **source,
    )
    post = add_post(
        url, text=f"Læs vores råd: {ADDRESS}", link=ADDRESS, link_from_post_id=page, step="opslag"
    )
    return page, post


@pytest.mark.parametrize("state", sorted(set(PostState) - {PostState.PUBLISHED}))
def test_not_claimed_before_the_page_is_out_and_shown_waiting(db_url, state):
    page, post = story(db_url, source_state=state)
    assert claim(db_url) == []
    with session_scope(db_url) as session:
        assert queue.next_due_at(session, channels={"stub"}) is None  # no wake-up for it
        (waiting,) = waits(session, [session.get(Post, post)]).values()
    assert (waiting.post_id, waiting.source_id) == (post, page)
    # a page that may still come out is waited for; one that cannot holds the post for good
    may_come = state in ("draft", "queued", "publishing", "unknown")
    assert waiting.for_good is not may_come
    words = waiting.words(ZoneInfo("Europe/Copenhagen"))
    assert words.startswith(f"venter på nyhed.hjemmeside (opslag {page}, ")
    assert ("sendes ikke, før den er udgivet" in words) is not may_come


@pytest.mark.parametrize("address", [None, "news/2027/side.html", "ftp://www.aalborg.dk/x"])
def test_a_page_out_without_an_http_address_releases_nothing(db_url, address):
    story(db_url, source_state=PostState.PUBLISHED, source_url=address)
    assert claim(db_url) == []


def test_claimed_once_the_page_is_out_with_its_address_tagged(db_url):
    page_url = "https://www.aalborg.dk/nyheder/news/2027/laas-doeren.html"
    _, post = story(db_url, source_state=PostState.PUBLISHED, source_url=page_url)
    with session_scope(db_url) as session:
        assert queue.has_released_links(session, channels={"stub"}, now=utcnow())
    (claimed,) = claim(db_url)
    tagged = f"{page_url}?utm_source=stub&utm_medium=social&utm_campaign=test"
    assert claimed.post_id == post
    assert claimed.outgoing.text == f"Læs vores råd: {tagged}"
    assert claimed.outgoing.link == tagged
    kept = get_post(db_url, post)
    assert (kept.text, kept.link) == (claimed.outgoing.text, tagged)
    assert kept.content_hash is None  # what was approved is not re-hashed: no new approval


def test_a_waiting_post_is_never_missed_and_is_missed_only_after_its_page(db_url):
    _, post = story(db_url, source_state=PostState.CANCELLED)
    with session_scope(db_url) as session:
        queue.mark_missed(session, now=utcnow() + timedelta(days=3), grace=timedelta(hours=1))
    assert get_post(db_url, post).state == PostState.QUEUED
    _, late = story(
        db_url,
        source_state=PostState.PUBLISHED,
        source_url="https://www.aalborg.dk/x.html",
        published_at=utcnow(),
    )
    with session_scope(db_url) as session:  # the page came out just now: still in time
        queue.mark_missed(session, now=utcnow() + timedelta(minutes=30), grace=timedelta(hours=1))
    assert get_post(db_url, late).state == PostState.QUEUED
    with session_scope(db_url) as session:  # two hours after the page: missed
        queue.mark_missed(session, now=utcnow() + timedelta(hours=2), grace=timedelta(hours=1))
    assert get_post(db_url, late).state == PostState.MISSED
    assert get_post(db_url, post).state == PostState.QUEUED


# --- lengths, with a page address standing in for the unknown one -----------------------------


def test_lengths_are_checked_with_a_usual_page_address_in_place_of_the_unknown(
    make_settings, tmp_path
):
    from comms.campaigns.loader import CampaignSet
    from comms.plan import PostsFailLint, build_year

    channels = """
    [channels.hjemmeside]
    type = "site"
    path = "site"
    base_url = "https://www.aalborg.dk/nyheder/"
    [channels.x]
    type = "x"
    token_env = "COMMS_TEST_X"
    [channels.bluesky]
    type = "bluesky"
    handle = "tryg.bsky.social"
    password_env = "COMMS_TEST_BSKY"
    """
    settings = make_settings(channels=channels)  # campaigns/ and templates/ beside it
    (tmp_path / "campaigns").mkdir()
    text = STEPS.format(extra='link_from = "nyhed.hjemmeside"').replace(
        '["facebook"]', '["x", "bluesky"]'
    )
    (tmp_path / "campaigns" / "sommer.toml").write_text(text, encoding="utf-8")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "nyhed.j2").write_text("Lås døren.", encoding="utf-8")
    (tmp_path / "templates" / "opslag.j2").write_text("a" * 240 + " {{ link }}", encoding="utf-8")
    with pytest.raises(PostsFailLint) as caught:
        build_year(settings, CampaignSet.load(tmp_path / "campaigns"), 2027)
    # X counts any link as 23 (264 of 280); Bluesky counts the stand-in (an address of a usual
    # length with its UTM tags), though the placeholder itself would fit
    (problem,) = caught.value.problems
    assert "opslag/bluesky" in problem
    assert f"text is {240 + 1 + len(link_from.STAND_IN_URL)} of 300" in problem
    assert 240 + 1 + len(ADDRESS) <= 300


def test_a_post_without_link_from_keeps_the_hash_it_was_approved_with():
    """Posts planned before link_from existed must not all look changed (back to approval)."""
    import hashlib
    from dataclasses import replace
    from datetime import UTC, date, datetime

    from comms.plan import PlannedPost

    post = PlannedPost(
        plan_key="k/2027/2027-06-20/opslag/x",
        campaign="k",
        focus_area="Tryghed",
        year=2027,
        occurrence=date(2027, 6, 20),
        step="opslag",
        audience="borgere",
        channel="x",
        channel_type="x",
        title=None,
        text="Lås døren",
        link=None,
        image_path=None,
        image_alt=None,
        scheduled_at=datetime(2027, 6, 20, 8, tzinfo=UTC),
        local_time="2027-06-20 10:00",
        dst_adjusted=False,
    )
    before = ("", "Lås døren", "", "", "", "2027-06-20T08:00:00+00:00", "borgere", "Tryghed")
    assert post.content_hash == hashlib.sha256("\x1f".join(before).encode()).hexdigest()
    linked = replace(post, link_from="k/2027/2027-06-20/nyhed/hjemmeside")
    assert linked.content_hash != post.content_hash

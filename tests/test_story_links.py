"""A story told one step after another: a step links to the page an earlier step published
(`link_from = "STEP.CHANNEL"`).

The story here: a news page on the site (`nyhed.hjemmeside`) and then a Mastodon post linking to
it (a fake Mastodon on 127.0.0.1). Planning, approving, moving and cancelling go through the
`comms` command and publishing through `comms daemon --once`, each in a process of its own.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from comms.config import load_settings
from comms.publishing.daemon import Daemon
from comms.store.models import PostState, utcnow
from tests.cli import run_comms
from tests.factories import get_post
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.wordpress import FakeWordPress

pytestmark = pytest.mark.slow  # every test runs `comms` several times, each a process of its own

TOKEN = "story-mastodon-token"
WP_PASSWORD = "abcd EFGH ijkl MNOP qrst UVWX"
ZONE = ZoneInfo("Europe/Copenhagen")
NEWS_KEY = "sommer/2027/2027-06-20/nyhed/hjemmeside"
SOCIAL_KEY = "sommer/2027/2027-06-20/opslag/mastodon"
WAITING_WORDS = "(link til nyhed.hjemmeside, når den er udgivet)"

CAMPAIGN = """\
title = "Tryg sommer"
focus_area = "Tryghed i hjemmet"

[event]
date = { type = "fixed", month = 6, day = 20 }

[[steps]]
name = "nyhed"
offset_days = 0
time = "10:00"
channels = ["hjemmeside"]
audience = "borgere"
template = "sommer/nyhed"
title = "Lås døren, når du tager på ferie"

[[steps]]
name = "opslag"
offset_days = 0
time = "10:30"
channels = ["mastodon"]
audience = "borgere"
template = "sommer/opslag"
link_from = "nyhed.hjemmeside"
"""


@pytest.fixture(scope="module")
def mastodon() -> Iterator[FakeMastodon]:
    with FakeMastodon(token=TOKEN) as fake:
        yield fake


@pytest.fixture(scope="module")
def wordpress() -> Iterator[FakeWordPress]:
    with FakeWordPress(password=WP_PASSWORD) as fake:
        yield fake


@pytest.fixture
def story(tmp_path: Path, mastodon: FakeMastodon, wordpress: FakeWordPress) -> Path:
    """A project folder: config (site, fake Mastodon and WordPress), the campaign, templates."""
    mastodon.reset()
    wordpress.reset()
    (tmp_path / "comms.toml").write_text(
        textwrap.dedent(f"""\
        timezone = "Europe/Copenhagen"
        require_approval = true
        [database]
        url = "sqlite:///{tmp_path / "comms.db"}"
        [utm]
        domains = ["aalborg.dk"]
        medium = "social"
        [channels.hjemmeside]
        type = "site"
        path = "{tmp_path / "site"}"
        base_url = "https://www.aalborg.dk/nyheder/"
        [channels.mastodon]
        type = "mastodon"
        base_url = "{mastodon.url}"
        token_env = "COMMS_STORY_MASTODON"
        timeout_seconds = 5
        [channels.wordpress]
        type = "wordpress"
        base_url = "{wordpress.url}/wp-json"
        username = "{wordpress.username}"
        password_env = "COMMS_STORY_WP"
        timeout_seconds = 5
        [channels.nyhedsbrev]
        type = "email"
        from = "tryg@aalborg.dk"
        to = ["borger@example.com"]
        """),
        encoding="utf-8",
    )
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "sommer.toml").write_text(CAMPAIGN, encoding="utf-8")
    templates = tmp_path / "templates" / "sommer"
    templates.mkdir(parents=True)
    (templates / "nyhed.j2").write_text(
        "Tag på ferie med ro i maven: lås døren, og bed naboen tømme postkassen.", "utf-8"
    )
    (templates / "opslag.j2").write_text("Skal du på ferie? Læs vores råd: {{ link }}", "utf-8")
    return tmp_path


def comms(project: Path, *args: str, code: int = 0) -> str:
    """`comms ARGS` in its own process in the project folder; its output."""
    env = {
        **os.environ,
        "COMMS_STORY_MASTODON": TOKEN,
        "COMMS_STORY_WP": WP_PASSWORD,
        "COMMS_USER": "anne",
        "COLUMNS": "200",  # table rows on one line
    }
    env.pop("COMMS_CONFIG", None)
    result = run_comms("--config", str(project / "comms.toml"), *args, cwd=project, env=env)
    assert result.returncode == code, result.stdout + result.stderr
    return result.stdout + result.stderr


def listed(project: Path) -> dict[str, dict]:
    """The queue's posts by plan key, as `comms queue list --format json` gives them."""
    found = json.loads(comms(project, "queue", "list", "--format", "json"))
    return {post["plan_key"]: post for post in found}


def plan_and_approve(project: Path) -> tuple[int, int]:
    comms(project, "plan", "--year", "2027")
    comms(project, "approve", "--campaign", "sommer", "--year", "2027")
    posts = listed(project)
    return posts[NEWS_KEY]["id"], posts[SOCIAL_KEY]["id"]


def move(project: Path, post_id: int, when: datetime) -> None:
    """`comms reschedule` to a local minute (the CLI takes minutes, so a past one is due now)."""
    comms(project, "reschedule", str(post_id), when.astimezone(ZONE).strftime("%Y-%m-%d %H:%M"))


def daemon_once(project: Path) -> str:
    return comms(project, "daemon", "--once")


def statuses(fake: FakeMastodon) -> list[str]:
    return [status["text"] for status in fake.statuses.values()]


def page_url(project: Path) -> str:
    """The address of the one news page the site published (its receipt's URL)."""
    pages = sorted((project / "site" / "news").rglob("*.html"))
    assert len(pages) == 1, pages
    return "https://www.aalborg.dk/nyheder/" + pages[0].relative_to(project / "site").as_posix()


# --- validate ---------------------------------------------------------------------------------


def test_validate_names_each_wrong_link_from_with_its_line(story):
    bad = {
        "ukendt": ('link_from = "nyhed.hjemmeside"', 'link_from = "nyehd.hjemmeside"'),
        "senere": ('link_from = "nyhed.hjemmeside"', 'link_from = "slut.hjemmeside"'),
        "kanal": ('link_from = "nyhed.hjemmeside"', 'link_from = "nyhed.hjemmesiden"'),
        "selv": ('link_from = "nyhed.hjemmeside"', 'link_from = "opslag.mastodon"'),
        "begge": (
            'link_from = "nyhed.hjemmeside"',
            'link_from = "nyhed.hjemmeside"\nlink = "https://x.dk"',
        ),
        "form": ('link_from = "nyhed.hjemmeside"', 'link_from = "nyhed"'),
    }
    later_step = textwrap.dedent("""
        [[steps]]
        name = "slut"
        offset_days = 1
        time = "10:00"
        channels = ["hjemmeside"]
        audience = "borgere"
        template = "sommer/nyhed"
        """)
    for slug, (old, new) in bad.items():
        text = CAMPAIGN.replace(old, new) + (later_step if slug == "senere" else "")
        (story / "campaigns" / f"{slug}.toml").write_text(text, encoding="utf-8")
    output = comms(story, "campaigns", "validate", "--year", "2027", code=1)
    line = CAMPAIGN.splitlines().index('link_from = "nyhed.hjemmeside"') + 1
    expected = {
        "ukendt": "link_from names step 'nyehd', which the campaign does not have "
        "(did you mean 'nyhed'?)",
        "senere": "link_from names step 'slut', which comes after step 'opslag'",
        "kanal": "link_from names channel 'hjemmesiden', which is not a channel of step 'nyhed' "
        "(did you mean 'hjemmeside'?)",
        "selv": "step 'opslag' cannot link to its own page",
        "form": "link_from = 'nyhed' does not name a step and a channel",
    }
    for slug, message in expected.items():
        assert f"{slug}.toml:{line}: {message}" in output, output
    assert f"begge.toml:{line + 1}: a step takes its link from link_from or from link" in output
    assert "sommer.toml" not in output  # the good file has nothing to say


def test_validate_refuses_a_source_whose_receipts_carry_no_address(story):
    campaign = story / "campaigns" / "sommer.toml"
    text = CAMPAIGN.replace('channels = ["hjemmeside"]', 'channels = ["hjemmeside", "nyhedsbrev"]')
    campaign.write_text(text.replace("nyhed.hjemmeside", "nyhed.nyhedsbrev"), encoding="utf-8")
    output = comms(story, "campaigns", "validate", "--year", "2027", code=1)
    assert "step 'opslag' cannot link to nyhed.nyhedsbrev" in output
    assert "gives no public address" in output
    # a site without base_url gives pages no address a post elsewhere could link to
    campaign.write_text(CAMPAIGN, encoding="utf-8")
    config = story / "comms.toml"
    config.write_text(
        config.read_text().replace('base_url = "https://www.aalborg.dk/nyheder/"\n', ""), "utf-8"
    )
    output = comms(story, "campaigns", "validate", "--year", "2027", code=1)
    assert "channel 'hjemmeside' has no base_url" in output
    comms(story, "plan", "--year", "2027", code=1)  # plan refuses it too


def test_validate_and_preview_accept_the_story(story):
    assert "1 campaign(s)" in comms(story, "campaigns", "validate", "--year", "2027")
    preview = comms(story, "campaigns", "preview", "sommer", "--year", "2027")
    assert f"Læs vores råd: {WAITING_WORDS}" in preview
    assert "link-fra.example.com" not in preview


# --- plan -------------------------------------------------------------------------------------


def test_plan_points_the_post_at_its_source_and_shows_what_the_link_will_be(story):
    news, social = plan_and_approve(story)
    posts = listed(story)
    assert posts[SOCIAL_KEY]["link_from_post_id"] == news
    assert posts[NEWS_KEY]["link_from_post_id"] is None
    shown = comms(story, "queue", "show", str(social))
    assert f"Skal du på ferie? Læs vores råd: {WAITING_WORDS}" in shown
    assert f"venter på nyhed.hjemmeside (opslag {news}, godkendt, planlagt 20. juni 2027" in shown
    assert "queued, venter på nyhed.hjemmeside" in comms(story, "queue", "list")


def test_replan_keeps_the_link_and_removing_link_from_unlinks(story):
    news, social = plan_and_approve(story)
    campaign = story / "campaigns" / "sommer.toml"
    # the news page's text and the post's time change: same posts, same link
    (story / "templates" / "sommer" / "nyhed.j2").write_text("Lås døren, også i sommer.", "utf-8")
    campaign.write_text(CAMPAIGN.replace('time = "10:30"', 'time = "11:00"'), encoding="utf-8")
    comms(story, "plan", "--year", "2027")
    posts = listed(story)
    assert (posts[NEWS_KEY]["id"], posts[SOCIAL_KEY]["id"]) == (news, social)
    assert posts[SOCIAL_KEY]["link_from_post_id"] == news
    assert posts[SOCIAL_KEY]["local_time"] == "2027-06-20 11:00"
    assert "2 post(s) unchanged." in comms(story, "plan", "--year", "2027")
    # without link_from the post has no source and no placeholder: it needs approval again
    campaign.write_text(CAMPAIGN.replace('link_from = "nyhed.hjemmeside"\n', ""), encoding="utf-8")
    (story / "templates" / "sommer" / "opslag.j2").write_text("Skal du på ferie?", "utf-8")
    comms(story, "plan", "--year", "2027")
    after = listed(story)[SOCIAL_KEY]
    assert (after["link_from_post_id"], after["link"], after["state"]) == (None, None, "draft")


# --- the daemon -------------------------------------------------------------------------------


def test_the_post_goes_out_after_the_page_with_the_page_address_tagged(story, mastodon):
    news, social = plan_and_approve(story)
    now = utcnow()
    move(story, news, now - timedelta(minutes=2))
    move(story, social, now - timedelta(minutes=3))  # its own time is earlier: still after
    daemon_once(story)
    url = page_url(story)
    tagged = f"{url}?utm_source=mastodon&utm_medium=social&utm_campaign=sommer"
    assert statuses(mastodon) == [f"Skal du på ferie? Læs vores råd: {tagged}"]
    posts = listed(story)
    assert posts[NEWS_KEY]["external_url"] == url
    assert posts[SOCIAL_KEY]["state"] == "published"
    assert posts[SOCIAL_KEY]["link"] == tagged  # the queue keeps what went out
    # the content approved is the one planned: a re-plan finds nothing changed
    assert "2 post(s) unchanged." in comms(story, "plan", "--year", "2027")
    shown = comms(story, "queue", "show", str(social))
    assert "link-filled" in shown
    assert f"from post {news}" in shown


def test_a_wordpress_page_is_linked_to_as_well(story, mastodon, wordpress):
    campaign = story / "campaigns" / "sommer.toml"
    text = CAMPAIGN.replace('channels = ["hjemmeside"]', 'channels = ["wordpress"]')
    campaign.write_text(text.replace("nyhed.hjemmeside", "nyhed.wordpress"), encoding="utf-8")
    comms(story, "plan", "--year", "2027")
    comms(story, "approve", "--campaign", "sommer", "--year", "2027")
    posts = listed(story)
    news = posts["sommer/2027/2027-06-20/nyhed/wordpress"]["id"]
    social = posts[SOCIAL_KEY]["id"]
    now = utcnow()
    move(story, news, now - timedelta(minutes=2))
    move(story, social, now - timedelta(minutes=2))
    daemon_once(story)
    (page,) = wordpress.posts.values()
    assert page["link"].startswith(wordpress.url)  # not an own domain: no UTM tags
    assert statuses(mastodon) == [f"Skal du på ferie? Læs vores råd: {page['link']}"]


def test_a_failed_page_holds_the_post(story, mastodon, wordpress):
    campaign = story / "campaigns" / "sommer.toml"
    text = CAMPAIGN.replace('channels = ["hjemmeside"]', 'channels = ["wordpress"]')
    campaign.write_text(text.replace("nyhed.hjemmeside", "nyhed.wordpress"), encoding="utf-8")
    comms(story, "plan", "--year", "2027")
    comms(story, "approve", "--campaign", "sommer", "--year", "2027")
    posts = listed(story)
    news = posts["sommer/2027/2027-06-20/nyhed/wordpress"]["id"]
    social = posts[SOCIAL_KEY]["id"]
    now = utcnow()
    move(story, news, now - timedelta(minutes=2))
    move(story, social, now - timedelta(minutes=2))
    wordpress.reject_next(400, "rest_invalid_param", "Ugyldig parameter: title")
    daemon_once(story)
    daemon_once(story)
    after = listed(story)
    assert after["sommer/2027/2027-06-20/nyhed/wordpress"]["state"] == "failed"
    assert statuses(mastodon) == []
    assert (after[SOCIAL_KEY]["state"], after[SOCIAL_KEY]["attempts"]) == ("queued", 0)
    assert f"(opslag {news}, som er fejlet)" in after[SOCIAL_KEY]["waiting_for"]


def test_the_post_is_not_claimed_before_its_page_is_out(story, mastodon):
    news, social = plan_and_approve(story)
    now = utcnow()
    move(story, news, now + timedelta(hours=1))
    move(story, social, now - timedelta(minutes=2))  # due, but its page is not out
    daemon_once(story)
    assert statuses(mastodon) == []
    posts = listed(story)
    assert (posts[SOCIAL_KEY]["state"], posts[SOCIAL_KEY]["attempts"]) == ("queued", 0)
    assert "venter på nyhed.hjemmeside" in posts[SOCIAL_KEY]["waiting_for"]
    status = comms(story, "status")
    assert (
        f"1 opslag venter på den side, de linker til: 1 på nyhed.hjemmeside (opslag {news})."
        in status
    )
    assert "sendes ikke" not in status  # the page is still to come: nobody needs to act
    # the page comes out: the post follows in the same pass
    move(story, news, now - timedelta(minutes=1))
    daemon_once(story)
    assert len(statuses(mastodon)) == 1
    assert page_url(story) in statuses(mastodon)[0]
    assert listed(story)[SOCIAL_KEY]["waiting_for"] is None
    assert "venter på" not in comms(story, "status")


def test_a_cancelled_page_holds_the_post_for_good_never_sent_never_missed(story, mastodon):
    news, social = plan_and_approve(story)
    now = utcnow()
    move(story, news, now - timedelta(hours=2))
    move(story, social, now - timedelta(hours=2))  # beyond the grace window: would be missed
    comms(story, "cancel", str(news), "--reason", "ferien er aflyst")
    daemon_once(story)
    daemon_once(story)
    assert statuses(mastodon) == []
    post = listed(story)[SOCIAL_KEY]
    assert (post["state"], post["attempts"]) == ("queued", 0)
    assert post["waiting_for"] == (
        f"venter på nyhed.hjemmeside (opslag {news}, som er annulleret): sendes ikke, før den er "
        "udgivet; flyt den, eller annullér dette opslag"
    )
    assert "som er annulleret" in comms(story, "queue", "show", str(social))
    status = comms(story, "status")
    assert "1 opslag venter på den side, de linker til" in status
    assert "1 af dem sendes ikke, før en person flytter siden eller annullerer opslaget" in status


# --- the grace window, at chosen instants ----------------------------------------------------


def test_grace_counts_from_the_later_of_own_time_and_the_page(story, mastodon, monkeypatch):
    monkeypatch.setenv("COMMS_STORY_MASTODON", TOKEN)
    news, social = plan_and_approve(story)
    settings = load_settings(story / "comms.toml")
    start = utcnow()
    move(story, news, start + timedelta(hours=3))
    move(story, social, start)  # its own slot passes 3 hours before the page is out
    daemon = Daemon(settings)
    daemon.run_once(start + timedelta(hours=2))  # far beyond its grace: waits, not missed
    assert get_post(settings.database_url, social).state == PostState.QUEUED
    daemon.run_once(start + timedelta(hours=3, minutes=1))
    assert get_post(settings.database_url, news).state == PostState.PUBLISHED
    assert get_post(settings.database_url, social).state == PostState.PUBLISHED
    assert len(statuses(mastodon)) == 1


def test_a_post_whose_page_came_out_long_before_the_daemon_ran_is_missed(story):
    news, social = plan_and_approve(story)
    settings = load_settings(story / "comms.toml")
    start = utcnow()
    move(story, news, start)
    move(story, social, start)
    Daemon(settings).run_once(start + timedelta(minutes=1))  # the page; Mastodon has no token
    assert get_post(settings.database_url, news).state == PostState.PUBLISHED
    assert get_post(settings.database_url, social).state == PostState.QUEUED
    Daemon(settings).run_once(start + timedelta(hours=2))  # no daemon with the token since
    assert get_post(settings.database_url, social).state == PostState.MISSED

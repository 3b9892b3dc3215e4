"""`comms calendar`: the year's posts as iCalendar events (checked with icalendar) and as HTML."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import pytest
from click.testing import CliRunner
from icalendar import Calendar
from sqlmodel import select

from comms.cli import views
from comms.cli.common import AppContext
from comms.config import Settings
from comms.report.calendar import UID_DOMAIN, calendar_entries, to_html, to_ics
from comms.store.db import session_scope
from comms.store.models import Post, PostState
from tests.seed import CHANNELS_TOML, seed_planned

ZONE = ZoneInfo("Europe/Copenhagen")


@pytest.fixture
def settings(make_settings) -> Settings:
    return make_settings(channels=CHANNELS_TOML)


def add(settings: Settings, when: datetime, state: str = PostState.QUEUED, **fields) -> Post:
    with session_scope(settings.database_url) as session:
        post = Post(
            channel=fields.pop("channel", "kommune-facebook"),
            state=state,
            scheduled_at=when,
            title=fields.pop("title", "Karneval 2027"),
            text=fields.pop("text", "Så er det karneval! https://www.aalborg.dk/karneval"),
            audience=fields.pop("audience", "unge"),
            link=fields.pop("link", "https://www.aalborg.dk/karneval"),
            campaign=fields.pop("campaign", "karneval"),
            **fields,
        )
        session.add(post)
        session.flush()
        return post


def events(data: bytes) -> list:
    return list(Calendar.from_ical(data).walk("VEVENT"))


def test_every_post_of_the_year_is_an_event_with_a_stable_uid(settings: Settings):
    ids = seed_planned(settings.database_url, year=2027)
    entries = calendar_entries(settings.database_url, year=2027, zone=ZONE)
    data = to_ics(entries, year=2027, zone=ZONE)
    found = events(data)
    assert len(found) == len(ids) == 108
    with session_scope(settings.database_url) as session:
        keys = {p.idempotency_key for p in session.exec(select(Post)).all()}
    uids = [str(e["UID"]) for e in found]
    assert len(set(uids)) == len(uids)
    assert {uid.removesuffix("@" + UID_DOMAIN) for uid in uids} == keys
    assert (
        to_ics(calendar_entries(settings.database_url, year=2027, zone=ZONE), year=2027, zone=ZONE)
        == data
    )


def test_an_event_has_what_outlook_and_google_need(settings: Settings):
    when = datetime(2027, 5, 22, 7, 0, tzinfo=UTC)  # 9.00 in Aalborg, summer time
    post = add(settings, when, image_path=None)
    calendar = Calendar.from_ical(
        to_ics(calendar_entries(settings.database_url, year=2027, zone=ZONE), year=2027, zone=ZONE)
    )
    assert str(calendar["VERSION"]) == "2.0"
    assert "comms" in str(calendar["PRODID"])
    assert str(calendar["METHOD"]) == "PUBLISH"
    (event,) = calendar.walk("VEVENT")
    assert event["DTSTART"].dt == when
    assert event["DTSTART"].dt.utcoffset() == timedelta(0)
    assert event["DTEND"].dt - event["DTSTART"].dt == timedelta(minutes=15)
    assert event["DTSTAMP"].dt.tzinfo is not None
    assert str(event["SUMMARY"]) == "Karneval 2027 (kommune-facebook)"
    description = str(event["DESCRIPTION"])
    assert "Kanal: kommune-facebook" in description
    assert "Målgruppe: unge" in description
    assert "Status: godkendt" in description
    assert "Link: https://www.aalborg.dk/karneval" in description
    assert str(event["URL"]) == "https://www.aalborg.dk/karneval"
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["TRANSP"]) == "TRANSPARENT"
    assert str(event["UID"]) == f"{post.idempotency_key}@{UID_DOMAIN}"
    assert b"DTSTART:20270522T070000Z" in to_ics(
        calendar_entries(settings.database_url, year=2027, zone=ZONE), year=2027, zone=ZONE
    )


def test_published_posts_use_their_publishing_time_and_link(settings: Settings):
    planned = datetime(2027, 3, 1, 8, tzinfo=UTC)
    add(
        settings,
        planned,
        state=PostState.PUBLISHED,
        published_at=planned + timedelta(minutes=3),
        external_url="https://www.facebook.com/tryg.aalborg/posts/1",
    )
    add(settings, planned, state=PostState.CANCELLED, title="Aflyst")
    add(settings, planned, state=PostState.DRAFT, title="Kladde")
    found = events(
        to_ics(calendar_entries(settings.database_url, year=2027, zone=ZONE), year=2027, zone=ZONE)
    )
    by_title = {str(e["SUMMARY"]).split(" (")[0]: e for e in found}
    assert set(by_title) == {"Karneval 2027", "Kladde"}
    published = by_title["Karneval 2027"]
    assert published["DTSTART"].dt == planned + timedelta(minutes=3)
    assert str(published["URL"]) == "https://www.facebook.com/tryg.aalborg/posts/1"
    assert "Status: udgivet" in str(published["DESCRIPTION"])
    assert str(by_title["Kladde"]["STATUS"]) == "TENTATIVE"


@pytest.mark.parametrize(
    ("utc", "year"),
    [
        (datetime(2026, 12, 31, 22, 59, tzinfo=UTC), 2026),  # 23.59 on New Year's Eve in Aalborg
        (datetime(2026, 12, 31, 23, 0, tzinfo=UTC), 2027),  # 00.00 on 1 January in Aalborg
    ],
)
def test_the_year_is_the_local_calendar_year(settings: Settings, utc: datetime, year: int):
    add(settings, utc)
    assert len(calendar_entries(settings.database_url, year=year, zone=ZONE)) == 1
    assert (
        calendar_entries(settings.database_url, year=year + (1 if year == 2026 else -1), zone=ZONE)
        == []
    )


def test_html_month_view(settings: Settings):
    add(settings, datetime(2027, 5, 22, 7, 0, tzinfo=UTC), channel="kommune-facebook")
    add(settings, datetime(2027, 5, 22, 7, 0, tzinfo=UTC), channel="politi-facebook")
    add(
        settings, datetime(2027, 5, 22, 7, 0, tzinfo=UTC), state=PostState.CANCELLED, title="Aflyst"
    )
    entries = calendar_entries(settings.database_url, year=2027, zone=ZONE)
    html = to_html(entries, year=2027, zone=ZONE, post_href=lambda e: f"/posts/{e.id}")
    assert '<html lang="da">' in html
    assert "<script" not in html
    months = re.findall(r"<h2>(\w+) 2027</h2>", html)
    assert months[0] == "Januar"
    assert months[4] == "Maj"
    assert len(months) == 12
    assert html.count('<span class="time">9.00</span> Karneval 2027') == 1  # one line, two channels
    assert re.search(r'href="/posts/\d+">kommune-facebook</a>', html)
    assert re.search(r'href="/posts/\d+">politi-facebook</a>', html)
    assert "Aflyst" not in html
    assert '<td class="week">21</td>' in html  # ISO week of 22 May 2027


def comms_cli() -> click.Group:
    """A group with only `calendar`, so the shared `comms` group is left as the app builds it."""

    @click.group()
    @click.option("--config", "config_path")
    @click.pass_context
    def group(ctx: click.Context, config_path: str | None) -> None:
        ctx.obj = AppContext(config_path)

    group.add_command(views.calendar_command)
    return group


def test_cli_writes_ics_and_html(settings: Settings, tmp_path: Path):
    seed_planned(settings.database_url, year=2027)
    runner = CliRunner()
    base = ["--config", str(settings.path), "calendar", "--year", "2027"]
    result = runner.invoke(comms_cli(), base)
    assert result.exit_code == 0, result.output
    assert len(events(result.stdout_bytes)) == 108
    out = tmp_path / "kalender.html"
    result = runner.invoke(comms_cli(), [*base, "--format", "html", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Kalender 2027" in out.read_text(encoding="utf-8")
    help_text = runner.invoke(comms_cli(), ["calendar", "--help"]).output
    assert "Example:" in help_text
    assert "comms calendar --year 2027" in help_text

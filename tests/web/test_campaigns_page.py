"""The campaigns pages through TestClient: the list with next dates and warnings, a year's
preview, and planning that changes nothing until it is confirmed (the engine of `comms plan`)."""

from __future__ import annotations

import re
import textwrap
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import select

from comms.config import Settings
from comms.store.db import session_scope
from comms.store.models import AuditEvent, Post
from tests.factories import KARNEVAL_DAGEN, karneval, write_karneval

NEXT_YEAR = datetime.now(ZoneInfo("Europe/Copenhagen")).year + 1
UNDATED = """
    title = "Kulturnat"
    focus_area = "byliv"
    [event]
    date = { type = "explicit", dates = { 2020 = [2020-10-09] } }
    [[steps]]
    name = "dagen"
    offset_days = 0
    time = "12:00"
    channels = ["hjemmeside"]
    audience = "alle"
    template = "karneval/dagen"
"""


def write_campaigns(settings: Settings, *, time: str = "08:00", dagen: str = "") -> None:
    folder = settings.campaigns_dir
    folder.mkdir(exist_ok=True)
    (folder / "kulturnat.toml").write_text(textwrap.dedent(UNDATED), encoding="utf-8")
    write_karneval(
        folder,
        settings.templates_dir,
        _karneval(time=time),
        optakt="Karneval {{ event.date | dato }}!",
        dagen=dagen or KARNEVAL_DAGEN,
    )


def _karneval(*, time: str = "08:00", dagen: str = "kommune-x") -> str:
    return karneval(
        optakt=["hjemmeside", "kommune-x"],
        dagen=[dagen],
        time=time,
        focus_area="natteliv",
        link=False,
    )


@pytest.fixture
def eva(client: Any, site: Settings) -> Any:
    """An editor who has opened the campaigns page, with the campaigns written."""
    write_campaigns(site)
    browser = client("eva")
    browser.get("/campaigns")
    return browser


def plan(browser: Any, campaign: str = "karneval") -> Any:
    """Ask for next year's plan of `campaign` ("": every campaign): the preview page."""
    return browser.post("/campaigns/plan", {"year": str(NEXT_YEAR), "campaign": campaign})


def confirm(browser: Any, digest: str, **options: Any) -> Any:
    """Confirm next year's karneval plan that the preview with `digest` showed."""
    form = {"year": str(NEXT_YEAR), "campaign": "karneval", "digest": digest}
    return browser.post("/campaigns/plan/confirm", form, **options)


def digest_of(preview: Any) -> str:
    """The digest of what a plan preview showed, as its confirm form carries it."""
    found = re.search(r'name="digest" value="([0-9a-f]+)"', preview.text)
    assert found is not None
    return found.group(1)


def planned(settings: Settings) -> list[Post]:
    with session_scope(settings.database_url) as session:
        return list(session.exec(select(Post).where(Post.source == "plan")).all())


def test_the_list_shows_focus_areas_next_dates_and_the_undated_warning(client, site: Settings):
    write_campaigns(site)
    page = client("vera").get("/campaigns")  # a viewer reads
    assert page.status_code == 200
    row = re.search(r'<tr data-campaign="karneval">.*?</tr>', page.text, re.S)
    assert row is not None
    assert "natteliv" in row.group(0)
    assert re.search(r"\d{1,2}\. \w+ 20\d\d", row.group(0))  # a Danish date
    undated = re.search(r'<tr data-campaign="kulturnat">.*?</tr>', page.text, re.S)
    assert undated is not None
    assert "Ingen dato i" in undated.group(0)
    assert "explicit dates not configured" in undated.group(0)
    assert 'id="plan-form"' not in page.text  # a viewer does not plan
    assert 'href="/campaigns"' in page.text  # in the menu


def test_broken_campaign_files_are_listed_not_a_crash(client, site: Settings):
    write_campaigns(site)
    (site.campaigns_dir / "ødelagt.toml").write_text("title = \n", encoding="utf-8")
    page = client("vera").get("/campaigns")
    assert page.status_code == 200
    assert 'id="campaign-errors"' in page.text
    assert "ødelagt.toml" in page.text


def test_a_years_preview_shows_every_post_with_its_count(client, site: Settings):
    write_campaigns(site)
    page = client("vera").get(f"/campaigns/karneval/{NEXT_YEAR}")
    assert page.status_code == 200
    assert page.text.count("<li data-key=") == 3  # optakt on two channels, dagen on one
    assert "af 280 tegn" in page.text  # X counts as X does
    assert "Karneval " in page.text
    assert client("vera").get(f"/campaigns/ukendt/{NEXT_YEAR}").status_code == 404
    undated = client("vera").get(f"/campaigns/kulturnat/{NEXT_YEAR}")
    assert 'id="undated"' in undated.text
    assert planned(site) == []


def test_a_preview_that_fails_lint_says_why(client, site: Settings):
    write_campaigns(site, dagen="x" * 300)
    page = client("eva").get(f"/campaigns/karneval/{NEXT_YEAR}")
    assert page.status_code == 200
    assert 'id="lint-problems"' in page.text
    assert "300 of 280" in page.text


def test_a_preview_shows_readability_advice_under_its_post(client, site: Settings):
    write_campaigns(site, dagen="I dag er det karneval! #aalborgkarneval")
    page = client("eva").get(f"/campaigns/karneval/{NEXT_YEAR}")
    assert 'id="lint-problems"' not in page.text  # advice, not an error
    dagen = re.search(r'<li data-key="[^"]*/dagen/[^"]*">.*?</li>\n', page.text, re.S)
    assert dagen is not None
    assert 'class="advice">Råd: Skriv hashtags' in dagen.group(0)
    assert "#aalborgkarneval" in dagen.group(0)


def test_planning_changes_nothing_until_it_is_confirmed(client, site: Settings):
    write_campaigns(site)
    eva = client("eva")
    eva.get(f"/campaigns/karneval/{NEXT_YEAR}")
    preview = plan(eva)
    assert preview.status_code == 200, preview.text
    assert "3 opslag tilføjes" in preview.text
    assert f"karneval/{NEXT_YEAR}/" in preview.text
    assert planned(site) == []  # a preview is a dry run
    done = confirm(eva, digest_of(preview))
    assert done.status_code == 200
    assert 'id="plan-done"' in done.text
    assert "3 opslag tilføjet" in done.text
    posts = planned(site)
    assert len(posts) == 3
    assert {p.state for p in posts} == {"draft"}  # require_approval: drafts wait for approval
    with session_scope(site.database_url) as session:
        actors = set(
            session.exec(sa.select(AuditEvent.actor).where(AuditEvent.action == "plan:add"))
            .scalars()
            .all()
        )
    assert actors == {"eva"}
    again = plan(eva)
    assert 'id="plan-nothing"' in again.text


def test_a_confirm_after_the_files_changed_writes_nothing_and_shows_the_new_changes(
    eva, site: Settings
):
    digest = digest_of(plan(eva))
    changed = _karneval(dagen="hjemmeside")
    (site.campaigns_dir / "karneval.toml").write_text(changed, encoding="utf-8")
    stale = confirm(eva, digest)
    assert stale.status_code == 200
    assert "ikke de samme som før" in stale.text
    assert 'id="confirm-form"' in stale.text
    assert planned(site) == []


def test_planning_all_campaigns_with_an_undated_one_is_refused(eva, site: Settings):
    refused = plan(eva, campaign="")
    assert refused.status_code == 409
    assert "Ingen dato i" in refused.text
    assert planned(site) == []


def test_viewers_and_other_origins_cannot_plan(client, eva, site: Settings):
    vera = client("vera")
    vera.get("/campaigns")
    assert vera.post("/campaigns/plan", {"year": str(NEXT_YEAR)}).status_code == 403
    foreign = confirm(eva, "x", origin="https://evil.example")
    assert foreign.status_code == 403
    assert eva.post("/campaigns/plan", {"year": "tyve"}).status_code == 400
    assert planned(site) == []


def test_a_campaigns_problem_names_its_file_not_the_servers_folders(client, site: Settings):
    write_campaigns(site)
    broken = _karneval(time="08:00").replace('"kommune-x"]', '"ukendt"]')
    (site.campaigns_dir / "karneval.toml").write_text(broken, encoding="utf-8")
    page = client("vera").get(f"/campaigns/karneval/{NEXT_YEAR}").text
    assert "ukendt" in page
    assert site.path is not None
    assert str(site.path.parent) not in page
    assert str(site.campaigns_dir) not in page

"""Planning: campaign files to queued posts, idempotent re-planning, lint before the queue."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import select

from comms.campaigns.loader import CampaignSet
from comms.errors import LintError
from comms.plan import build_posts, sync
from comms.store.db import session_scope
from comms.store.models import Post, PostState
from tests.factories import KARNEVAL_OPTAKT, karneval, write_karneval


@pytest.fixture
def workspace(make_settings, tmp_path):
    def write(time: str = "08:00", optakt: str = KARNEVAL_OPTAKT):
        toml = karneval(optakt=["hjemmeside", "stub"], dagen=["stub"], time=time)
        write_karneval(tmp_path / "campaigns", tmp_path / "templates", toml, optakt=optakt)

    write()
    settings = make_settings('\n[lint]\nbrand = { "Tryk Aalborg" = "Tryg Aalborg" }\n')
    return settings, write


def plan(settings, year=2027):
    campaigns = CampaignSet.load(settings.campaigns_dir)
    posts = build_posts(settings, campaigns, year)
    with session_scope(settings.database_url) as session:
        return sync(
            session,
            posts,
            year=year,
            campaigns=["karneval"],
            require_approval=settings.require_approval,
            actor="anne",
        )


def posts_by_key(settings) -> dict[str, Post]:
    with session_scope(settings.database_url) as session:
        return {p.plan_key: p for p in session.exec(select(Post)).all()}


def test_plan_creates_drafts_with_local_times_in_utc(workspace):
    settings, _ = workspace
    changes = plan(settings)
    assert len(changes.added) == 3
    posts = posts_by_key(settings)
    optakt = posts["karneval/2027/2027-05-29/optakt/hjemmeside"]
    assert optakt.state == PostState.DRAFT
    assert optakt.scheduled_at == datetime(2027, 5, 22, 8, 0, tzinfo=UTC)  # 10:00 CEST
    assert optakt.text.startswith("Karneval 29. maj 2027: https://www.aalborg.dk/karneval?")
    assert "utm_source=hjemmeside" in optakt.text
    assert "utm_campaign=karneval" in optakt.text
    assert "utm_source=stub" in posts["karneval/2027/2027-05-29/optakt/stub"].text
    assert posts["karneval/2027/2027-05-29/dagen/stub"].text == "I dag er det lørdag!"
    assert optakt.focus_area == "Et trygt natteliv"


def test_replanning_unchanged_changes_nothing(workspace):
    settings, _ = workspace
    plan(settings)
    again = plan(settings)
    assert (again.added, again.updated, again.removed, again.unchanged) == ([], [], [], 3)


def test_edit_changes_only_unpublished_posts(workspace):
    settings, write = workspace
    plan(settings)
    keys = posts_by_key(settings)
    url = settings.database_url
    with session_scope(url) as session:
        published = session.get(Post, keys["karneval/2027/2027-05-29/optakt/hjemmeside"].id)
        published.state = PostState.PUBLISHED
        approved = session.get(Post, keys["karneval/2027/2027-05-29/optakt/stub"].id)
        approved.state = PostState.QUEUED
        session.add_all([published, approved])
    write(optakt="Nyt: karneval {{ event.date | dato }}")
    changes = plan(settings)
    assert changes.updated == ["karneval/2027/2027-05-29/optakt/stub"]
    assert changes.back_to_draft == ["karneval/2027/2027-05-29/optakt/stub"]
    assert changes.locked == ["karneval/2027/2027-05-29/optakt/hjemmeside (published)"]
    after = posts_by_key(settings)
    assert after["karneval/2027/2027-05-29/optakt/hjemmeside"].text.startswith("Karneval")
    assert after["karneval/2027/2027-05-29/optakt/stub"].text == "Nyt: karneval 29. maj 2027"
    assert after["karneval/2027/2027-05-29/optakt/stub"].state == PostState.DRAFT


def test_removed_step_cancels_its_unpublished_posts(workspace, tmp_path):
    settings, _ = workspace
    plan(settings)
    path = tmp_path / "campaigns" / "karneval.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: text.rindex("[[steps]]")], encoding="utf-8")
    changes = plan(settings)
    assert changes.removed == ["karneval/2027/2027-05-29/dagen/stub"]
    assert posts_by_key(settings)["karneval/2027/2027-05-29/dagen/stub"].state == "cancelled"


def test_lint_failure_writes_nothing(workspace):
    settings, write = workspace
    write(optakt="Tryk Aalborg ønsker god fest")
    with pytest.raises(LintError, match="Tryg Aalborg") as info:
        plan(settings)
    assert "karneval.toml:" in str(info.value)
    assert posts_by_key(settings) == {}


def test_spring_forward_time_moves_past_the_gap(workspace):
    settings, write = workspace
    write(time="02:30")
    campaigns = CampaignSet.load(settings.campaigns_dir)
    posts = build_posts(settings, campaigns, 2027)
    # 2027-05-29 is in summer time: no gap; 02:30 CEST = 00:30 UTC
    dagen = next(p for p in posts if p.step == "dagen")
    assert dagen.scheduled_at == datetime(2027, 5, 29, 0, 30, tzinfo=UTC)
    assert not dagen.dst_adjusted


def test_no_approval_needed_queues_at_once(make_settings, workspace):
    settings, _ = workspace
    settings = make_settings(approval=False)
    plan(settings)
    assert {p.state for p in posts_by_key(settings).values()} == {PostState.QUEUED}

"""Planning as an officer runs it: `comms plan`, `campaigns validate` and `preview` on real files.

Each test works in a copy of the shipped campaigns, templates and example config in tmp_path,
with the queue in a real SQLite file there.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from comms.store.db import dispose_all
from tests.cli import comms_cli, run_comms

cli = comms_cli()
DAGEN_FB = "karneval/2027/2027-05-29/dagen/facebook"


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def comms(*args: str, code: int = 0) -> subprocess.CompletedProcess:
    """`comms ARGS` in its own process, as a user runs it (domain errors are one line, exit 1)."""
    result = run_comms(*args, timeout=120)
    assert result.returncode == code, result.stdout + result.stderr
    return result


def posts(campaign: str = "karneval") -> dict[str, dict]:
    """The queue's posts of a campaign by plan key, as `queue list --format json` shows them."""
    listed = run("queue", "list", "--campaign", campaign, "--format", "json").output
    return {p["plan_key"]: p for p in json.loads(listed)}


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def files(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its content."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# --- a cancelled post stays cancelled -------------------------------------------------------


def test_cancelled_post_stays_cancelled_through_replans(project):
    run("plan", "--year", "2027", "--campaign", "karneval")
    post_id = posts()[DAGEN_FB]["id"]
    run("cancel", str(post_id), "--reason", "the parade is cancelled")

    again = run("plan", "--year", "2027", "--campaign", "karneval")
    assert posts()[DAGEN_FB]["state"] == "cancelled"
    assert "need approval again" not in again.output

    # the step's time changes: the cancelled post would change, and is left alone
    edit(project / "campaigns" / "karneval.toml", 'time = "08:00"', 'time = "07:30"')
    changed = run("plan", "--year", "2027", "--campaign", "karneval")
    assert "1 post(s) changed in the files but are cancelled, left alone:" in changed.output
    assert f"  {DAGEN_FB}" in changed.output
    assert "need approval again" not in changed.output
    after = posts()
    assert after[DAGEN_FB]["state"] == "cancelled"
    assert after["karneval/2027/2027-05-29/dagen/x"]["local_time"] == "2027-05-29 07:30"

    run("approve", "--campaign", "karneval", "--year", "2027")
    assert posts()[DAGEN_FB]["state"] == "cancelled"


def test_post_removed_with_its_step_comes_back_with_the_step(project):
    """Plan's own cancelling (the step was removed) is undone when the step is back."""
    path = project / "campaigns" / "karneval.toml"
    whole = path.read_text(encoding="utf-8")
    run("plan", "--year", "2027", "--campaign", "karneval")
    path.write_text(whole[: whole.rindex("# Selve dagen")], encoding="utf-8")
    removed = run("plan", "--year", "2027", "--campaign", "karneval")
    assert "were cancelled (removed from the campaign)" in removed.output
    assert posts()[DAGEN_FB]["state"] == "cancelled"
    path.write_text(whole, encoding="utf-8")
    run("plan", "--year", "2027", "--campaign", "karneval")
    back = posts()[DAGEN_FB]
    assert (back["state"], back["last_error"]) == ("draft", None)


# --- a dry run writes nothing ---------------------------------------------------------------


def test_dry_run_validate_and_preview_write_nothing(project):
    before = files(project)
    dry = run("plan", "--year", "2027", "--dry-run")
    assert "post(s) would be added" in dry.output
    run("campaigns", "validate")
    run("campaigns", "validate", "--year", "2027")
    run("campaigns", "preview", "karneval", "--year", "2027")
    dispose_all()
    assert files(project) == before
    assert not (project / "comms.db").exists()
    assert not (project / "site").exists()


def test_dry_run_on_a_queue_reports_and_changes_nothing(project):
    run("plan", "--year", "2027", "--campaign", "karneval")
    before = posts()
    edit(project / "campaigns" / "karneval.toml", 'time = "08:00"', 'time = "07:30"')
    dry = run("plan", "--year", "2027", "--campaign", "karneval", "--dry-run")
    assert "2 post(s) would be updated:" in dry.output
    assert posts() == before
    real = run("plan", "--year", "2027", "--campaign", "karneval")
    assert "2 post(s) were updated:" in real.output


# --- a campaign without a date in the year --------------------------------------------------

SIMPLE = """
title = "{title}"
focus_area = "Tryghed i hjemmet"
[variables]
link = "https://tryg.aalborg.dk/indbrud"
[event]
date = {rule}
[[steps]]
name = "dagen"
offset_days = 0
time = "09:00"
channels = ["hjemmeside"]
audience = "borgere"
template = "enkel/dagen"
"""


def campaign(project: Path, slug: str, rule: str, title: str = "Indbrud") -> Path:
    """Write a one-step campaign with this date rule (and its template)."""
    folder = project / "templates" / "enkel"
    folder.mkdir(exist_ok=True)
    (folder / "dagen.j2").write_text("{{ title }}: {{ event.date | dato }}. {{ link }}\n")
    path = project / "campaigns" / f"{slug}.toml"
    path.write_text(SIMPLE.format(title=title, rule=rule), encoding="utf-8")
    return path


def test_campaign_without_a_date_is_a_warning_and_the_others_are_planned(project):
    campaign(project, "kun-2026", '{ type = "explicit", dates = { 2026 = [2026-04-02] } }')
    campaign(
        project,
        "bededag",
        '{ type = "valid", rule = { type = "easter", offset_days = 26 }, to_year = 2023 }',
    )
    campaign(
        project, "efter-kun-2026", '{ type = "relative", base = "event:kun-2026", offset_days = 7 }'
    )
    result = run("plan", "--year", "2027")
    assert "were added" in result.output
    assert posts()  # karneval is planned
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 3, result.stderr
    kun = next(w for w in warnings if w.startswith("warning: kun-2026 "))
    assert "kun-2026 has no date in 2027, so it is not planned" in kun
    assert "kun-2026.toml:" in kun
    assert "explicit dates not configured for 2027" in kun
    assert "add `2027 = [2027-MM-DD, …]` to `dates`" in kun
    bededag = next(w for w in warnings if w.startswith("warning: bededag "))
    assert "the rule ended in 2023" in bededag
    assert "raise `to_year`" in bededag
    after = next(w for w in warnings if w.startswith("warning: efter-kun-2026 "))
    assert "kun-2026.toml:" in after
    assert "explicit dates not configured for 2027" in after
    assert "3 campaign(s) without a date in 2027 not planned" in result.output
    assert posts("kun-2026") == {}

    # the year that has the date is planned as usual
    planned = run("plan", "--year", "2026", "--campaign", "kun-2026")
    assert "1 post(s) were added" in planned.output
    assert list(posts("kun-2026")) == ["kun-2026/2026/2026-04-02/dagen/hjemmeside"]
    # and is left alone when a later edit takes the year away
    campaign(project, "kun-2026", '{ type = "explicit", dates = { 2025 = [2025-04-02] } }')
    later = run("plan", "--year", "2026", "--campaign", "kun-2026")
    assert "warning: kun-2026 has no date in 2026" in later.stderr
    assert [p["state"] for p in posts("kun-2026").values()] == ["draft"]


def test_validate_warns_for_a_campaign_without_a_date_in_its_default_years(project):
    campaign(
        project,
        "bededag",
        '{ type = "valid", rule = { type = "easter", offset_days = 26 }, to_year = 2023 }',
    )
    result = run("campaigns", "validate")
    assert result.stdout.startswith("ok: ")
    assert "2 campaign year(s) without a date (see the warnings)" in result.stdout
    warning = "warning: bededag has no date in {}, so its posts are not checked: "
    this = result.stdout.split("for ")[-1][:4]
    assert warning.format(this) in result.stderr
    assert warning.format(int(this) + 1) in result.stderr
    assert "the rule ended in 2023" in result.stderr


@pytest.mark.slow  # several comms processes, as a user runs them
def test_unreadable_rule_still_stops_all_planning(project):
    campaign(project, "a", '{ type = "relative", base = "event:b" }')
    campaign(project, "b", '{ type = "relative", base = "event:a" }')
    result = comms("plan", "--year", "2027", code=1)
    assert "go round in a circle" in result.stderr
    assert not (project / "comms.db").exists()
    campaign(project, "b", '{ type = "fixd", month = 5, day = 1 }')
    result = comms("campaigns", "validate", code=1)
    assert "unknown type 'fixd'" in result.stderr


# --- a step placed from another campaign's event --------------------------------------------

PAASKE_STEP = """
[[steps]]
name = "påske"
event = "event:{ref}"
offset_days = -1
align = {{ weekday = "mandag", direction = "on_or_before" }}
time = "10:00"
channels = ["hjemmeside"]
audience = "borgere"
template = "enkel/dagen"
"""


def test_step_placed_from_another_campaigns_event(project):
    # skærtorsdag 2027 is Thursday 25 March; the day before, snapped back to a Monday: 22 March
    campaign(project, "paaskeindbrud", '{ type = "easter", offset_days = -3 }', title="Påske")
    path = campaign(project, "nabohjaelp", '{ type = "fixed", month = 6, day = 1 }')
    path.write_text(path.read_text() + PAASKE_STEP.format(ref="paaskeindbrud"))
    shown = run("campaigns", "preview", "nabohjaelp", "--year", "2027", "--format", "json")
    by_key = {p["key"]: p for p in json.loads(shown.output)}
    assert set(by_key) == {
        "nabohjaelp/2027/2027-06-01/dagen/hjemmeside",
        "nabohjaelp/2027/2027-03-25/påske/hjemmeside",
    }
    step = by_key["nabohjaelp/2027/2027-03-25/påske/hjemmeside"]
    assert step["local_time"] == "2027-03-22 10:00"
    assert step["text"].startswith("Indbrud: 25. marts 2027.")  # event is the other campaign's
    assert by_key["nabohjaelp/2027/2027-06-01/dagen/hjemmeside"]["local_time"] == (
        "2027-06-01 09:00"
    )
    run("plan", "--year", "2027", "--campaign", "nabohjaelp")
    assert posts("nabohjaelp")["nabohjaelp/2027/2027-03-25/påske/hjemmeside"]["state"] == "draft"


@pytest.mark.slow  # several comms processes, as a user runs them
def test_step_event_naming_no_campaign_is_a_located_error(project):
    campaign(project, "paaskeindbrud", '{ type = "easter", offset_days = -3 }')
    path = campaign(project, "nabohjaelp", '{ type = "fixed", month = 6, day = 1 }')
    path.write_text(path.read_text() + PAASKE_STEP.format(ref="paaskeindbrd"))
    line = path.read_text().splitlines().index('event = "event:paaskeindbrd"') + 1
    result = comms("campaigns", "validate", code=1)
    assert f"nabohjaelp.toml:{line}: event:paaskeindbrd names no campaign" in result.stderr
    assert "paaskeindbrud" in result.stderr  # did you mean
    path.write_text(path.read_text().replace('"event:paaskeindbrd"', '"paaskeindbrud"'))
    result = comms("campaigns", "validate", code=1)
    assert "event = 'paaskeindbrud' does not name a campaign" in result.stderr
    assert 'write event = "event:SLUG"' in result.stderr


def test_step_event_without_a_date_leaves_its_campaign_out_with_a_warning(project):
    campaign(project, "paaskeindbrud", '{ type = "explicit", dates = { 2026 = [2026-04-01] } }')
    path = campaign(project, "nabohjaelp", '{ type = "fixed", month = 6, day = 1 }')
    path.write_text(path.read_text() + PAASKE_STEP.format(ref="paaskeindbrud"))
    result = run("plan", "--year", "2027")
    assert "warning: nabohjaelp has no date in 2027, so it is not planned: " in result.stderr
    assert "paaskeindbrud.toml:" in result.stderr
    assert posts("nabohjaelp") == {}


# --- small ones -----------------------------------------------------------------------------


@pytest.mark.slow  # several comms processes, as a user runs them
def test_init_example_works_in_an_empty_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COMMS_CONFIG", raising=False)
    first = comms("init")
    assert "wrote comms.toml" in first.stdout
    validated = comms("campaigns", "validate")
    # the example campaign's template and the news feed's two
    assert validated.stdout.startswith("ok: 1 campaign(s), 3 template(s), 2 post(s)")
    # an officer's own folders are never overwritten
    (tmp_path / "campaigns" / "eksempel.toml").write_text("# mine\n", encoding="utf-8")
    again = comms("init")
    assert f"{tmp_path / 'campaigns'} exists; left as it is" in again.stdout
    assert (tmp_path / "campaigns" / "eksempel.toml").read_text(encoding="utf-8") == "# mine\n"


@pytest.mark.slow  # several comms processes, as a user runs them
def test_validate_lint_problems_do_not_say_nothing_was_planned(project):
    edit(project / "templates" / "karneval" / "dagen.j2", "Godmorgen", "Tryk Aalborg: godmorgen")
    validated = comms("campaigns", "validate", "--year", "2027", code=1)
    assert "Tryg Aalborg" in validated.stderr
    assert "karneval.toml:" in validated.stderr
    assert "nothing was planned" not in validated.stderr + validated.stdout
    planned = comms("plan", "--year", "2027", code=1)
    assert "nothing was planned" in planned.stderr


def test_report_of_one_campaign_says_kampagne_in_the_singular(project):
    from datetime import UTC, datetime

    from comms.config import load_settings
    from comms.store.db import session_scope
    from comms.store.models import MetricSample, Post

    run("plan", "--year", "2027", "--campaign", "karneval")
    post_id = posts()[DAGEN_FB]["id"]
    url = load_settings(project / "comms.toml").database_url
    with session_scope(url) as session:  # the daemon's and the metrics job's part, written here
        post = session.get(Post, post_id)
        post.state, post.published_at = "published", datetime(2027, 5, 29, 6, tzinfo=UTC)
        session.add(post)
        session.add(MetricSample(post_id=post_id, reach=1200, impressions=1500))
    out = project / "rapport.html"
    run(
        "report",
        "--from",
        "2027-05-01",
        "--to",
        "2027-05-31",
        "--format",
        "html",
        "--out",
        str(out),
    )
    html = out.read_text(encoding="utf-8")
    assert "samlet rækkevidde for 1 kampagne; størst er" in html
    assert "1 kampagner" not in html

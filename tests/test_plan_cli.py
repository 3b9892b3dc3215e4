"""Planning as an officer runs it: `comms plan`, `campaigns validate` and `preview` on real files.

Each test works in a copy of the shipped campaigns, templates and example config in tmp_path,
with the queue in a real SQLite file there.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from comms.cli import _register, cli
from comms.db import dispose_all

ROOT = Path(__file__).resolve().parent.parent
DAGEN_FB = "karneval/2027/2027-05-29/dagen/facebook"


@pytest.fixture(scope="module", autouse=True)
def _commands():
    if "plan" not in cli.commands:
        _register()


@pytest.fixture
def project(tmp_path, monkeypatch):
    """The shipped campaigns, templates and example config, in tmp_path."""
    shutil.copytree(ROOT / "campaigns", tmp_path / "campaigns")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    shutil.copy(ROOT / "config.example.toml", tmp_path / "comms.toml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COMMS_CONFIG", raising=False)
    monkeypatch.setenv("COMMS_USER", "anne")
    return tmp_path


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
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

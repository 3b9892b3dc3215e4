"""The command line as a user meets it: a config in a folder, real SQLite, exit codes, text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from tests.cli import comms_cli, run_comms

ROOT = Path(__file__).resolve().parent.parent
cli = comms_cli()


def run(*args: str, ok: bool = True):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_shipped_campaigns_validate(project):
    result = run("campaigns", "validate", "--year", "2026", "--year", "2027")
    assert result.output.startswith("ok: ")
    assert "campaign(s)" in result.output


def test_validate_names_file_and_line_and_writes_nothing(project):
    bad = project / "campaigns" / "karneval.toml"
    lines = bad.read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines, 1) if line.startswith("audience"))
    lines[number - 1] = 'audiense = "unge"'
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["campaigns", "validate"])
    assert result.exit_code == 1
    assert f"karneval.toml:{number}" in result.output
    assert not (project / "comms.db").exists()


def test_preview_shows_danish_local_times(project):
    result = run("campaigns", "preview", "karneval", "--year", "2027")
    assert "2027" in result.output
    assert "maj 2027 kl." in result.output
    assert "hjemmeside" in result.output


def test_plan_approve_queue_and_daemon(project):
    first = run("plan", "--year", "2027")
    assert "were added" in first.output
    again = run("plan", "--year", "2027")
    assert "were added" not in again.output
    assert "unchanged" in again.output
    listed = run("queue", "list", "--state", "draft", "--campaign", "karneval", "--format", "json")
    assert '"state": "draft"' in listed.output
    approved = run("approve", "--campaign", "karneval", "--year", "2027")
    assert approved.output.startswith("approved ")
    assert (
        run(
            "queue", "list", "--state", "draft", "--campaign", "karneval", "--format", "json"
        ).output.strip()
        == "[]"
    )


def test_cancel_and_reschedule_and_errors(project):
    run("plan", "--year", "2027", "--campaign", "karneval")
    assert "cancelled 1" in run("cancel", "1", "--reason", "test").output
    moved = run("reschedule", "2", "2027-05-28 09:30")
    assert "28. maj 2027 kl. 9.30" in moved.output
    again = CliRunner().invoke(cli, ["cancel", "1"])
    assert again.exit_code == 1
    assert "only draft or queued" in str(again.exception or again.output)


def test_unknown_state_is_a_clear_error(project):
    result = run_comms("queue", "list", "--state", "pending", cwd=project)
    assert result.returncode == 1
    assert "unknown state 'pending'" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_config_is_one_line_with_file_and_line(project):
    (project / "comms.toml").write_text(
        textwrap.dedent("""
        timezone = "Europe/Copenhagen"
        [channels.facebook]
        type = "facebook"
        token = "EAAB-secret-value"
        """),
        encoding="utf-8",
    )
    result = run_comms("channels", "check", cwd=project)
    assert result.returncode == 1
    assert "comms.toml:5" in result.stderr
    assert "EAAB-secret-value" not in result.stderr
    assert "token_env" in result.stderr


def test_every_command_has_help_with_an_example():
    def walk(group, prefix):
        for name, command in group.commands.items():
            yield f"{prefix} {name}".strip(), command
            if hasattr(command, "commands"):
                yield from walk(command, f"{prefix} {name}")

    for name, command in walk(cli, ""):
        assert "Example" in (command.help or ""), f"`comms {name} --help` has no example"


def test_readme_documents_every_command_and_the_example_config_every_key():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in cli.commands:
        assert f"comms {name}" in readme, f"README does not mention `comms {name}`"
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    from comms.config import DaemonSettings

    for key in [
        *DaemonSettings.__dataclass_fields__,
        "timezone",
        "url",
        "require_approval",
        "campaigns_dir",
        "templates_dir",
        "brand",
        "domains",
        "medium",
        "schedule",
    ]:
        assert f"{key} =" in example, f"config.example.toml does not document {key}"


def comms(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m comms ARGS` in the project folder: a separate process, as a user runs it."""
    return run_comms(*args, cwd=project, env={**os.environ, "COMMS_USER": "anne"})


def post_state(project: Path, post_id: int) -> str:
    posts = json.loads(run("queue", "list", "--format", "json").output)
    return next(p["state"] for p in posts if p["id"] == post_id)


def test_unknown_post_ids_are_an_error_naming_them(project):
    run("plan", "--year", "2027", "--campaign", "karneval")
    for args, message in (
        (("approve", "99999"), "no post with id 99999"),
        (("approve", "1", "99998", "99999"), "no posts with ids 99998, 99999"),
        (("cancel", "1", "99999"), "no post with id 99999"),
        (("reschedule", "99999", "2027-05-28 09:30"), "no post with id 99999"),
        (("queue", "show", "99999"), "no post with id 99999"),
    ):
        result = comms(project, *args)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert f"Error: {message}" in result.stderr, args
        assert "Traceback" not in result.stderr
    assert post_state(project, 1) == "draft"  # neither approved nor cancelled halfway


def test_approving_a_post_that_is_not_a_draft_names_it(project):
    run("plan", "--year", "2027", "--campaign", "karneval")
    run("approve", "1")
    again = run("approve", "1", "2")
    assert "approved 1 post(s)" in again.output
    assert "post 1 is queued, not a draft; unchanged." in again.output


def _local_text(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("Europe/Copenhagen")).strftime("%Y-%m-%d %H:%M")


@pytest.mark.slow  # several comms processes, as a user runs them
def test_rescheduling_into_the_past_says_what_will_happen(project):
    run("plan", "--year", "2027", "--campaign", "karneval")
    run("approve", "1")
    now = datetime.now(UTC)
    soon = comms(project, "reschedule", "1", _local_text(now - timedelta(minutes=10)))
    assert soon.returncode == 0, soon.stderr
    assert "warning: post 1 was due " in soon.stderr
    assert "a running daemon publishes it at once if it runs before" in soon.stderr
    assert "(the 60-minute grace window); after that it becomes missed" in soon.stderr
    late = comms(project, "reschedule", "1", _local_text(now - timedelta(days=2)))
    assert "longer ago than the 60-minute grace window: the daemon marks it missed" in late.stderr
    draft = comms(project, "reschedule", "2", _local_text(now - timedelta(days=2)))
    assert "if approved, the daemon marks it missed" in draft.stderr
    future = comms(project, "reschedule", "2", _local_text(now + timedelta(days=2)))
    assert future.returncode == 0
    assert "warning" not in future.stderr


@pytest.mark.slow  # several comms processes, as a user runs them
def test_planning_and_approving_posts_whose_time_passed_warn(project):
    planned = comms(project, "plan", "--year", "2020", "--campaign", "karneval")
    assert planned.returncode == 0, planned.stderr
    assert "warning: karneval/2020/" in planned.stderr
    assert "if approved, the daemon marks it missed instead of publishing it" in planned.stderr
    approved = comms(project, "approve", "--campaign", "karneval", "--year", "2020")
    assert approved.returncode == 0
    assert approved.stdout.startswith("approved ")
    assert "warning: post 1 was due " in approved.stderr
    assert "the daemon marks it missed instead of publishing it" in approved.stderr
    future = comms(project, "plan", "--year", "2030", "--campaign", "karneval")
    assert "warning" not in future.stderr


def test_times_in_queue_show_and_the_audit_carry_their_zone(project):
    run("plan", "--year", "2027", "--campaign", "karneval")
    run("reschedule", "2", "2027-01-10 09:30")
    shown = run("queue", "show", "2").output
    assert "scheduled: 2027-01-10 09:30:00 CET (2027-01-10 09:30 local wall time)" in shown
    assert "2027-05-15 19:00 CEST ->" in shown  # the reschedule audit detail, local and labelled
    assert "2027-01-10 09:30 CET" in shown
    assert "+00:00" not in shown
    listed = run("queue", "list").output
    assert "local times in Europe/Copenhagen" in listed


@pytest.mark.slow  # several comms processes, as a user runs them
def test_exit_statuses_are_as_the_readme_says(project, monkeypatch, capsys):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "exit with\nstatus 1" in readme or "exit with status 1" in readme
    assert "exits\nwith status 2" in readme or "exits with status 2" in readme
    for args in (("approve",), ("nosuchcommand",), ("plan", "--year", "abc")):
        usage = comms(project, *args)
        assert usage.returncode == 2, (args, usage.stderr)
        assert "Usage: " in usage.stderr, args
    domain = comms(project, "queue", "show", "99999")
    assert domain.returncode == 1
    assert "Usage: " not in domain.stderr

    from comms import cli as cli_module
    from comms import config

    def broken(*_args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(config, "load_settings", broken)  # a bug: not a CommsError
    monkeypatch.setattr(sys, "argv", ["comms", "campaigns", "list"])
    with pytest.raises(SystemExit) as exited:
        cli_module.main()
    assert exited.value.code == 3
    assert "this is a bug in comms" in capsys.readouterr().err


def test_the_daemon_publishes_the_site_without_its_state_in_the_public_folder(project):
    run("plan", "--year", "2027", "--campaign", "karneval")
    posts = json.loads(run("queue", "list", "--channel", "hjemmeside", "--format", "json").output)
    post_id = str(posts[0]["id"])
    run("reschedule", post_id, _local_text(datetime.now(UTC) - timedelta(minutes=2)))
    run("approve", post_id)
    daemon = comms(project, "daemon", "--once")
    assert daemon.returncode == 0, daemon.stderr
    assert "published 1," in daemon.stderr
    site = project / "site"
    published = sorted(p.relative_to(site).parts[0] for p in site.rglob("*") if p.is_file())
    assert published == ["feed.xml", "index.html", "news"]
    assert (project / "site-state" / "entries.json").exists()

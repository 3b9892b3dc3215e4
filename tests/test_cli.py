"""The command line as a user meets it: a config in a folder, real SQLite, exit codes, text."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from comms.cli import _register, cli

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", autouse=True)
def _commands():
    if "plan" not in cli.commands:
        _register()


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A copy of the shipped campaigns and templates with the example config, in tmp_path."""
    shutil.copytree(ROOT / "campaigns", tmp_path / "campaigns")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    shutil.copy(ROOT / "config.example.toml", tmp_path / "comms.toml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COMMS_CONFIG", raising=False)
    monkeypatch.setenv("COMMS_USER", "anne")
    return tmp_path


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
    result = subprocess.run(
        [sys.executable, "-m", "comms", "queue", "list", "--state", "pending"],
        capture_output=True,
        text=True,
        cwd=project,
    )
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
    result = subprocess.run(
        [sys.executable, "-m", "comms", "channels", "check"],
        capture_output=True,
        text=True,
        cwd=project,
    )
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

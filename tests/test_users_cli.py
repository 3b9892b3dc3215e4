"""`comms users` as an operator calls it: a real comms process on a real SQLite file."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import run_comms

pytestmark = pytest.mark.slow  # comms processes (and a server), as a user runs them

GOOD = "korrekt hest batteri hæfteklamme"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "comms.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "comms.db"}"\n'
        '[channels.politiets-side]\ntype = "site"\npath = "site"\norganisation = "politi"\n',
        encoding="utf-8",
    )
    return path


def comms(
    config: Path, *args: str, stdin: str = "", user: str = "ops"
) -> subprocess.CompletedProcess:
    env = {**os.environ, "COMMS_CONFIG": str(config), "COMMS_USER": user}
    return run_comms(*args, input=stdin, env=env, timeout=60)


def audit(config: Path) -> list[tuple[str, str, str]]:
    db = config.parent / "comms.db"
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "SELECT actor, action, detail FROM audit_event ORDER BY id"
        ).fetchall()


def test_add_reads_the_password_from_stdin_and_list_shows_no_hash(config):
    added = comms(
        config,
        "users",
        "add",
        "Anna",
        "--role",
        "approver",
        "--organisation",
        "politi",
        "--email",
        "anna@politi.dk",
        stdin=GOOD + "\n",
    )
    assert added.returncode == 0, added.stderr
    assert "added anna (approver, organisation politi)" in added.stdout
    listed = comms(config, "users", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["username"], row["role"], row["organisation"], row["disabled"]) == (
        "anna",
        "approver",
        "politi",
        False,
    )
    table = comms(config, "users", "list").stdout
    assert "anna" in table
    assert "approver" in table
    assert "politi" in table
    for output in (added.stdout + added.stderr, listed.stdout, table):
        assert GOOD not in output
        assert "$argon2" not in output
    assert audit(config) == [("ops", "user:add", "anna rolle=approver organisation=politi")]


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("x7#kP", "for kort"),
        ("password1234", "for almindelig"),
        ("qwertyuiopasdfgh", "for almindelig"),
        ("aaaaaaaaaaaaaaaa", "for almindelig"),
        ("anna-er-den-bedste", "brugernavnet"),
    ],
)
def test_a_weak_password_is_refused_with_a_danish_reason_and_no_user_made(config, password, why):
    result = comms(config, "users", "add", "anna", "--role", "editor", stdin=password + "\n")
    assert result.returncode == 1
    assert why in result.stderr
    assert password not in result.stderr
    assert "no users yet" in comms(config, "users", "list").stdout


def test_an_unknown_role_or_a_taken_name_is_refused(config):
    assert comms(config, "users", "add", "bo", "--role", "boss", stdin=GOOD).returncode == 2
    assert comms(config, "users", "add", "bo", "--role", "viewer", stdin=GOOD).returncode == 0
    again = comms(config, "users", "add", "BO", "--role", "admin", stdin=GOOD)
    assert again.returncode == 1
    assert "findes allerede" in again.stderr


def test_an_organisation_no_channel_has_is_warned_about(config):
    result = comms(
        config, "users", "add", "cy", "--role", "editor", "--organisation", "polti", stdin=GOOD
    )
    assert result.returncode == 0
    assert "no channel belongs to organisation 'polti'" in result.stderr


def test_disable_and_reset_password_are_audited_with_the_actor(config):
    comms(config, "users", "add", "anna", "--role", "editor", stdin=GOOD)
    disabled = comms(config, "users", "disable", "anna", user="chef")
    assert disabled.returncode == 0, disabled.stderr
    assert json.loads(comms(config, "users", "list", "--format", "json").stdout)[0]["disabled"]
    reset = comms(
        config, "users", "reset-password", "anna", stdin="et andet langt kodeord\n", user="chef"
    )
    assert reset.returncode == 0, reset.stderr
    actions = [(actor, action) for actor, action, _ in audit(config)]
    assert actions == [
        ("ops", "user:add"),
        ("chef", "user:disable"),
        ("chef", "user:reset-password"),
    ]
    assert all("kodeord" not in (detail or "") for *_, detail in audit(config))


def test_commands_on_a_user_that_does_not_exist_fail_clearly(config):
    for command in (["disable", "nobody"], ["reset-password", "nobody"]):
        result = comms(config, "users", *command, stdin=GOOD)
        assert result.returncode == 1
        assert "ingen bruger ved navn nobody" in result.stderr


def _on_a_terminal(config: Path, args: list[str], answers: list[str]) -> tuple[int, str]:
    """Run comms with a pseudo-terminal as stdin/stdout, typing `answers` at its prompts."""
    import pty
    import select
    import time

    env = {**os.environ, "COMMS_CONFIG": str(config), "COMMS_USER": "ops"}
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "comms", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        close_fds=True,
    )
    os.close(follower)
    seen = b""
    pending = list(answers)
    answered = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 1024)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            if pending and seen[answered:].rstrip().endswith(b":"):  # a new prompt
                os.write(leader, pending.pop(0).encode() + b"\n")
                answered = len(seen)
        elif process.poll() is not None:
            break
    process.wait(timeout=30)
    os.close(leader)
    return process.returncode, seen.decode(errors="replace")


def test_on_a_terminal_the_password_is_asked_twice_without_echo(config):
    code, screen = _on_a_terminal(config, ["users", "add", "eva", "--role", "viewer"], [GOOD, GOOD])
    assert code == 0, screen
    assert "Password:" in screen
    assert "Repeat for confirmation:" in screen
    assert GOOD not in screen  # not echoed
    assert "added eva" in screen


def test_on_a_terminal_two_different_answers_are_asked_again(config):
    answers = [GOOD, GOOD + "x", GOOD, GOOD]
    code, screen = _on_a_terminal(config, ["users", "add", "eva", "--role", "viewer"], answers)
    assert code == 0, screen
    assert "do not match" in screen
    assert "added eva" in screen


def test_a_new_role_keeps_the_organisation_unless_told_otherwise(config):
    comms(
        config, "users", "add", "anna", "--role", "editor", "--organisation", "politi", stdin=GOOD
    )
    assert comms(config, "users", "set-role", "anna", "--role", "approver").returncode == 0

    def row():
        return json.loads(comms(config, "users", "list", "--format", "json").stdout)[0]

    assert (row()["role"], row()["organisation"]) == ("approver", "politi")
    widened = comms(
        config, "users", "set-role", "anna", "--role", "approver", "--all-organisations"
    )
    assert widened.returncode == 0, widened.stderr
    assert row()["organisation"] is None
    assert [a for _, a, _ in audit(config)] == ["user:add", "user:set-role", "user:set-role"]

"""The command table that lets `comms --help` list every command without importing it."""

from __future__ import annotations

import json
import subprocess
import sys

import click
from click.testing import CliRunner

from comms.cli import COMMANDS
from comms.cli.lazy import LazyGroup
from tests.cli import comms_cli, run_comms


def _command_list(group: click.Group, width: int) -> str:
    formatter = click.HelpFormatter(width=width)
    group.format_commands(click.Context(group), formatter)
    return formatter.getvalue()


def test_the_table_names_every_command_with_its_own_one_line_help():
    cli = comms_cli()  # every module registered
    assert set(COMMANDS) == set(cli.commands)
    for name, entry in COMMANDS.items():
        command = cli.commands[name]
        assert entry.short_help == command.get_short_help_str(10**6), name
        assert command.callback is not None
        assert command.callback.__module__ in entry.modules, name


def test_the_help_listed_from_the_table_is_the_help_of_the_commands():
    real = click.Group("comms", commands=dict(comms_cli().commands))
    unloaded = LazyGroup("comms", table=COMMANDS)
    for width in (60, 80, 100, 140):
        assert _command_list(unloaded, width) == _command_list(real, width)
    assert not unloaded.commands  # listing them imported none


def test_help_imports_no_command_module_and_a_command_imports_only_its_own():
    probe = (
        "import json, sys\n"
        "from comms.cli import cli\n"
        "for args in (['--help'], ['db', '--help']):\n"
        "    try:\n"
        "        cli.main(args, prog_name='comms', standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "    loaded = sorted(m for m in sys.modules if m.startswith('comms.cli.'))\n"
        "    print(json.dumps(loaded), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    ).stderr
    after_help, after_db = (json.loads(line) for line in result.splitlines()[-2:])
    assert after_help == ["comms.cli.common", "comms.cli.lazy"]
    assert {"comms.cli.operators", "comms.cli.backups"} <= set(after_db)
    others = {module for entry in COMMANDS.values() for module in entry.modules}
    assert not (others - {"comms.cli.operators", "comms.cli.backups"}) & set(after_db)


def test_a_lazily_loaded_command_runs_with_the_config_option_and_subcommands():
    result = run_comms("--help")
    assert result.returncode == 0
    for name in COMMANDS:
        assert f"  {name} " in result.stdout
    db = run_comms("db", "--help")
    assert db.returncode == 0
    for sub in ("backup", "restore", "upgrade", "current", "settle-restored"):
        assert sub in db.stdout  # the backups module's commands join operators' group
    assert "--config PATH" in run_comms("plan", "--help").stdout
    unknown = CliRunner().invoke(LazyGroup("comms", table=COMMANDS), ["nope"])
    assert unknown.exit_code == 2
    assert "No such command" in unknown.output

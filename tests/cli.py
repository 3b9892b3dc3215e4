"""The `comms` command as the tests call it: one click group with every command registered,
or a process of its own."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import click

from comms.cli import _register, cli


def comms_cli() -> click.Group:
    """The `comms` group with every command module registered (once per process)."""
    if "plan" not in cli.commands:
        _register()
    return cli


def run_comms(*args: str, **options: Any) -> subprocess.CompletedProcess[str]:
    """`python -m comms ARGS` in its own process, as a user runs it; its output as text.

    `options` go to subprocess.run (cwd, env, input, timeout: 120 s unless given).
    """
    options.setdefault("timeout", 120)
    command = [sys.executable, "-m", "comms", *args]
    return subprocess.run(command, capture_output=True, text=True, **options)

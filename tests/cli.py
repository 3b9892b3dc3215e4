"""The `comms` command as the tests call it: one click group with every command registered."""

from __future__ import annotations

import click

from comms.cli import _register, cli


def comms_cli() -> click.Group:
    """The `comms` group with every command module registered (once per process)."""
    if "plan" not in cli.commands:
        _register()
    return cli

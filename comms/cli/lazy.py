"""A click group that imports a command's module only when that command is asked for.

Every `comms` call would otherwise import all ten command modules (and what they import at
the top) before doing anything, `comms --help` included. The group knows each command by a
table entry instead: the modules that build it and its one-line help, which is all `--help`
shows. tests/test_cli_lazy.py checks the table against the real commands, so it cannot drift.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import click


class Entry(NamedTuple):
    """Where a command comes from: modules whose `register(group)` adds it, in this order,
    and its one-line help as `comms --help` lists it."""

    modules: tuple[str, ...]
    short_help: str


class LazyGroup(click.Group):
    """Commands from `table`, each imported the first time it is run or its help is shown."""

    def __init__(
        self,
        *args: Any,
        table: Mapping[str, Entry],
        on_load: Callable[[click.Group], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.table = dict(table)
        self.on_load = on_load  # called after each load, e.g. to add options to new commands
        self._loaded: set[str] = set()

    def load(self, modules: tuple[str, ...]) -> None:
        """Import the modules not yet imported and let each register its commands here."""
        fresh = [name for name in modules if name not in self._loaded]
        for name in fresh:
            importlib.import_module(name).register(self)
            self._loaded.add(name)
        if fresh and self.on_load is not None:
            self.on_load(self)

    def load_all(self) -> None:
        for entry in self.table.values():
            self.load(entry.modules)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.table) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = self.table.get(cmd_name)
        if entry is not None:
            self.load(entry.modules)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The list of commands from the table, so showing it imports none of them."""
        rows = {
            name: click.Command(name, help=entry.short_help) for name, entry in self.table.items()
        }
        rows.update(self.commands)
        listed = [(name, rows[name]) for name in sorted(rows) if not rows[name].hidden]
        if not listed:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in listed)
        with formatter.section("Commands"):
            formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in listed])

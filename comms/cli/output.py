"""Printing for the CLI: aligned tables with rich, JSON with dates as ISO strings."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING

import click

from comms.content.terminal import terminal_line

if TYPE_CHECKING:
    from rich.console import Console


def console(*, err: bool = False) -> Console:
    """A rich console on stdout or stderr; plain (no colour, no spinners) when not a terminal."""
    from rich.console import Console

    stream = sys.stderr if err else sys.stdout
    return Console(file=stream, soft_wrap=False, highlight=False)


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, title: str | None = None
) -> None:
    """An aligned table; wraps long cells to the terminal width.

    Cells are data (post texts, titles, a service's error): each is shown as text, with no
    escape sequence or control character (content.terminal) and no rich markup read in it.
    """
    from rich.table import Table
    from rich.text import Text

    table = Table(*headers, title=title, show_lines=False, title_justify="left")
    for row in rows:
        table.add_row(*(Text(terminal_line(cell)) for cell in row))
    console().print(table)


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None] | None]:
    """A rich progress bar on stderr when it is a terminal; in scripts, no output at all.

    Yields `update(stage, done, total)` (or None when quiet) for the long-running work to call.
    """
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(console=console(err=True), transient=True) as bar:
        task = bar.add_task("working", total=None)

        def update(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total or None)

        yield update


def _default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def print_json(data: object) -> None:
    click.echo(json.dumps(data, default=_default, ensure_ascii=False, indent=2))

"""Printing for the CLI: aligned tables with rich, JSON with dates as ISO strings."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import date, datetime

import click


def console(*, err: bool = False):  # type: ignore[no-untyped-def]
    """A rich console on stdout or stderr; plain (no colour, no spinners) when not a terminal."""
    from rich.console import Console

    stream = sys.stderr if err else sys.stdout
    return Console(file=stream, soft_wrap=False, highlight=False)


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, title: str | None = None
) -> None:
    """An aligned table; wraps long cells to the terminal width."""
    from rich.table import Table

    table = Table(*headers, title=title, show_lines=False, title_justify="left")
    for row in rows:
        table.add_row(*row)
    console().print(table)


def _default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def print_json(data: object) -> None:
    click.echo(json.dumps(data, default=_default, ensure_ascii=False, indent=2))

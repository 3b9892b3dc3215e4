"""Commands for the communication staff: import posts made elsewhere, and report on a period."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import click

from comms.cli.common import AppContext, current_actor, output_format_option, parse_date, pass_app
from comms.errors import CommsError


def register(group: click.Group) -> None:
    """Add this module's commands to the main group."""
    group.add_command(import_command)
    group.add_command(report_command)


@contextmanager
def _progress_bar() -> Iterator[Any]:
    """A rich progress bar on stderr when it is a terminal; otherwise no output at all."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("checking", total=None)

        def update(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        yield update


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_app
def import_command(app: AppContext, file: Path) -> None:
    """Add posts made outside comms (by hand on Facebook, on the website) from a CSV FILE.

    The header must be: channel,published_at,title,url,reach,impressions,engagements.
    `channel` names a configured channel; `published_at` is ISO 8601, and a time without
    an offset is local time in the configured zone. Figures may be empty. The whole file is
    checked first: on any error nothing is imported. Posts already imported are skipped,
    so importing the same file again is safe.

    \b
    Example:
      comms import facebook-2018.csv
    """
    from comms.importer import import_csv

    try:
        app.ready_database()
        with _progress_bar() as progress:
            result = import_csv(app.settings, file, actor=current_actor(), progress=progress)
    except CommsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Imported {result.added} posts ({result.skipped_duplicates} already there)")


def _date_option(value: str | None, option: str) -> date | None:
    return None if value is None else parse_date(value, option)


@click.command("report")
@click.option(
    "--from",
    "start",
    required=True,
    metavar="DATE",
    callback=lambda _ctx, _param, value: _date_option(value, "--from"),
    help="First day, YYYY-MM-DD (local date, included).",
)
@click.option(
    "--to",
    "end",
    required=True,
    metavar="DATE",
    callback=lambda _ctx, _param, value: _date_option(value, "--to"),
    help="Last day, YYYY-MM-DD (local date, included).",
)
@output_format_option("table", "json", "csv", "md")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file instead of the screen.",
)
@pass_app
def report_command(app: AppContext, start: date, end: date, fmt: str, out: Path | None) -> None:
    """Posts and reach per channel, campaign and focus area, with a Danish summary.

    Both days are local dates in the configured zone and both are included. Reach is shown
    as min / max / median / total where figures are known (newest figures per post).
    The table ends with a paragraph in Danish for the status report.

    \b
    Example:
      comms report --from 2018-01-14 --to 2019-01-07
      comms report --from 2026-01-01 --to 2026-12-31 --format md --out rapport.md
      comms report --from 2026-01-01 --to 2026-03-31 --format json
    """
    from comms import report as reports

    if end < start:
        raise click.BadParameter(
            f"--to {end} is before --from {start}; swap them", param_hint="--to"
        )
    try:
        url = app.ready_database()
        settings = app.settings
        channel_types = {name: channel.type for name, channel in settings.channels.items()}
        result = reports.build_report(
            url, start=start, end=end, zone=settings.zone, channel_types=channel_types
        )
    except CommsError as exc:
        raise click.ClickException(str(exc)) from None

    if fmt == "json":
        text = json.dumps(reports.to_json(result), ensure_ascii=False, indent=2) + "\n"
    elif fmt == "csv":
        text = reports.to_csv(result)
    elif fmt == "md":
        text = reports.to_markdown(result)
    else:
        _print_tables(result, out)
        return
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


def _print_tables(result: Any, out: Path | None) -> None:
    """The rich tables, then the Danish paragraph unwrapped (so it can be copied as one line)."""
    from rich.console import Console

    from comms.report import danish_summary, render_table

    summary = danish_summary(result)
    if out is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=120)  # piped: no terminal width to fit, keep numbers whole
        for table in render_table(result):
            console.print(table)
        click.echo()
        click.echo(summary)
        return
    with out.open("w", encoding="utf-8") as handle:
        console = Console(file=handle, width=140, color_system=None, force_terminal=False)
        for table in render_table(result):
            console.print(table)
        handle.write("\n" + summary + "\n")

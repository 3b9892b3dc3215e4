"""Commands for the communication staff: import posts made elsewhere, and report on a period."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import click

from comms.cli.common import AppContext, current_actor, output_format_option, parse_date, pass_app
from comms.cli.output import progress_bar
from comms.errors import CommsError


def register(group: click.Group) -> None:
    """Add this module's commands to the main group."""
    group.add_command(import_command)
    group.add_command(report_command)


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_app
def import_command(app: AppContext, file: Path) -> None:
    """Add posts made outside comms (by hand on Facebook, on the website) from a CSV FILE.

    The header must be: channel,published_at,title,url,reach,impressions,engagements.
    `channel` names a configured channel; `published_at` is ISO 8601, and a time without
    an offset is local time in the configured zone. Figures may be empty. The whole file is
    checked first: on any error nothing is imported. Posts already imported are not added
    again; where their figures changed (an updated export), the new figures are added as the
    posts' newest, which the report uses. Importing the same file again is safe.

    \b
    Example:
      comms import facebook-2018.csv
    """
    from comms.importer.write import import_csv

    try:
        app.ready_database()
        with progress_bar() as progress:
            result = import_csv(app.settings, file, actor=current_actor(), progress=progress)
    except CommsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(_import_summary(result))


def _import_summary(result: Any) -> str:
    """'Imported 3 posts; 17 posts already there, 12 with newer figures'."""
    line = f"Imported {result.added} posts"
    if result.skipped_duplicates:
        line += f"; {result.skipped_duplicates} posts already there"
        if result.updated_figures:
            line += f", {result.updated_figures} with newer figures"
    return line


def _date_option(value: str | None, option: str) -> date | None:
    return None if value is None else parse_date(value, option)


def _day_option(flag: str, name: str, help: str) -> Callable[[Callable[..., Any]], Any]:
    """A required YYYY-MM-DD option, given to the command as a date."""
    return click.option(
        flag,
        name,
        required=True,
        metavar="DATE",
        callback=lambda _ctx, _param, value: _date_option(value, flag),
        help=help,
    )


def _period_option(value: str | None) -> tuple[date, date] | None:
    from comms.report.compare import parse_period

    if value is None:
        return None
    try:
        return parse_period(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--compare-to") from None


@click.command("report")
@_day_option("--from", "start", "First day, YYYY-MM-DD (local date, included).")
@_day_option("--to", "end", "Last day, YYYY-MM-DD (local date, included).")
@output_format_option("table", "json", "csv", "md", "html", "docx")
@click.option(
    "--compare-to",
    "compare_to",
    metavar="FROM:TO",
    callback=lambda _ctx, _param, value: _period_option(value),
    help="Also show the change against an earlier period, e.g. 2025-01-01:2025-12-31.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file instead of the screen (needed for docx on a terminal).",
)
@pass_app
def report_command(
    app: AppContext,
    start: date,
    end: date,
    fmt: str,
    compare_to: tuple[date, date] | None,
    out: Path | None,
) -> None:
    """Posts and reach per channel, channel type, campaign and focus area, with a Danish summary.

    Both days are local dates in the configured zone and both are included. Reach is shown
    as min / max / median / total where figures are known (newest figures per post), with the
    posts of highest reach. The table ends with a paragraph in Danish for the status report.
    html is one self-contained file with charts; docx is a Word document with the charts and
    the tables as an annex. --compare-to adds the change against an earlier period.

    \b
    Example:
      comms report --from 2018-01-14 --to 2019-01-07
      comms report --from 2026-01-01 --to 2026-12-31 --format html --out status.html
      comms report --from 2026-01-01 --to 2026-12-31 --format docx --out bilag.docx \\
          --compare-to 2025-01-01:2025-12-31
      comms report --from 2026-01-01 --to 2026-03-31 --format json
    """
    if end < start:
        raise click.BadParameter(
            f"--to {end} is before --from {start}; swap them", param_hint="--to"
        )
    if fmt == "docx" and out is None and sys.stdout.isatty():
        raise click.BadParameter("a Word document needs --out FILE.docx", param_hint="--format")
    try:
        url = app.ready_database()
        with progress_bar() as progress:
            result, comparison, document = _report_document(
                app, url, start, end, fmt, compare_to, progress
            )
    except CommsError as exc:
        raise click.ClickException(str(exc)) from None

    if isinstance(document, bytes):
        if out is None:
            click.echo(document, nl=False)  # bytes go to the binary stream
        else:
            out.write_bytes(document)
    elif document is None:
        _print_tables(result, out, comparison)
    elif out is None:
        click.echo(document, nl=False)
    else:
        out.write_text(document, encoding="utf-8")


def _report_document(
    app: AppContext,
    url: str,
    start: date,
    end: date,
    fmt: str,
    compare_to: tuple[date, date] | None,
    progress: Any,
) -> tuple[Any, Any, str | bytes | None]:
    """The report, the comparison (or None) and the rendered document (None for tables)."""
    from comms.report import compare as report_compare
    from comms.report import figures as reports

    settings = app.settings
    steps = 2 + (compare_to is not None) + (fmt in ("html", "docx"))
    done = 0

    def step(stage: str) -> None:
        nonlocal done
        if progress:
            progress(stage, done, steps)
        done += 1

    channel_types = {name: channel.type for name, channel in settings.channels.items()}
    step("figures")
    result = reports.build_report(
        url, start=start, end=end, zone=settings.zone, channel_types=channel_types
    )
    comparison = None
    if compare_to is not None:
        step("earlier period")
        earlier = reports.build_report(
            url,
            start=compare_to[0],
            end=compare_to[1],
            zone=settings.zone,
            channel_types=channel_types,
        )
        comparison = report_compare.compare(result, earlier)
    charts: list[Any] = []
    if fmt in ("html", "docx"):
        from comms.report.charts import build_charts

        step("charts")
        points = reports.post_points(url, start=start, end=end, zone=settings.zone)
        charts = build_charts(result, points)
    step(fmt)
    return result, comparison, _render(fmt, result, comparison, charts)


def _render(fmt: str, result: Any, comparison: Any, charts: list[Any]) -> str | bytes | None:
    from comms.report import compare as report_compare
    from comms.report import render as report_render

    if fmt == "json":
        extra = report_compare.to_json(comparison) if comparison else None
        data = report_render.to_json_document(result, extra)
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        return report_render.to_csv(
            result, with_types=True, earlier=comparison.earlier if comparison else None
        )
    if fmt == "md":
        lines = report_compare.to_markdown_lines(comparison) if comparison else []
        return report_render.to_markdown(result, lines)
    if fmt == "html":
        from comms.report.html import render_html
        from comms.store.models import utcnow

        return render_html(result, charts, comparison, generated=utcnow())
    if fmt == "docx":
        from comms.report.docx import render_docx

        return render_docx(result, charts, comparison)
    return None


def _print_tables(result: Any, out: Path | None, comparison: Any = None) -> None:
    """The rich tables, then the Danish paragraph unwrapped (so it can be copied as one line)."""
    from rich.console import Console

    from comms.report.compare import comparison_table, danish_comparison
    from comms.report.render import danish_summary, render_table

    tables = render_table(result)
    paragraphs = [danish_summary(result)]
    if comparison is not None:
        tables.append(comparison_table(comparison))
        paragraphs.append(danish_comparison(comparison))
    if out is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=120)  # piped: no terminal width to fit, keep numbers whole
        for table in tables:
            console.print(table)
        for paragraph in paragraphs:
            click.echo()
            click.echo(paragraph)
        return
    with out.open("w", encoding="utf-8") as handle:
        console = Console(file=handle, width=140, color_system=None, force_terminal=False)
        for table in tables:
            console.print(table)
        for paragraph in paragraphs:
            handle.write("\n" + paragraph + "\n")

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


_FORMAT_KEYS = ("meta-facebook", "meta-instagram", "linkedin", "x", "comms", "comms-excel-da")


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--channel",
    "channel",
    metavar="NAME",
    help="The configured channel the posts belong to (for exports that name none).",
)
@click.option(
    "--format",
    "format_key",
    type=click.Choice(_FORMAT_KEYS),
    help="The kind of file, when its header does not tell (found from the header by default).",
)
@click.option("--campaign", "campaign", metavar="SLUG", help="Attach every post to this campaign.")
@click.option(
    "--focus-area", "focus_area", metavar="TEXT", help="Attach every post to this focus area."
)
@click.option(
    "--columns",
    "columns",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A TOML file mapping the file's column names to comms' ones ([columns] table).",
)
@click.option(
    "--timezone",
    "timezone",
    metavar="ZONE",
    help="The time zone the file's times are in (default: the configured one).",
)
@pass_app
def import_command(
    app: AppContext,
    file: Path,
    channel: str | None,
    format_key: str | None,
    campaign: str | None,
    focus_area: str | None,
    columns: Path | None,
    timezone: str | None,
) -> None:
    """Add posts made outside comms, and their figures, from FILE as the service exported it.

    \b
    Read as they come out of the services (the format is found from the header):
      meta-facebook   Meta Business Suite, Facebook posts (CSV)
      meta-instagram  Meta Business Suite, Instagram posts (CSV)
      linkedin        LinkedIn page content export (.xlsx, sheet "All posts")
      x               X analytics content export (CSV)
      comms           comms' own CSV: channel,published_at,title,url,reach,impressions,
                      engagements (optional: clicks, campaign, focus_area)
      comms-excel-da  the same saved by Danish Excel (semicolons, 3.555, 14-01-2018 10:00)

    The services' exports name no channel: give it with --channel. A time without an offset is
    local time in the configured zone (or --timezone). The whole file is checked: on any error
    nothing is imported. A post is known by the service's post id (own CSV: its channel, time,
    url and title), so importing a newer export adds its newer figures and never a post twice.

    \b
    Example:
      comms import facebook-2018.csv
      comms import meta-export.csv --channel facebook --campaign tryg-nytaar
      comms import linkedin-content.xlsx --channel linkedin --focus-area "Tryghed"
    """
    from dataclasses import replace

    from comms.importer.write import ImportOptions, import_csv

    try:
        app.ready_database()
        settings = app.settings
        if timezone is not None:
            settings = replace(settings, timezone=_zone_name(timezone))
        options = ImportOptions(
            format=format_key,
            channel=channel,
            campaign=campaign,
            focus_area=focus_area,
            columns=_column_map(columns) if columns else {},
        )
        with progress_bar() as progress:
            result = import_csv(
                settings, file, actor=current_actor(), progress=progress, options=options
            )
    except CommsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Læste: {result.format_label} ({_count(result.rows, 'række', 'rækker')})")
    click.echo(_import_summary(result))


def _zone_name(name: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(
            f"ukendt tidszone {name!r}; skriv fx Europe/Copenhagen", param_hint="--timezone"
        ) from None
    return name


def _column_map(path: Path) -> dict[str, str]:
    """The [columns] table of a --columns file: the file's header name -> comms' column name."""
    import tomllib

    from comms.importer.formats import FORMATS, normalise

    known = sorted({name for fmt in FORMATS for name in fmt.columns} | {"external_id"})
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint="--columns") from None
    table = data.get("columns")
    if not isinstance(table, dict) or not table:
        raise click.BadParameter(
            f'{path}: filen skal have en [columns]-tabel, fx "Udgivet" = "published_at"',
            param_hint="--columns",
        )
    mapping: dict[str, str] = {}
    for header, ours in table.items():
        if not isinstance(ours, str) or ours not in known:
            raise click.BadParameter(
                f"{path}: {header!r} = {ours!r}: comms' kolonner er " + ", ".join(known),
                param_hint="--columns",
            )
        mapping[normalise(header)] = ours
    return mapping


def _count(n: int, one: str, many: str) -> str:
    from comms.content.danish import format_number

    return f"{format_number(n)} {one if n == 1 else many}"


def _import_summary(result: Any) -> str:
    """'Importerede 3 opslag; 17 fandtes i forvejen, 12 med nyere tal'."""
    from comms.content.danish import format_number

    line = f"Importerede {format_number(result.added)} opslag"
    if result.skipped_duplicates:
        line += f"; {format_number(result.skipped_duplicates)} fandtes i forvejen"
        if result.updated_figures:
            line += f", {format_number(result.updated_figures)} med nyere tal"
        if result.relabelled:
            line += f", {format_number(result.relabelled)} med ny kampagne eller indsatsområde"
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
    "--dialect",
    "dialect",
    type=click.Choice(("plain", "excel-da")),
    default="plain",
    show_default=True,
    help="For --format csv: excel-da is what Danish Excel opens in columns.",
)
@click.option(
    "--excel",
    "excel",
    is_flag=True,
    help="CSV for Danish Excel (semicolons, decimal comma, BOM): --format csv --dialect excel-da.",
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
    dialect: str,
    excel: bool,
    out: Path | None,
) -> None:
    """Posts and reach per channel, channel type, campaign and focus area, with a Danish summary.

    Both days are local dates in the configured zone and both are included. Reach is shown
    as min / max / median / total where figures are known (newest figures per post), with the
    posts of highest reach. The table ends with a paragraph in Danish for the status report.
    html is one self-contained file with charts; docx is a Word document with the charts and
    the tables as an annex. --compare-to adds the change against an earlier period. Every
    format says per group how many posts the reach figures rest on ("9 af 10"); the CSV carries
    its period on every row, and --excel writes it as Danish Excel opens it in columns.

    \b
    Example:
      comms report --from 2018-01-14 --to 2019-01-07
      comms report --from 2026-01-01 --to 2026-12-31 --format html --out status.html
      comms report --from 2026-01-01 --to 2026-12-31 --format docx --out bilag.docx \\
          --compare-to 2025-01-01:2025-12-31
      comms report --from 2026-01-01 --to 2026-03-31 --format json
      comms report --from 2026-01-01 --to 2026-12-31 --excel --out tal.csv
    """
    if excel:
        if fmt not in ("table", "csv"):
            raise click.BadParameter(
                f"--excel writes CSV; leave out --format {fmt}", param_hint="--excel"
            )
        fmt, dialect = "csv", "excel-da"
    elif dialect != "plain" and fmt != "csv":
        raise click.BadParameter("--dialect is for --format csv", param_hint="--dialect")
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
                app, url, start, end, fmt, compare_to, progress, dialect
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
    dialect: str = "plain",
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
    return result, comparison, _render(fmt, result, comparison, charts, dialect)


def _render(
    fmt: str, result: Any, comparison: Any, charts: list[Any], dialect: str = "plain"
) -> str | bytes | None:
    from comms.report import compare as report_compare
    from comms.report import render as report_render

    if fmt == "json":
        extra = report_compare.to_json(comparison) if comparison else None
        data = report_render.to_json_document(result, extra)
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        earlier = comparison.earlier if comparison else None
        if dialect == "excel-da":
            return report_render.to_csv_bytes(result, with_types=True, earlier=earlier)
        return report_render.to_csv(result, with_types=True, earlier=earlier)
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

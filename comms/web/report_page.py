"""The report: a period picker, the figures and charts in the workspace's layout, and downloads.

The figures are comms.report.figures's, the cells and Danish paragraph comms.report.render's, so the
page says what `comms report` says; the downloads are the CLI's HTML, DOCX, CSV and JSON.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from comms.access import Action
from comms.config import Settings
from comms.report import figures as reports
from comms.report.compare import Comparison, compare
from comms.report.figures import Report
from comms.report.html import report_values
from comms.web.context import Ctx, Refused, page
from comms.web.queue_page import parse_day
from comms.web.render import today_in

FORMATS = {
    "html": ("text/html; charset=utf-8", "html"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "json": ("application/json", "json"),
}


def routes() -> list[Route]:
    return [
        Route("/report", show, methods=["GET"]),
        Route("/report/download", download, methods=["GET"]),
    ]


def _period(ctx: Ctx) -> tuple[date, date, tuple[date, date] | None]:
    today = today_in(ctx.settings.zone, ctx.now)
    start = parse_day(ctx.query("from"), "Fra") or date(today.year, 1, 1)
    end = parse_day(ctx.query("to"), "Til") or today
    if end < start:
        raise Refused(400, "Perioden slutter, før den begynder.")
    earlier = None
    first = parse_day(ctx.query("compare_from"), "Sammenlign fra")
    last = parse_day(ctx.query("compare_to"), "Sammenlign til")
    if first and last:
        if last < first:
            raise Refused(400, "Sammenligningsperioden slutter, før den begynder.")
        earlier = (first, last)
    return start, end, earlier


def _build(
    settings: Settings, start: date, end: date, earlier: tuple[date, date] | None
) -> tuple[Report, Comparison | None]:
    types = {name: channel.type for name, channel in settings.channels.items()}
    kwargs: dict[str, Any] = {"zone": settings.zone, "channel_types": types}
    result = reports.build_report(settings.database_url, start=start, end=end, **kwargs)
    comparison = None
    if earlier:
        before = reports.build_report(
            settings.database_url, start=earlier[0], end=earlier[1], **kwargs
        )
        comparison = compare(result, before)
    return result, comparison


def _charts(settings: Settings, result: Report, start: date, end: date) -> list[Any]:
    from comms.report.charts import build_charts

    points = reports.post_points(settings.database_url, start=start, end=end, zone=settings.zone)
    return build_charts(result, points)


@page
def show(ctx: Ctx) -> Response:
    """GET /report?from=&to=&compare_from=&compare_to=: the report for a period."""
    ctx.require(Action.VIEW)
    start, end, earlier = _period(ctx)
    result, comparison = _build(ctx.settings, start, end, earlier)
    charts = _charts(ctx.settings, result, start, end)
    query = ctx.request.url.query
    return ctx.page(
        "report.html",
        title="Rapport",
        start=start,
        end=end,
        earlier=earlier,
        **report_values(result, charts, comparison, ctx.settings.zone),
        formats=list(FORMATS),
        query=query,
    )


@page
def download(ctx: Ctx) -> Response:
    """GET /report/download?format=…: the report as the CLI writes it."""
    ctx.require(Action.VIEW)
    fmt = ctx.query("format")
    if fmt not in FORMATS:
        raise Refused(400, "Vælg HTML, DOCX, CSV eller JSON.")
    start, end, earlier = _period(ctx)
    result, comparison = _build(ctx.settings, start, end, earlier)
    body: str | bytes
    if fmt == "json":
        from comms.report import compare as report_compare
        from comms.report import render as report_render

        extra = report_compare.to_json(comparison) if comparison else None
        body = json.dumps(
            report_render.to_json_document(result, extra), ensure_ascii=False, indent=2
        )
    elif fmt == "csv":
        from comms.report import render as report_render

        body = report_render.to_csv(
            result, with_types=True, earlier=comparison.earlier if comparison else None
        )
    elif fmt == "html":
        from comms.report.html import render_html

        body = render_html(
            result, _charts(ctx.settings, result, start, end), comparison, generated=ctx.now
        )
    else:
        from comms.report.docx import render_docx

        body = render_docx(result, _charts(ctx.settings, result, start, end), comparison)
    media, suffix = FORMATS[fmt]
    name = f"rapport-{start.isoformat()}-{end.isoformat()}.{suffix}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "html":
        # the document is self-contained (inline CSS, data: charts, no scripts): let it style itself
        headers["Content-Security-Policy"] = (
            "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'none'"
        )
    return Response(body, media_type=media, headers=headers)

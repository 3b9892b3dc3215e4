"""The status report as one self-contained HTML file (`comms report --format html`).

Everything is inside the file: the CSS inline, the charts as data: URIs, no scripts, no fonts or
links to fetch, so it can be mailed, archived or opened offline. It is Danish (lang="da"):
headings, dates "7. januar 2019" and numbers "25.056". The Danish summary paragraph is a `<p>`
on its own so it can be copied straight into the status. `BASE_CSS` is shared with the calendar
and the local web view, so the three look like one tool.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment

from comms.content.danish import format_datetime, format_period
from comms.content.links import safe_link
from comms.report.charts import Chart
from comms.report.compare import FIGURES, Comparison, comparison_rows, danish_comparison
from comms.report.figures import TOTAL, Report
from comms.report.render import (
    HEADINGS,
    MISSING,
    SECTIONS,
    TOP_HEADINGS,
    TOP_TITLE,
    danish_cells,
    danish_summary,
    section_rows,
    top_post_cells,
)

BASE_CSS = """
:root { --ink: #1d2733; --muted: #5b6775; --line: #d9dee4; --accent: #1f5fa8; --bg: #f6f7f9; }
* { box-sizing: border-box; }
body { font: 15px/1.5 "DejaVu Sans", "Segoe UI", Arial, sans-serif; color: var(--ink);
  margin: 0; background: #fff; }
main { max-width: 1060px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 10px; border-bottom: 2px solid var(--accent);
  padding-bottom: 4px; }
h3 { font-size: 16px; margin: 20px 0 8px; }
a { color: var(--accent); }
.muted { color: var(--muted); }
nav.top { background: var(--ink); padding: 8px 28px; }
nav.top a { color: #fff; margin-right: 18px; text-decoration: none; font-weight: bold; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 14px; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left;
  vertical-align: top; }
th { background: var(--bg); font-weight: bold; }
td.n, th.n { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: bold; border-top: 2px solid var(--ink); }
.up { color: #1c7a36; } .down { color: #b3261e; }
@media print { nav.top { display: none; } main { padding: 0; } h2 { break-after: avoid; } }
"""

_CSS = """
.period { font-size: 17px; color: var(--muted); margin: 0 0 18px; }
.summary { background: var(--bg); border-left: 4px solid var(--accent); padding: 12px 16px;
  font-size: 16px; }
figure { margin: 14px 0 26px; }
figure img { max-width: 100%; height: auto; display: block; border: 1px solid var(--line); }
figcaption { font-size: 13px; color: var(--muted); margin-top: 4px; overflow-wrap: anywhere; }
.wide { overflow-x: auto; }
footer { margin-top: 36px; font-size: 12px; color: var(--muted); }
"""


# The file's own policy, for wherever it is opened (a mail, a share, file://): it needs its inline
# CSS and its data: charts, nothing else; a script or a fetch that got in anyway does not run.
# (frame-ancestors is not allowed in a <meta>; the web view sends it as a header.)
FILE_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'"
)


def document_start(title: str) -> str:
    """A self-contained Danish page's template up to `<main>`: the inline `css`, the `nav` links
    at the top (the web view) and `title`, a template expression, as the document's title."""
    return (
        """<!DOCTYPE html>
<html lang="da">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{ file_csp }}">
<meta name="viewport" content="width=device-width, initial-scale=1">
"""
        + f"<title>{title}</title>\n"
        + """<style>{{ css | safe }}</style>
</head>
<body>
{% if nav %}<nav class="top">{% for href, label in nav %}<a href="{{ href }}">{{ label }}</a>
{% endfor %}</nav>{% endif %}
<main>
"""
    )


_TEMPLATE = (
    document_start("{{ title }}, {{ period }}")
    + """<h1>{{ title }}</h1>
<p class="period">{{ period }}</p>

<h2 id="sammenfatning">Sammenfatning</h2>
<p class="summary" id="summary">{{ summary }}</p>
{% if comparison_text %}<p class="summary" id="comparison-summary">{{ comparison_text }}</p>
{% endif %}

{% if charts %}<h2 id="grafer">Grafer</h2>
{% for chart in charts %}<figure id="graf-{{ chart.key }}">
<img src="data:image/png;base64,{{ chart.data }}" alt="{{ chart.alt }}">
<figcaption>Figur {{ loop.index }}: {{ chart.title }}. {{ chart.alt }}</figcaption>
</figure>
{% endfor %}{% endif %}

<h2 id="tal">Tal for perioden</h2>
<p class="muted">Rækkevidde: antal personer, der har set opslaget (nyeste måling pr. opslag).
{{ missing }}: ukendt.</p>
{% for section in sections %}
<h3 id="{{ section.id }}">{{ section.title }}</h3>
<div class="wide" tabindex="0" role="region" aria-labelledby="{{ section.id }}"><table>
<thead><tr><th>{{ section.first }}</th>{% for h in headings %}<th class="n">{{ h }}</th>
{% endfor %}</tr></thead>
<tbody>
{% for name, cells in section.rows %}<tr{% if loop.last %} class="total"{% endif %}>
<td>{{ name }}</td>{% for c in cells %}<td class="n">{{ c }}</td>{% endfor %}</tr>
{% endfor %}</tbody>
</table></div>
{% endfor %}

{% if top %}<h3 id="top">{{ top_title }}</h3>
<div class="wide" tabindex="0" role="region" aria-labelledby="top"><table>
<thead><tr>{% for h in top_headings %}<th{% if loop.index > 3 %} class="n"{% endif %}>{{ h }}</th>
{% endfor %}</tr></thead>
<tbody>
{% for url, cells in top %}<tr>{% for c in cells %}
{% if loop.index == 3 and url %}<td><a href="{{ url }}">{{ c }}</a></td>
{% else %}<td{% if loop.index > 3 %} class="n"{% endif %}>{{ c }}</td>{% endif %}
{% endfor %}</tr>
{% endfor %}</tbody>
</table></div>{% endif %}

{% if change %}<h2 id="aendring">{{ change.title }}</h2>
{% for section in change.sections %}<h3 id="aendring-{{ loop.index }}">{{ section.title }}</h3>
<div class="wide" tabindex="0" role="region" aria-labelledby="aendring-{{ loop.index }}"><table>
<thead><tr><th>{{ section.first }}</th>{% for h in change.headings %}<th class="n">{{ h }}</th>
{% endfor %}</tr></thead>
<tbody>
{% for row in section.rows %}<tr{% if loop.last %} class="total"{% endif %}>
<td>{{ row[0] }}</td>{% for c in row[1:] %}<td class="n {{ c | trend }}">{{ c }}</td>
{% endfor %}</tr>
{% endfor %}</tbody>
</table></div>
{% endfor %}{% endif %}

<footer>Lavet med comms{% if generated %} den {{ generated }}{% endif %}.
Tider i {{ timezone }}.</footer>
</main>
</body>
</html>
"""
)

TITLE = "Opslag og rækkevidde"


def _trend(cell: str) -> str:
    return "up" if cell.startswith("+") else "down" if cell.startswith("-") else ""


_env = Environment(autoescape=True, keep_trailing_newline=True)
_env.filters["trend"] = _trend
_template = _env.from_string(_TEMPLATE)


def render_html(
    report: Report,
    charts: Sequence[Chart],
    comparison: Comparison | None = None,
    *,
    nav: Sequence[tuple[str, str]] = (),
    generated: datetime | None = None,
) -> str:
    """The whole report as one HTML document; `nav` adds links at the top (the web view)."""
    zone = ZoneInfo(report.timezone)
    return _template.render(
        css=BASE_CSS + _CSS,
        file_csp=FILE_CSP,
        title=TITLE,
        **report_values(report, charts, comparison, zone),
        nav=list(nav),
        generated=format_datetime(generated, zone) if generated else "",
        timezone=report.timezone,
    )


def report_values(
    report: Report, charts: Sequence[Chart], comparison: Comparison | None, zone: ZoneInfo
) -> dict[str, Any]:
    """What the report's template shows, the same in the HTML document and the web page."""
    sections = []
    for attr, title, first in SECTIONS:
        rows = [(name, danish_cells(group)) for name, group in section_rows(report, attr)]
        rows.append((TOTAL, danish_cells(report.totals)))
        sections.append({"id": attr, "title": title, "first": first, "rows": rows})
    change = None
    if comparison is not None:
        earlier = comparison.earlier
        change = {
            "title": f"Ændring i forhold til {format_period(earlier.start, earlier.end)}",
            "headings": [name for _, name in FIGURES],
            "sections": [
                {"title": title, "first": first, "rows": comparison_rows(comparison, attr)}
                for attr, title, first in SECTIONS
                if attr != "campaigns" or comparison.current.campaigns
            ],
        }
    return {
        "period": format_period(report.start, report.end),
        "summary": danish_summary(report),
        "comparison_text": danish_comparison(comparison) if comparison else None,
        "charts": [
            {
                "key": c.key,
                "title": c.title,
                "alt": c.alt,
                "data": base64.b64encode(c.png).decode("ascii"),
            }
            for c in charts
        ],
        "sections": sections,
        "headings": HEADINGS,
        "missing": MISSING,
        "top": [(safe_link(post.url), top_post_cells(post, zone)) for post in report.top_posts],
        "top_title": TOP_TITLE,
        "top_headings": TOP_HEADINGS,
        "change": change,
    }

"""A report as people and machines read it: terminal table, CSV, JSON, Markdown, Danish paragraph.

The table and Markdown are read by politicians, so they are in Danish with Danish numbers; JSON
and CSV carry plain numbers for machines. `to_json` keeps its documented shape;
`to_json_document` adds the types, the top posts and a comparison (report_compare.py). The
figures themselves are built by report.py; the HTML and DOCX documents reuse the headings and
cells defined here.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from rich.table import Table
from rich.text import Text

from comms.channels.registry import CHANNEL_TYPES, channel_class, label
from comms.content.danish import format_date, format_number, format_period
from comms.content.terminal import terminal_line
from comms.report.figures import TOTAL, Group, Report, TopPost

MISSING = "–"  # a figure nobody knows, in the table and Markdown

# --- the Danish paragraph -------------------------------------------------------------------


def _post_words(kind: str) -> tuple[str, str] | None:
    """What one and several posts of a channel type are called, from its adapter class."""
    if kind not in CHANNEL_TYPES:
        return None
    return channel_class(kind).post_words


def danish_summary(report: Report, channel_types: dict[str, str] | None = None) -> str:
    """'Fra den 14. januar 2018 til den 7. januar 2019 har der været 95 nyheder og 9 opslag på
    Facebook, som har nået fra 3.555 til 25.056 personer.'"""
    types = report.channel_types if channel_types is None else channel_types
    if report.start == report.end:
        when = f"Den {format_date(report.start)}"
    else:
        when = f"Fra den {format_date(report.start)} til den {format_date(report.end)}"
    if report.totals.posts == 0:
        return f"{when} har der ikke været nogen nyheder eller opslag."

    counts: dict[tuple[str, str], int] = {}
    order: dict[tuple[str, str], int] = {}
    for name, group in report.channels.items():
        kind = types.get(name, "")
        words = _post_words(kind) or ("opslag på " + name, "opslag på " + name)
        counts[words] = counts.get(words, 0) + group.posts
        rank = CHANNEL_TYPES.index(kind) if kind in CHANNEL_TYPES else len(CHANNEL_TYPES)
        order[words] = min(order.get(words, rank), rank)
    parts = [
        f"{format_number(n)} {words[0] if n == 1 else words[1]}"
        for words, n in sorted(counts.items(), key=lambda item: order[item[0]])
    ]
    text = f"{when} har der været {_join(parts)}"

    low, high = report.totals.reach_min, report.totals.reach_max
    if low is not None and high is not None:
        people = "person" if high == 1 else "personer"
        if low == high:
            text += f", som har nået {format_number(high)} {people}"
        else:
            text += f", som har nået fra {format_number(low)} til {format_number(high)} {people}"
    return text + "."


def _join(parts: list[str]) -> str:
    """'a', 'a og b', 'a, b og c'."""
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " og " + parts[-1]


# --- renderers ------------------------------------------------------------------------------

SECTIONS = (
    ("channels", "Kanaler", "Kanal"),
    ("channel_type_groups", "Kanaltyper", "Kanaltype"),
    ("campaigns", "Kampagner", "Kampagne"),
    ("focus_areas", "Indsatsområder", "Indsatsområde"),
)
HEADINGS = (
    "Opslag",
    "Med rækkevidde",
    "Rækkevidde min.",
    "Rækkevidde maks.",
    "Rækkevidde median",
    "Rækkevidde i alt",
    "Visninger",
    "Interaktioner",
)
# the terminal is narrow: short headings (the caption says which are reach), numbers never cut
_TABLE_HEADINGS = (
    "Opslag",
    "Med tal",
    "Min.",
    "Maks.",
    "Median",
    "I alt",
    "Visninger",
    "Interakt.",
)
_TABLE_CAPTION = (
    "Med tal: de opslag med kendt rækkevidde, som min., maks., median og i alt bygger på. "
    "Interakt.: interaktioner. –: ukendt."
)


class _TypeNames(Mapping[str, str]):
    """Channel type -> its name in a Danish report, as its adapter class declares it."""

    def __getitem__(self, kind: str) -> str:
        if kind not in CHANNEL_TYPES:
            raise KeyError(kind)
        return label(kind)

    def __iter__(self) -> Iterator[str]:
        return iter(CHANNEL_TYPES)

    def __len__(self) -> int:
        return len(CHANNEL_TYPES)


TYPE_NAMES: Mapping[str, str] = _TypeNames()  # a type not listed is shown as it is


def section_rows(report: Report, attr: str) -> list[tuple[str, Group]]:
    """(name as shown, group) for one section of the report, without the totals row."""
    groups: dict[str, Group] = getattr(report, attr)
    if attr == "channel_type_groups":
        shown = [(TYPE_NAMES.get(name, name), group) for name, group in groups.items()]
        return sorted(shown, key=lambda row: row[0].casefold())
    return [(group.name, group) for group in groups.values()]


FINAL_MARK = " (endelig)"
"""After a top post's reach: the figures are the final snapshot taken before the service stopped
keeping them (Meta keeps insights for two years), so they will not grow any more."""


def top_post_cells(post: TopPost, zone: ZoneInfo) -> list[str]:
    """Date, channel, title, reach, impressions, engagements: Danish formats, for the tables."""
    figures = [
        MISSING if value is None else format_number(value)
        for value in (post.reach, post.impressions, post.engagements)
    ]
    if post.final:
        figures[0] += FINAL_MARK
    return [
        format_date(post.published_at.astimezone(zone)),
        post.channel,
        post.title or "",
        *figures,
    ]


TOP_HEADINGS = ("Dato", "Kanal", "Opslag", "Rækkevidde", "Visninger", "Interaktioner")
TOP_TITLE = "Opslag med størst rækkevidde"


def known_cell(group: Group) -> str:
    """'9 af 10': how many of the posts have the reach the figures rest on."""
    return f"{format_number(group.reach_known)} af {format_number(group.posts)}"


def danish_cells(group: Group) -> list[str]:
    """Posts, how many with reach, reach min/max/median/total, impressions, engagements."""
    values = (
        group.reach_min,
        group.reach_max,
        group.reach_median,
        group.reach_total,
        group.impressions,
        group.engagements,
    )
    figures = [MISSING if value is None else format_number(value) for value in values]
    return [format_number(group.posts), known_cell(group), *figures]


def render_table(report: Report) -> list[Table]:
    """One rich table per grouping, each ending with the totals row."""
    period = format_period(report.start, report.end)
    tables = []
    for attr, title, first in SECTIONS:
        rows = [(name, danish_cells(group)) for name, group in section_rows(report, attr)]
        rows.append((TOTAL, danish_cells(report.totals)))
        table = Table(
            title=f"{title}, {period}",
            title_justify="left",
            show_edge=False,
            caption=_TABLE_CAPTION,
            caption_justify="left",
        )
        table.add_column(first, min_width=min(max(len(name) for name, _ in rows), 16))
        for index, heading in enumerate(_TABLE_HEADINGS):
            widest = max(len(cells[index]) for _, cells in rows)
            table.add_column(heading, justify="right", no_wrap=True, min_width=widest)
        for index, (name, cells) in enumerate(rows):
            is_total = index == len(rows) - 1
            table.add_row(
                Text(terminal_line(name)),
                *cells,
                end_section=index == len(rows) - 2,
                style="bold" if is_total else None,
            )
        tables.append(table)
    if report.top_posts:
        table = Table(title=f"{TOP_TITLE}, {period}", title_justify="left", show_edge=False)
        for index, heading in enumerate(TOP_HEADINGS):
            table.add_column(heading, justify="right" if index >= 3 else "left", no_wrap=index != 2)
        zone = ZoneInfo(report.timezone)
        for post in report.top_posts:
            table.add_row(*(Text(terminal_line(cell)) for cell in top_post_cells(post, zone)))
        tables.append(table)
    return tables


def _group_json(group: Group) -> dict[str, Any]:
    return {
        "posts": group.posts,
        "reach": {
            "known": group.reach_known,
            "min": group.reach_min,
            "max": group.reach_max,
            "median": group.reach_median,
            "total": group.reach_total,
        },
        "impressions": group.impressions,
        "engagements": group.engagements,
    }


def to_json(report: Report) -> dict[str, Any]:
    """The report as plain data (see the issue for the shape); numbers are numbers, or null."""
    return {
        "period": {"from": report.start.isoformat(), "to": report.end.isoformat()},
        "channels": {name: _group_json(g) for name, g in report.channels.items()},
        "campaigns": {name: _group_json(g) for name, g in report.campaigns.items()},
        "focus_areas": {name: _group_json(g) for name, g in report.focus_areas.items()},
        "totals": _group_json(report.totals),
        "summary": danish_summary(report),
    }


def to_json_document(report: Report, comparison: dict[str, Any] | None = None) -> dict[str, Any]:
    """`to_json` plus the channel types, the top posts and (when given) the comparison."""
    data = to_json(report)
    data["channel_types"] = {name: _group_json(g) for name, g in report.channel_type_groups.items()}
    data["top_posts"] = [
        {
            "id": post.id,
            "channel": post.channel,
            "campaign": post.campaign,
            "title": post.title,
            "published_at": post.published_at.isoformat(),
            "reach": post.reach,
            "impressions": post.impressions,
            "engagements": post.engagements,
            "url": post.url,
            "final": post.final,
        }
        for post in report.top_posts
    ]
    if comparison is not None:
        data["comparison"] = comparison
    return data


CSV_HEADER = (
    "group_kind",
    "name",
    "posts",
    "reach_known",
    "reach_min",
    "reach_max",
    "reach_median",
    "reach_total",
    "impressions",
    "engagements",
    "period_from",
    "period_to",
)
CSV_DIALECTS = ("plain", "excel-da")
"""plain: commas and a decimal point, for programs; excel-da: what Danish Excel opens in columns
(semicolons, a decimal comma, UTF-8 with a byte-order mark, added by `to_csv_bytes`)."""


def to_csv(
    report: Report,
    *,
    with_types: bool = False,
    earlier: Report | None = None,
    header: bool = True,
    dialect: str = "plain",
) -> str:
    """One row per group (kinds channel, campaign, focus_area, total); unknown figures empty.

    Every row carries its period (period_from, period_to), so rows copied elsewhere still say
    what they count. `with_types` adds channel_type rows after the channels; `earlier` appends
    that period's rows with kinds prefixed "earlier_", so a spreadsheet can put the two periods
    side by side.
    """
    if dialect not in CSV_DIALECTS:
        raise ValueError(f"unknown CSV dialect {dialect!r}; known: {', '.join(CSV_DIALECTS)}")
    danish = dialect == "excel-da"
    out = io.StringIO()
    writer = csv.writer(
        out, delimiter=";" if danish else ",", lineterminator="\r\n" if danish else "\n"
    )
    if header:
        writer.writerow(CSV_HEADER)
    kinds: list[tuple[str, dict[str, Group]]] = [("channel", report.channels)]
    if with_types:
        kinds.append(("channel_type", report.channel_type_groups))
    kinds += [
        ("campaign", report.campaigns),
        ("focus_area", report.focus_areas),
        ("total", {"total": report.totals}),
    ]
    period = (report.start.isoformat(), report.end.isoformat())
    for kind, groups in kinds:
        for name, g in groups.items():
            values = (
                g.posts,
                g.reach_known,
                g.reach_min,
                g.reach_max,
                g.reach_median,
                g.reach_total,
                g.impressions,
                g.engagements,
            )
            cells = ["" if v is None else _csv_number(v, danish) for v in values]
            writer.writerow([kind, name, *cells, *period])
    text = out.getvalue()
    if earlier is not None:
        rows = to_csv(earlier, with_types=with_types, header=False, dialect=dialect)
        text += "".join("earlier_" + row for row in rows.splitlines(keepends=True))
    return text


def to_csv_bytes(report: Report, **options: Any) -> bytes:
    """`to_csv` as Danish Excel opens it by double-click: UTF-8 with a byte-order mark."""
    return codecs.BOM_UTF8 + to_csv(report, dialect="excel-da", **options).encode("utf-8")


def _csv_number(value: int | float, danish: bool) -> str:
    """A plain number (no thousands separators: a spreadsheet reads them as numbers); a median
    of x.5 with a decimal comma for Danish Excel."""
    text = str(value)
    return text.replace(".", ",") if danish else text


def to_markdown(report: Report, extra: Sequence[str] = ()) -> str:
    """Markdown tables (Danish headings and numbers) and the Danish paragraph below them.

    `extra` lines (the comparison with an earlier period) come just before the paragraph.
    """
    lines = [f"# Rapport {format_period(report.start, report.end)}", ""]
    for attr, title, first in SECTIONS:
        lines += [
            f"## {title}",
            "",
            "| " + " | ".join((first, *HEADINGS)) + " |",
            "|---" + "|---:" * len(HEADINGS) + "|",
        ]
        for name, group in section_rows(report, attr):
            lines.append("| " + " | ".join((markdown_text(name), *danish_cells(group))) + " |")
        lines.append("| " + " | ".join((f"**{TOTAL}**", *danish_cells(report.totals))) + " |")
        lines.append("")
    if report.top_posts:
        lines += [
            f"## {TOP_TITLE}",
            "",
            "| " + " | ".join(TOP_HEADINGS) + " |",
            "|---|---|---" + "|---:" * 3 + "|",
        ]
        zone = ZoneInfo(report.timezone)
        for post in report.top_posts:
            lines.append(
                "| " + " | ".join(markdown_text(c) for c in top_post_cells(post, zone)) + " |"
            )
        lines.append("")
    lines += [*extra, danish_summary(report), ""]
    return "\n".join(lines)


# What Markdown (CommonMark and GitHub's tables) could read as markup inside a table cell: links
# and images, autolinks and HTML, emphasis, code, strikethrough, entities and the cell's edge.
# A backslash before ASCII punctuation always means the character itself. Parentheses stay as
# they are: they take part in a link only right after a `]`, which is escaped, and "(enkeltopslag)"
# should read as written in the Markdown source too.
_MARKDOWN_SPECIAL = frozenset("\\`*_{}[]<>#!|~&")


def markdown_text(text: str) -> str:
    """`text` as literal text of one Markdown table cell: on one line, nothing in it markup."""
    line = " ".join(text.split())
    return "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in line)

"""The status report as a Word document (`comms report --format docx --out status.docx`).

Made with python-docx on its default template, so Word and LibreOffice open it without fonts or
styles of ours: a title, the period, the Danish summary paragraph (its own paragraph, to copy into
the status), the charts with alt text, and after a page break the annex ("Bilag"): the figures as
tables in Danish formats ("7. januar 2019", "25.056"), numbers right-aligned, totals in bold. The
document's language is Danish, so Word's spelling check and hyphenation treat it as such.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from comms.content.danish import format_period
from comms.report.charts import Chart
from comms.report.compare import FIGURES, Comparison, comparison_rows, danish_comparison
from comms.report.figures import TOTAL, Report
from comms.report.html import TITLE
from comms.report.render import (
    MISSING,
    SECTIONS,
    TOP_HEADINGS,
    TOP_TITLE,
    danish_cells,
    danish_summary,
    section_rows,
    top_post_cells,
)

FONT = "Arial"  # LibreOffice substitutes Liberation Sans, metric-compatible
LANGUAGE = "da-DK"
ANNEX = "Bilag: tal for perioden"
# A4 portrait leaves 17 cm: the annex's headings are short, the note says which are reach
ANNEX_HEADINGS = (
    "Opslag",
    "Med tal",
    "Min.",
    "Maks.",
    "Median",
    "I alt",
    "Visninger",
    "Interaktioner",
)
GROUP_WIDTHS = (3.6, 1.3, 1.4, 1.6, 1.6, 1.6, 1.8, 2.0, 2.1)  # cm
TOP_WIDTHS = (3.0, 3.3, 4.2, 2.2, 1.9, 2.4)
CHANGE_WIDTHS = (4.0, 2.1, 2.9, 2.8, 2.6, 2.6)


def render_docx(
    report: Report, charts: Sequence[Chart], comparison: Comparison | None = None
) -> bytes:
    """The report as .docx bytes."""
    from docx import Document
    from docx.enum.text import WD_BREAK
    from docx.shared import Cm, Pt

    doc = Document()
    _setup(doc)
    doc.add_heading(TITLE, level=0)
    doc.add_paragraph(format_period(report.start, report.end), style="Subtitle")

    doc.add_heading("Sammenfatning", level=1)
    doc.add_paragraph(danish_summary(report))
    if comparison is not None:
        doc.add_paragraph(danish_comparison(comparison))

    if charts:
        doc.add_heading("Grafer", level=1)
        for number, chart in enumerate(charts, start=1):
            doc.add_picture(io.BytesIO(chart.png), width=Cm(16.5))
            picture = doc.inline_shapes[-1]
            picture._inline.docPr.set("descr", chart.alt)
            picture._inline.docPr.set("title", chart.title)
            doc.add_paragraph(f"Figur {number}: {chart.title}.", style="Caption")

    doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    doc.add_heading(ANNEX, level=1)
    note = doc.add_paragraph(
        "Min., maks., median og i alt: rækkevidde, antal personer der har set opslaget "
        "(nyeste måling pr. opslag); med tal: hvor mange af opslagene den bygger på. "
        f"{MISSING}: ukendt."
    )
    note.runs[0].font.size = Pt(9)
    zone = ZoneInfo(report.timezone)
    number = 0
    for attr, title, first in SECTIONS:
        number += 1
        rows = [[name, *danish_cells(group)] for name, group in section_rows(report, attr)]
        rows.append([TOTAL, *danish_cells(report.totals)])
        headings = [first, *ANNEX_HEADINGS]
        _table(doc, f"Tabel {number}: {title}", headings, rows, GROUP_WIDTHS, numeric_from=1)
    if report.top_posts:
        number += 1
        rows = [top_post_cells(post, zone) for post in report.top_posts]
        caption = f"Tabel {number}: {TOP_TITLE}"
        _table(doc, caption, list(TOP_HEADINGS), rows, TOP_WIDTHS, numeric_from=3)
    if comparison is not None:
        earlier = comparison.earlier
        for attr, title, first in SECTIONS:
            number += 1
            heading = (
                f"Tabel {number}: {title}, ændring i forhold til "
                f"{format_period(earlier.start, earlier.end)}"
            )
            headings = [first, *(name for _, name in FIGURES)]
            rows = comparison_rows(comparison, attr)
            _table(doc, heading, headings, rows, CHANGE_WIDTHS, numeric_from=1)

    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _setup(doc: Any) -> None:
    """A4 with 2 cm margins, Arial, Danish as the language of every style."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt

    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.left_margin = section.right_margin = Cm(2)
    section.top_margin = section.bottom_margin = Cm(2)
    doc.core_properties.title = TITLE
    doc.core_properties.language = LANGUAGE
    doc.core_properties.author = "comms"
    normal = doc.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(10.5)
    defaults = doc.styles.element.find(qn("w:docDefaults"))
    run_props = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))
    lang = run_props.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        run_props.append(lang)
    for key in ("w:val", "w:eastAsia", "w:bidi"):
        lang.set(qn(key), LANGUAGE)
    fonts = run_props.find(qn("w:rFonts"))
    if fonts is not None:
        for key in ("w:ascii", "w:hAnsi", "w:cs"):
            fonts.set(qn(key), FONT)
        for key in ("w:asciiTheme", "w:hAnsiTheme", "w:cstheme", "w:eastAsiaTheme"):
            fonts.attrib.pop(qn(key), None)


def _table(
    doc: Any,
    caption: str,
    headings: list[str],
    rows: list[list[str]],
    widths: Sequence[float],
    *,
    numeric_from: int,
) -> None:
    """A captioned table: bold header row, numbers right-aligned, the last row bold when total.

    Widths (cm) go on every cell as well as the grid: Word reads the cells, LibreOffice the grid.
    """
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Pt

    doc.add_paragraph(caption, style="Heading 3")
    table = doc.add_table(rows=1, cols=len(headings))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for index, heading in enumerate(headings):
        _cell(table.rows[0].cells[index], heading, bold=True, right=index >= numeric_from)
    for row in rows:
        cells = table.add_row().cells
        is_total = row[0] == TOTAL
        for index, value in enumerate(row):
            _cell(cells[index], value, bold=is_total, right=index >= numeric_from)
    for column, width in zip(table.columns, widths, strict=True):
        column.width = Cm(width)
    for row in table.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = Cm(width)
            for paragraph in cell.paragraphs:
                paragraph.paragraph_format.space_after = Pt(0)
                if paragraph.alignment != WD_ALIGN_PARAGRAPH.RIGHT:
                    paragraph.alignment = WD_ALIGN_PARAGRAPH.LEFT
    doc.add_paragraph()


def _cell(cell: Any, text: str, *, bold: bool, right: bool) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    paragraph = cell.paragraphs[0]
    run = paragraph.add_run(text)
    run.font.size = Pt(8.5)
    run.bold = bold
    if right:
        paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT

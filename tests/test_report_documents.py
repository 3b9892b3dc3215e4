"""The report as documents: channel types, top posts, comparison, charts, HTML and DOCX.

The HTML is opened in a real browser in tests/test_web.py; here it is checked as text. The DOCX
is read back with python-docx and, where LibreOffice is installed, converted to PDF.
"""

from __future__ import annotations

import io
import json
import os
import re
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from comms.config import Settings
from comms.content.danish import format_number
from comms.report.charts import build_charts
from comms.report.compare import (
    Change,
    compare,
    danish_comparison,
    format_change,
    parse_period,
)
from comms.report.compare import to_json as comparison_json
from comms.report.docx import ANNEX, render_docx
from comms.report.figures import Group, Report, build_report, post_points
from comms.report.html import render_html
from comms.report.render import to_json, to_json_document
from comms.store.db import session_scope
from comms.store.models import MetricSample, Post
from tests.cli import comms_cli
from tests.headless import docx_to_pdf, libreoffice
from tests.seed import CHANNELS, CHANNELS_TOML, seed_history

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def settings(make_settings) -> Settings:
    return make_settings(channels=CHANNELS_TOML)


@pytest.fixture
def seeded(settings: Settings) -> Settings:
    seed_history(settings.database_url, first_year=2025, years=2)
    return settings


def report_for(settings: Settings, start: date, end: date) -> Report:
    return build_report(
        settings.database_url, start=start, end=end, zone=settings.zone, channel_types=CHANNELS
    )


def add_published(settings: Settings, channel: str, reach: int | None, **fields: object) -> int:
    when = fields.pop("published_at", datetime(2026, 3, 2, 10, tzinfo=UTC))
    with session_scope(settings.database_url) as session:
        post = Post(channel=channel, state="published", published_at=when, scheduled_at=when)
        for key, value in fields.items():
            setattr(post, key, value)
        session.add(post)
        session.flush()
        if reach is not None:
            session.add(MetricSample(post_id=post.id, reach=reach, impressions=2 * reach))
        return int(post.id or 0)


# --- channel types and top posts -----------------------------------------------------------


def test_two_facebook_pages_add_up_as_one_channel_type(settings: Settings):
    add_published(settings, "kommune-facebook", 100)
    add_published(settings, "politi-facebook", 300)
    add_published(settings, "hjemmeside", None)
    report = report_for(settings, date(2026, 3, 1), date(2026, 3, 31))
    assert set(report.channels) == {"hjemmeside", "kommune-facebook", "politi-facebook"}
    facebook = report.channel_type_groups["facebook"]
    assert (facebook.posts, facebook.reach_total, facebook.reach_median) == (2, 400, 200)
    assert report.channel_type_groups["site"] == Group(name="site", posts=1)


def test_a_channel_no_longer_configured_stands_for_its_own_type(settings: Settings):
    add_published(settings, "gammel-side", 5)
    report = report_for(settings, date(2026, 3, 1), date(2026, 3, 31))
    assert report.channel_type_groups["gammel-side"].posts == 1


def test_top_posts_are_the_highest_reach_first(settings: Settings):
    for reach in (5, 50, 500, None):
        add_published(settings, "kommune-facebook", reach, title=f"Opslag {reach}")
    add_published(settings, "kommune-facebook", 9999, text="Uden titel men med tekst")
    report = report_for(settings, date(2026, 3, 1), date(2026, 3, 31))
    assert [p.reach for p in report.top_posts] == [9999, 500, 50, 5]
    assert report.top_posts[0].title == "Uden titel men med tekst"
    assert report.top_posts[1].title == "Opslag 500"


def test_json_keeps_its_shape_and_the_document_adds_keys(seeded: Settings):
    report = report_for(seeded, date(2026, 1, 1), date(2026, 12, 31))
    assert set(to_json(report)) == {
        "period",
        "channels",
        "campaigns",
        "focus_areas",
        "totals",
        "summary",
    }
    data = json.loads(json.dumps(to_json_document(report)))
    assert data["channel_types"]["facebook"]["posts"] == (
        data["channels"]["kommune-facebook"]["posts"] + data["channels"]["politi-facebook"]["posts"]
    )
    assert len(data["top_posts"]) == 10
    reaches = [post["reach"] for post in data["top_posts"]]
    assert reaches == sorted(reaches, reverse=True)
    assert reaches[0] == data["totals"]["reach"]["max"]


# --- comparison ----------------------------------------------------------------------------


def test_parse_period():
    assert parse_period("2025-01-01:2025-12-31") == (date(2025, 1, 1), date(2025, 12, 31))
    for bad in ("2025-01-01", "2025-13-01:2025-12-31", "2025-12-31:2025-01-01"):
        with pytest.raises(ValueError, match="2025"):
            parse_period(bad)


@pytest.mark.parametrize(
    ("before", "after", "shown"),
    [
        (100, 125, "+25 (+25 %)"),
        (200, 150, "-50 (-25 %)"),
        (0, 7, "+7"),
        (5, 5, "0"),
        (None, 5, "–"),
        (3, 4.5, "+1,5 (+50 %)"),
        (24000, 25056, "+1.056 (+4,4 %)"),
    ],
)
def test_changes_in_danish(before, after, shown):
    assert format_change(Change(before, after)) == shown


def _report(start: date, end: date, posts: int, reach: int | None) -> Report:
    totals = Group(name="I alt", posts=posts, reach_total=reach)
    channel = Group(name="facebook", posts=posts, reach_total=reach)
    return Report(
        start=start,
        end=end,
        timezone="Europe/Copenhagen",
        channels={"facebook": channel},
        campaigns={},
        focus_areas={},
        totals=totals,
        channel_type_groups={"facebook": channel},
    )


Y2025, Y2026 = (date(2025, 1, 1), date(2025, 12, 31)), (date(2026, 1, 1), date(2026, 12, 31))


@pytest.mark.parametrize(
    ("current", "earlier", "sentence"),
    [
        pytest.param(
            (*Y2026, 104, 90000),
            (*Y2025, 80, 80000),
            "I 2025 var der 80 opslag, som nåede i alt 80.000 personer. I 2026 var der 24 flere "
            "opslag end i 2025 (+30 %), og den samlede rækkevidde steg med 10.000 (+12,5 %).",
            id="more",
        ),
        pytest.param(
            (*Y2025, 80, 80000),
            (*Y2026, 104, 90000),
            "I 2026 var der 104 opslag, som nåede i alt 90.000 personer. I 2025 var der 24 færre "
            "opslag end i 2026 (-23,1 %), og den samlede rækkevidde faldt med 10.000 (-11,1 %).",
            id="fewer",
        ),
        pytest.param(
            (*Y2026, 80, 80000),
            (*Y2025, 80, 70000),
            "I 2025 var der 80 opslag, som nåede i alt 70.000 personer. I 2026 var der lige så "
            "mange opslag som i 2025, og den samlede rækkevidde steg med 10.000 (+14,3 %).",
            id="as-many",
        ),
    ],
)
def test_the_danish_comparison_sentence_says_which_year_had_more(current, earlier, sentence):
    assert danish_comparison(compare(_report(*current), _report(*earlier))) == sentence


def test_the_danish_comparison_sentence_names_other_periods_by_their_dates():
    now = _report(date(2026, 1, 1), date(2026, 6, 30), 69, None)
    then = _report(date(2025, 3, 4), date(2025, 3, 4), 80, None)
    assert danish_comparison(compare(now, then)) == (
        "Den 4. marts 2025 var der 80 opslag. Fra den 1. januar 2026 til den 30. juni 2026 var "
        "der 11 færre opslag end den 4. marts 2025 (-13,8 %)."
    )
    # a calendar month by its name; a month cut short by its dates
    now = _report(date(2026, 2, 1), date(2026, 2, 28), 5, None)
    then = _report(date(2025, 12, 1), date(2025, 12, 31), 9, None)
    assert danish_comparison(compare(now, then)) == (
        "I december 2025 var der 9 opslag. I februar 2026 var der 4 færre opslag end i december "
        "2025 (-44,4 %)."
    )
    then = _report(date(2025, 12, 1), date(2025, 12, 30), 3, None)
    assert "I februar 2026 var der 2 flere opslag end fra den 1. december 2025 til den 30. " in (
        danish_comparison(compare(now, then))
    )
    # a year from 1 February is not the calendar year 2025
    then = _report(date(2025, 2, 1), date(2026, 1, 31), 80, None)
    assert "færre opslag end fra den 1. februar 2025 til den 31. januar 2026" in danish_comparison(
        compare(now, then)
    )


def test_comparison_json_has_every_group_of_either_period(seeded: Settings):
    now = report_for(seeded, date(2026, 1, 1), date(2026, 12, 31))
    then = report_for(seeded, date(2025, 1, 1), date(2025, 6, 30))
    data = comparison_json(compare(now, then))
    assert data["period"] == {"from": "2025-01-01", "to": "2025-06-30"}
    assert set(data["campaigns"]) == set(now.campaigns) | set(then.campaigns)
    posts = data["totals"]["posts"]
    assert (posts["before"], posts["after"]) == (then.totals.posts, now.totals.posts)
    assert posts["change"] == now.totals.posts - then.totals.posts
    assert "facebook" in data["channel_types"]


# --- charts and documents ------------------------------------------------------------------


def charts_for(settings: Settings, report: Report):
    points = post_points(
        settings.database_url, start=report.start, end=report.end, zone=settings.zone
    )
    return build_charts(report, points)


def test_charts_are_png_and_left_out_without_data(seeded: Settings):
    report = report_for(seeded, date(2026, 1, 1), date(2026, 12, 31))
    charts = charts_for(seeded, report)
    assert [c.key for c in charts] == [
        "rakkevidde-pr-opslag",
        "opslag-pr-maaned",
        "rakkevidde-pr-kampagne",
    ]
    assert all(c.png.startswith(PNG) and len(c.png) > 5000 for c in charts)
    assert all(c.alt and c.title for c in charts)
    empty = report_for(seeded, date(2030, 1, 1), date(2030, 1, 31))
    assert charts_for(seeded, empty) == []


def test_html_is_self_contained_danish_and_has_the_summary(seeded: Settings):
    report = report_for(seeded, date(2026, 1, 1), date(2026, 12, 31))
    earlier = report_for(seeded, date(2025, 1, 1), date(2025, 12, 31))
    comparison = compare(report, earlier)
    html = render_html(report, charts_for(seeded, report), comparison)
    assert '<html lang="da">' in html
    assert "<script" not in html
    assert html.count('src="data:image/png;base64,') == 3
    assert not re.search(r'(src|href)="(?!data:|https://www\.|#)', html)  # nothing to fetch
    assert not re.search(r"<link ", html)
    summary = re.search(r'<p class="summary" id="summary">(.*?)</p>', html, re.S)
    assert summary is not None
    assert summary.group(1) == _escaped(to_json(report)["summary"])
    assert "Fra den 1. januar 2026 til den 31. december 2026 har der været" in html
    for heading in ("Kanaler", "Kanaltyper", "Kampagner", "Indsatsområder", "Ændring"):
        assert f">{heading}" in html
    assert re.search(r">\d{1,3}(\.\d{3})+<", html)  # Danish thousands
    assert "Opslag med størst rækkevidde" in html


def _escaped(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


def docx_texts(data: bytes) -> tuple[list[str], list[list[list[str]]], object]:
    from docx import Document

    document = Document(io.BytesIO(data))
    paragraphs = [p.text for p in document.paragraphs]
    tables = [[[cell.text for cell in row.cells] for row in t.rows] for t in document.tables]
    return paragraphs, tables, document


def test_docx_reads_back_with_summary_charts_and_danish_annex(seeded: Settings):
    report = report_for(seeded, date(2026, 1, 1), date(2026, 12, 31))
    earlier = report_for(seeded, date(2025, 1, 1), date(2025, 12, 31))
    data = render_docx(report, charts_for(seeded, report), compare(report, earlier))
    paragraphs, tables, document = docx_texts(data)
    assert paragraphs[0] == "Opslag og rækkevidde"
    assert paragraphs[1] == "1. januar 2026 til 31. december 2026"
    assert to_json(report)["summary"] in paragraphs
    assert any(p.startswith("I 2025 var der") and ". I 2026 var der " in p for p in paragraphs)
    assert ANNEX in paragraphs
    assert len(document.inline_shapes) == 3  # type: ignore[attr-defined]
    assert document.core_properties.language == "da-DK"  # type: ignore[attr-defined]
    channels = tables[0]
    assert channels[0] == [
        "Kanal",
        "Opslag",
        "Med tal",
        "Min.",
        "Maks.",
        "Median",
        "I alt",
        "Visninger",
        "Interaktioner",
    ]
    assert channels[-1][0] == "I alt"
    total = report.totals
    assert channels[-1][1] == str(total.posts)
    assert channels[-1][2] == f"{format_number(total.reach_known)} af {format_number(total.posts)}"
    assert re.fullmatch(r"\d{1,3}(\.\d{3})+", channels[-1][6])  # reach total: "902.882"
    kinds = [row[0] for row in tables[1]]
    assert "Facebook" in kinds
    assert "Hjemmeside" in kinds
    top = tables[4]
    assert top[0] == ["Dato", "Kanal", "Opslag", "Rækkevidde", "Visninger", "Interaktioner"]
    assert re.fullmatch(r"\d{1,2}\. [a-zæøå]+ 2026", top[1][0])  # "27. januar 2026"
    assert len(tables) == 5 + 4  # four groupings + top posts, then four change tables


@pytest.mark.slow
def test_docx_converts_to_pdf_with_libreoffice(seeded: Settings, tmp_path: Path):
    office = libreoffice()
    if office is None:
        if os.environ.get("CI"):
            pytest.fail("LibreOffice is missing in CI: apt-get install libreoffice-writer-nogui")
        pytest.skip("LIBREOFFICE NOT INSTALLED: the DOCX is not converted to PDF here")
    report = report_for(seeded, date(2026, 1, 1), date(2026, 12, 31))
    source = tmp_path / "status.docx"
    source.write_bytes(render_docx(report, charts_for(seeded, report)))
    pdf = docx_to_pdf(office, source, tmp_path, timeout=120).read_bytes()
    assert pdf.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages >= 3  # summary and charts, then the annex after a page break


# --- the command ---------------------------------------------------------------------------


def run(settings: Settings, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(comms_cli(), ["--config", str(settings.path), "report", *args])


@pytest.mark.slow
def test_cli_html_and_docx_files(seeded: Settings, tmp_path: Path):
    period = ("--from", "2026-01-01", "--to", "2026-12-31")
    html, docx = tmp_path / "status.html", tmp_path / "bilag.docx"
    result = run(seeded, *period, "--format", "html", "--out", str(html))
    assert result.exit_code == 0, result.output
    assert html.read_text(encoding="utf-8").count("data:image/png;base64,") == 3
    result = run(
        seeded,
        *period,
        "--format",
        "docx",
        "--out",
        str(docx),
        "--compare-to",
        "2025-01-01:2025-12-31",
    )
    assert result.exit_code == 0, result.output
    paragraphs, tables, _ = docx_texts(docx.read_bytes())
    assert any("var der" in p for p in paragraphs)
    assert len(tables) == 9


def test_cli_compare_to_in_json_csv_md_and_table(seeded: Settings):
    period = ("--from", "2026-01-01", "--to", "2026-12-31", "--compare-to", "2025-01-01:2025-12-31")
    data = json.loads(run(seeded, *period, "--format", "json").output)
    assert data["comparison"]["period"] == {"from": "2025-01-01", "to": "2025-12-31"}
    assert "facebook" in data["channel_types"]
    assert len(data["top_posts"]) == 10
    csv_text = run(seeded, *period, "--format", "csv").output
    assert "\nchannel_type,facebook," in csv_text
    assert "\nearlier_channel_type,facebook," in csv_text
    assert "\nearlier_total,total," in csv_text
    md = run(seeded, *period, "--format", "md").output
    assert "## Ændring siden 1. januar 2025 til 31. december 2025" in md
    assert "## Kanaltyper" in md
    table = run(seeded, *period)
    assert table.exit_code == 0, table.output
    assert "Ændring siden" in table.output
    assert "var der" in table.output.splitlines()[-1]


def test_cli_compare_sentence_says_which_period_had_fewer(settings: Settings):
    for day in (3, 4, 5):
        add_published(
            settings, "kommune-facebook", 100, published_at=datetime(2025, 3, day, 9, tzinfo=UTC)
        )
    add_published(
        settings, "kommune-facebook", 500, published_at=datetime(2026, 3, 3, 9, tzinfo=UTC)
    )
    period = ("--from", "2026-01-01", "--to", "2026-12-31", "--compare-to", "2025-01-01:2025-12-31")
    result = run(settings, *period)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        "I 2025 var der 3 opslag, som nåede i alt 300 personer. I 2026 var der 2 færre opslag "
        "end i 2025 (-66,7 %), og den samlede rækkevidde steg med 200 (+66,7 %)."
    )
    data = json.loads(run(settings, *period, "--format", "json").output)
    assert "I 2026 var der 2 færre opslag end i 2025" in data["comparison"]["summary"]


def test_cli_bad_compare_to_is_a_usage_error(seeded: Settings):
    result = run(seeded, "--from", "2026-01-01", "--to", "2026-12-31", "--compare-to", "2025")
    assert result.exit_code == 2
    assert "is not a period like 2025-01-01:2025-12-31" in result.output


def test_cli_help_shows_the_new_formats():
    result = CliRunner().invoke(comms_cli(), ["report", "--help"])
    assert "html|docx" in result.output
    assert "--compare-to" in result.output


# --- scale ---------------------------------------------------------------------------------


def test_a_report_over_ten_years_of_posts(settings: Settings):
    count = seed_history(settings.database_url, first_year=2017, years=10, news_per_week=3)
    began = time.monotonic()
    report = report_for(settings, date(2017, 1, 1), date(2026, 12, 31))
    charts = charts_for(settings, report)
    html = render_html(report, charts)
    data = render_docx(report, charts)
    elapsed = time.monotonic() - began
    assert report.totals.posts == count > 2500
    assert sum(g.posts for g in report.channel_type_groups.values()) == count
    assert len(charts) == 3
    assert html.count("data:image/png") == 3
    paragraphs, _, _ = docx_texts(data)
    assert "Fra den 1. januar 2017 til den 31. december 2026 har der været" in paragraphs[3]
    assert elapsed < 30, f"ten years took {elapsed:.1f} s"

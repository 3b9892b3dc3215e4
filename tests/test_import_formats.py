"""`comms import` of the files the services export, as they come: Meta Business Suite (Facebook
and Instagram), LinkedIn's .xlsx, X's CSV and comms' own CSV saved by Danish Excel. Each test
writes its export file itself with the service's header and quirks, imports it through the
command, and reads the month's report back: the figures must be the file's."""

from __future__ import annotations

import calendar
import codecs
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from openpyxl import Workbook
from sqlmodel import select

from comms.config import Settings
from comms.store.db import session_scope
from comms.store.models import MetricSample, Post, PostState
from tests.cli import comms_cli, run_comms

CHANNELS = """
[channels.facebook]
type = "facebook"
page_id = "104"
token_env = "COMMS_TEST_FB_TOKEN"

[channels.instagram]
type = "instagram"
ig_user_id = "178"
token_env = "COMMS_TEST_FB_TOKEN"
media_base_url = "https://www.aalborg.dk/media/"

[channels.linkedin]
type = "linkedin"
organization_id = "2414183"
token_env = "COMMS_TEST_LI_TOKEN"

[channels.x]
type = "x"
token_env = "COMMS_TEST_X_TOKEN"

[channels.hjemmeside]
type = "site"
path = "site"
"""

FACEBOOK_HEADER = (
    "Post ID,Page ID,Page name,Title,Description,Duration (sec),Publish time,Caption type,"
    "Permalink,Is crosspost,Is share,Post type,Languages,Custom labels,Funded content status,"
    'Data comment,Date,Views,Reach,"Reactions, comments and shares",Reactions,Comments,Shares,'
    "Total clicks,Link clicks,Other clicks"
)


def facebook_row(post: str, when: str, views: str, reach: str, interactions: str, clicks: str):
    return (
        f'"104_{post}",104,Tryg Aalborg,,"Husk lygten, når det er mørkt ({post})",,{when},,'
        f"https://www.facebook.com/104/posts/{post},No,No,Photos,da,,,,Lifetime,"
        f'"{views}","{reach}",{interactions},1,1,1,"{clicks}",1,1'
    )


def write_bom_csv(path: Path, header: str, *rows: str) -> Path:
    text = "\r\n".join((header, *rows)) + "\r\n"
    path.write_bytes(codecs.BOM_UTF8 + text.encode("utf-8"))
    return path


@pytest.fixture
def settings(make_settings) -> Settings:
    return make_settings(channels=CHANNELS)


def comms(settings: Settings, *args: str) -> Any:
    result = CliRunner().invoke(
        comms_cli(), ["--config", str(settings.path), *args], env={"COMMS_USER": "anna"}
    )
    return result


def month_report(settings: Settings, month: str = "2026-01") -> dict[str, Any]:
    year, number = map(int, month.split("-"))
    last = calendar.monthrange(year, number)[1]
    result = comms(
        settings, "report", "--from", f"{month}-01", "--to", f"{month}-{last}", "--format", "json"
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def figures(report: dict[str, Any], channel: str) -> tuple[Any, ...]:
    group = report["channels"][channel]
    reach = group["reach"]
    return (
        group["posts"],
        reach["min"],
        reach["max"],
        reach["total"],
        group["impressions"],
        group["engagements"],
    )


def stored_posts(settings: Settings) -> list[Post]:
    with session_scope(settings.database_url) as session:
        return list(session.exec(select(Post).order_by(Post.id)))


# --- Meta Business Suite ---------------------------------------------------------------------


def test_a_facebook_export_is_read_as_it_comes(settings: Settings, tmp_path: Path):
    path = write_bom_csv(
        tmp_path / "Jan-01-2026_Jan-31-2026_1234.csv",
        FACEBOOK_HEADER,
        facebook_row("1001", "01/14/2026 08:30", "12,500", "8,250", "310", "1,102"),
        facebook_row("1002", "01/20/2026 23:30", "900", "640", "12", "7"),
        facebook_row("1003", "02/02/2026 10:00", "50", "40", "1", "0"),  # another month
    )
    result = comms(settings, "import", str(path), "--channel", "facebook")
    assert result.exit_code == 0, result.output
    assert "Læste: Meta Business Suite, Facebook-opslag (3 rækker)" in result.output
    assert "Importerede 3 opslag" in result.output

    report = month_report(settings)
    assert figures(report, "facebook") == (2, 640, 8250, 8890, 13400, 322)
    first = stored_posts(settings)[0]
    assert first.external_id == "104_1001"
    assert first.external_url == "https://www.facebook.com/104/posts/1001"
    assert first.title == "Husk lygten, når det er mørkt (1001)"
    # 08:30 in Copenhagen (the page's zone) is 07:30 UTC; 23:30 on the 20th stays in January
    assert first.published_at == datetime(2026, 1, 14, 7, 30, tzinfo=UTC)
    with session_scope(settings.database_url) as session:
        clicks = session.exec(select(MetricSample.clicks).order_by(MetricSample.id)).all()
        raw = json.loads(session.exec(select(MetricSample.raw)).first() or "{}")
    assert clicks == [1102, 7, 0]
    assert raw["format"] == "meta-facebook"
    assert raw["Views"] == "12,500"  # the figures say which of the file's columns they came from


def test_an_older_facebook_export_with_impressions_and_another_time_zone(
    settings: Settings, tmp_path: Path
):
    header = FACEBOOK_HEADER.replace("Views", "Impressions")
    path = write_bom_csv(
        tmp_path / "old.csv",
        header,
        facebook_row("7", "01/31/2026 23:30", "2,000", "1,500", "9", "3"),
    )
    result = comms(settings, "import", str(path), "--channel", "facebook", "--timezone", "UTC")
    assert result.exit_code == 0, result.output
    # 23:30 UTC on 31 January is 00:30 on 1 February in Copenhagen: the report's February
    assert "facebook" not in month_report(settings)["channels"]
    assert figures(month_report(settings, "2026-02"), "facebook") == (1, 1500, 1500, 1500, 2000, 9)


def test_a_danish_business_suite_export_is_read_by_its_danish_headers(
    settings: Settings, tmp_path: Path
):
    header = (
        "Opslags-id,Side-id,Sidenavn,Titel,Beskrivelse,Udgivelsestidspunkt,Permalink,"
        'Opslagstype,Dato,Visninger,Rækkevidde,"Reaktioner, kommentarer og delinger",Klik i alt'
    )
    row = '"104_9",104,Tryg Aalborg,,Tekst,01/05/2026 12:00,https://fb.com/9,Fotos,Livstid,"3,100","2,050",44,5'
    path = write_bom_csv(tmp_path / "da.csv", header, row)
    result = comms(settings, "import", str(path), "--channel", "facebook")
    assert result.exit_code == 0, result.output
    assert "Facebook-opslag" in result.output
    assert figures(month_report(settings), "facebook") == (1, 2050, 2050, 2050, 3100, 44)


def test_an_instagram_export_adds_up_its_interactions(settings: Settings, tmp_path: Path):
    header = (
        "Post ID,Account ID,Account username,Account name,Description,Duration (sec),"
        "Publish time,Permalink,Post type,Data comment,Date,Views,Reach,Likes,Shares,"
        "Follows,Comments,Saves"
    )
    rows = [
        '"18001",178,tryg.aalborg,Tryg Aalborg,Cykellygter,,01/10/2026 09:00,'
        'https://www.instagram.com/p/AAA/,IG image,,Lifetime,"4,400","3,000",120,10,2,8,5',
        '"18002",178,tryg.aalborg,Tryg Aalborg,Refleks,,01/11/2026 09:00,'
        "https://www.instagram.com/p/BBB/,IG reel,,Lifetime,900,700,20,,0,,1",
    ]
    path = write_bom_csv(tmp_path / "ig.csv", header, *rows)
    result = comms(settings, "import", str(path), "--channel", "instagram")
    assert result.exit_code == 0, result.output
    assert "Læste: Meta Business Suite, Instagram-opslag (2 rækker)" in result.output
    # interactions: likes + shares + comments + saves (an empty one is not known, not 0)
    assert figures(month_report(settings), "instagram") == (2, 700, 3000, 3700, 5300, 164)


# --- LinkedIn (.xlsx) and X ------------------------------------------------------------------


def write_linkedin(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    book = Workbook()
    note = book.active
    assert note is not None
    note.title = "Metrics"
    note.append(["Aggregated metrics"])
    sheet = book.create_sheet("All posts")
    sheet.append(["Post-level metrics for Tryg Aalborg, 1/1/2026 - 1/31/2026"])  # a note, row 1
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


LINKEDIN_HEADER = [
    "Post title",
    "Post link",
    "Post type",
    "Campaign name",
    "Posted by",
    "Created date",
    "Campaign start date",
    "Campaign end date",
    "Audience",
    "Impressions",
    "Views (excluding off-site video views)",
    "Off-site views",
    "Clicks",
    "Click through rate (CTR)",
    "Likes",
    "Comments",
    "Reposts",
    "Follows",
    "Engagement rate",
    "Content Type",
]


def linkedin_row(urn: str, date: str, impressions: Any, clicks: Any, likes: Any) -> list[Any]:
    link = f"https://www.linkedin.com/feed/update/urn:li:activity:{urn}"
    return [
        "Nyt fra Tryg Aalborg",
        link,
        "Organic",
        "",
        "Anna",
        date,
        "",
        "",
        "All followers",
        impressions,
        "",
        "",
        clicks,
        0.05,
        likes,
        2,
        1,
        0,
        0.061,
        "Text",
    ]


def test_a_linkedin_workbook_gives_impressions_and_no_reach(settings: Settings, tmp_path: Path):
    path = write_linkedin(
        tmp_path / "tryg-aalborg_content_1767225600000.xlsx",
        LINKEDIN_HEADER,
        [
            linkedin_row("7290000000000000001", "01/07/2026", 1830, 41, 25),
            linkedin_row("7290000000000000002", "01/21/2026", "2,210", "12", "30"),
        ],
    )
    result = comms(settings, "import", str(path), "--channel", "linkedin")
    assert result.exit_code == 0, result.output
    assert "Læste: LinkedIn, sidens opslag (xlsx) (2 rækker)" in result.output
    report = month_report(settings)
    assert figures(report, "linkedin") == (2, None, None, None, 4040, 61)
    assert report["channels"]["linkedin"]["reach"]["known"] == 0
    assert [p.external_id for p in stored_posts(settings)] == [
        "urn:li:activity:7290000000000000001",
        "urn:li:activity:7290000000000000002",
    ]


def test_the_older_linkedin_variant_is_read_too(settings: Settings, tmp_path: Path):
    header = ["Post title", "Post link", "Post type", "Published by", "Date", "Impressions"]
    header += ["Clicks", "Likes", "Comments", "Shares", "Engagement rate"]
    link = "https://www.linkedin.com/feed/update/urn:li:share:6999/"
    created = datetime(2026, 1, 3)  # noqa: DTZ001 - a spreadsheet's date has no zone
    path = write_linkedin(
        tmp_path / "old.xlsx",
        header,
        [["Gammelt", link, "Organic", "Anna", created, 500, 4, 6, 1, 2, 0.02]],
    )
    result = comms(settings, "import", str(path), "--channel", "linkedin")
    assert result.exit_code == 0, result.output
    assert figures(month_report(settings), "linkedin") == (1, None, None, None, 500, 9)


X_HEADER = (
    "Post id,Date,Post text,Post Link,Impressions,Likes,Engagements,Bookmarks,Shares,"
    "New follows,Replies,Reposts,Profile visits,Detail Expands,URL Clicks,Hashtag Clicks,"
    "Permalink Clicks"
)


def test_an_x_export_is_read_with_its_dates(settings: Settings, tmp_path: Path):
    rows = [
        '1879000000000000001,"Tue, Jan 13, 2026","Glatføre i aften, kør forsigtigt",'
        'https://x.com/tryg_aalborg/status/1879000000000000001,"1,234",10,57,0,1,0,2,3,4,5,6,0,0',
        '1879000000000000002,"Fri, Jan 30, 2026",Husk refleksen,'
        "https://x.com/tryg_aalborg/status/1879000000000000002,800,3,12,0,0,0,0,0,0,1,2,0,0",
    ]
    path = tmp_path / "account_analytics_content.csv"
    path.write_text("\n".join((X_HEADER, *rows)) + "\n", encoding="utf-8")
    result = comms(settings, "import", str(path), "--channel", "x")
    assert result.exit_code == 0, result.output
    assert "Læste: X, opslag (analytics) (2 rækker)" in result.output
    assert figures(month_report(settings), "x") == (2, None, None, None, 2034, 69)
    first = stored_posts(settings)[0]
    assert first.published_at == datetime(2026, 1, 12, 23, 0, tzinfo=UTC)  # midnight local


# --- comms' own CSV from Danish Excel --------------------------------------------------------

DANISH_ROWS = [
    "channel;published_at;title;url;reach;impressions;engagements;campaign;focus_area",
    "facebook;14-01-2026 10:00;Blå mandag;https://aalborg.dk/blaa;3.555;12.000;42;"
    "blaa-mandag;Tryghed i nattelivet",
    "hjemmeside;15.01.2026;Nyhed om lys;;25.056;;;;",
]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252"])
def test_a_danish_excel_csv_is_read_in_either_encoding(
    settings: Settings, tmp_path: Path, encoding: str
):
    path = tmp_path / "opslag.csv"
    path.write_bytes(("\r\n".join(DANISH_ROWS) + "\r\n").encode(encoding))
    result = comms(settings, "import", str(path))
    assert result.exit_code == 0, result.output
    assert "Læste: comms' egen CSV fra dansk Excel (2 rækker)" in result.output
    report = month_report(settings)
    assert figures(report, "facebook") == (1, 3555, 3555, 3555, 12000, 42)
    assert figures(report, "hjemmeside") == (1, 25056, 25056, 25056, None, None)
    assert report["campaigns"]["blaa-mandag"]["posts"] == 1
    assert report["focus_areas"]["Tryghed i nattelivet"]["posts"] == 1
    titles = [post.title for post in stored_posts(settings)]
    assert titles == ["Blå mandag", "Nyhed om lys"]


def test_a_decimal_in_a_danish_sheet_is_an_error_with_line_and_column(
    settings: Settings, tmp_path: Path
):
    rows = [*DANISH_ROWS, "facebook;16-01-2026 10:00;Tre;;1,250;;;;"]
    path = tmp_path / "opslag.csv"
    path.write_bytes(("\r\n".join(rows) + "\r\n").encode("utf-8-sig"))
    result = comms(settings, "import", str(path))
    assert result.exit_code == 1
    assert f"{path}:4: reach '1,250' er ikke et helt tal" in result.output
    assert "intet blev importeret" in result.output
    assert stored_posts(settings) == []


def test_an_ambiguous_number_in_a_meta_export_is_an_error(settings: Settings, tmp_path: Path):
    path = write_bom_csv(
        tmp_path / "fb.csv",
        FACEBOOK_HEADER,
        facebook_row("1", "01/14/2026 08:30", "1.250", "800", "3", "1"),
    )
    result = comms(settings, "import", str(path), "--channel", "facebook")
    assert result.exit_code == 1
    assert f"{path}:2: Views '1.250' er ikke et helt tal" in result.output
    assert stored_posts(settings) == []


# --- the channel, the columns, the campaign --------------------------------------------------


def test_an_export_without_a_channel_asks_for_one(settings: Settings, tmp_path: Path):
    path = write_bom_csv(
        tmp_path / "fb.csv",
        FACEBOOK_HEADER,
        facebook_row("1", "01/14/2026 08:30", "1", "1", "1", "1"),
    )
    missing = comms(settings, "import", str(path))
    assert missing.exit_code == 1
    assert "angiver ingen kanal: sig hvilken med --channel NAVN (fx --channel facebook)" in (
        missing.output
    )
    typo = comms(settings, "import", str(path), "--channel", "facebok")
    assert typo.exit_code == 1
    assert "ukendt kanal 'facebok'" in typo.output
    assert "mente du 'facebook'?" in typo.output
    wrong_type = comms(settings, "import", str(path), "--channel", "linkedin")
    assert "er af typen linkedin, men filen er Meta Business Suite, Facebook-opslag" in (
        wrong_type.output
    )
    assert stored_posts(settings) == []


def test_a_missing_needed_column_is_named_with_the_format(settings: Settings, tmp_path: Path):
    header = FACEBOOK_HEADER.replace(",Reach,", ",Rech,")
    path = write_bom_csv(
        tmp_path / "fb.csv", header, facebook_row("1", "01/14/2026 08:30", "1", "1", "1", "1")
    )
    result = comms(settings, "import", str(path), "--channel", "facebook")
    assert result.exit_code == 1
    assert "passer ikke til Meta Business Suite, Facebook-opslag: kolonne(r) mangler: Reach" in (
        result.output
    )
    assert "mente du 'rech'?" in result.output


def test_a_columns_file_maps_an_unknown_header(settings: Settings, tmp_path: Path):
    path = tmp_path / "andet.csv"
    path.write_text(
        "kanal,udgivet,overskrift,adresse,nåede,visninger,interaktioner,ekstra\n"
        "facebook,2026-01-09 10:00,Fra et andet værktøj,,700,900,15,ignoreres\n",
        encoding="utf-8",
    )
    columns = tmp_path / "kolonner.toml"
    columns.write_text(
        "[columns]\n"
        'kanal = "channel"\nudgivet = "published_at"\noverskrift = "title"\nadresse = "url"\n'
        '"nåede" = "reach"\nvisninger = "impressions"\ninteraktioner = "engagements"\n',
        encoding="utf-8",
    )
    result = comms(settings, "import", str(path), "--columns", str(columns))
    assert result.exit_code == 0, result.output
    assert figures(month_report(settings), "facebook") == (1, 700, 700, 700, 900, 15)


def test_campaign_and_focus_area_for_a_whole_file(settings: Settings, tmp_path: Path):
    path = write_bom_csv(
        tmp_path / "fb.csv",
        FACEBOOK_HEADER,
        facebook_row("1", "01/14/2026 08:30", "100", "80", "3", "1"),
        facebook_row("2", "01/15/2026 08:30", "100", "60", "3", "1"),
    )
    result = comms(
        settings,
        "import",
        str(path),
        "--channel",
        "facebook",
        "--campaign",
        "tryg-nytaar",
        "--focus-area",
        "Fyrværkeri",
    )
    assert result.exit_code == 0, result.output
    report = month_report(settings)
    assert report["campaigns"]["tryg-nytaar"]["reach"]["total"] == 140
    assert report["focus_areas"]["Fyrværkeri"]["posts"] == 2
    bad = comms(settings, "import", str(path), "--channel", "facebook", "--campaign", "Tryg Nytår")
    assert bad.exit_code == 1
    assert "campaign 'Tryg Nytår' er ikke en kampagnes kortnavn" in bad.output


# --- matching: a newer export updates, never doubles -----------------------------------------


def test_a_newer_export_updates_the_figures_and_never_doubles_a_post(
    settings: Settings, tmp_path: Path
):
    first = write_bom_csv(
        tmp_path / "first.csv",
        FACEBOOK_HEADER,
        facebook_row("1", "01/14/2026 08:30", "1,000", "800", "10", "1"),
        facebook_row("2", "01/15/2026 08:30", "500", "400", "5", "1"),
    )
    newer = write_bom_csv(
        tmp_path / "newer.csv",
        FACEBOOK_HEADER,
        facebook_row("1", "01/14/2026 08:30", "1,500", "1,100", "14", "2"),  # grew
        facebook_row("2", "01/15/2026 08:30", "500", "400", "5", "1"),  # the same
        facebook_row("3", "01/16/2026 08:30", "90", "70", "1", "0"),  # new
    )
    assert comms(settings, "import", str(first), "--channel", "facebook").exit_code == 0
    result = comms(settings, "import", str(newer), "--channel", "facebook")
    assert result.exit_code == 0, result.output
    assert "Importerede 1 opslag; 2 fandtes i forvejen, 1 med nyere tal" in result.output
    assert figures(month_report(settings), "facebook") == (3, 70, 1100, 1570, 2090, 20)
    assert len(stored_posts(settings)) == 3


def test_a_post_comms_published_gets_the_exports_figures(settings: Settings, tmp_path: Path):
    sent = datetime(2026, 1, 14, 7, 30, tzinfo=UTC)
    with session_scope(settings.database_url) as session:
        session.add(
            Post(
                plan_key="tryg-nytaar:2026:1",
                campaign="tryg-nytaar",
                channel="facebook",
                text="Godt nytår",
                scheduled_at=sent,
                published_at=sent,
                state=PostState.PUBLISHED,
                external_id="104_1",
                external_url="https://www.facebook.com/104/posts/1",
            )
        )
    path = write_bom_csv(
        tmp_path / "fb.csv",
        FACEBOOK_HEADER,
        facebook_row("1", "01/14/2026 08:30", "2,000", "1,500", "30", "1"),
    )
    result = comms(settings, "import", str(path), "--channel", "facebook")
    assert result.exit_code == 0, result.output
    assert "Importerede 0 opslag; 1 fandtes i forvejen, 1 med nyere tal" in result.output
    report = month_report(settings)
    assert report["campaigns"]["tryg-nytaar"]["reach"]["total"] == 1500
    assert len(stored_posts(settings)) == 1


def test_a_new_user_imports_an_export_from_outside_the_repository(
    settings: Settings, tmp_path: Path
):
    outside = tmp_path / "Downloads"
    outside.mkdir()
    path = write_bom_csv(
        outside / "export.csv",
        FACEBOOK_HEADER,
        facebook_row("5", "01/09/2026 12:00", "3,210", "2,400", "77", "12"),
    )
    imported = run_comms(
        "--config", str(settings.path), "import", str(path), "--channel", "facebook", cwd=outside
    )
    assert imported.returncode == 0, imported.stderr
    assert "Læste: Meta Business Suite, Facebook-opslag (1 række)" in imported.stdout
    report = run_comms(
        "--config",
        str(settings.path),
        "report",
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-31",
        "--format",
        "csv",
        cwd=outside,
    )
    assert report.returncode == 0, report.stderr
    assert "channel,facebook,1,1,2400,2400,2400,2400,3210,77,2026-01-01,2026-01-31" in (
        report.stdout
    )


# --- the report says what its figures rest on ------------------------------------------------


def test_the_report_says_how_many_posts_its_reach_rests_on(settings: Settings, tmp_path: Path):
    path = tmp_path / "posts.csv"
    path.write_text(
        "channel,published_at,title,url,reach,impressions,engagements,noter\n"  # noter: ignored
        "facebook,2026-01-05 10:00,A,,100,,,x\n"
        "facebook,2026-01-06 10:00,B,,201,,,\n"
        "facebook,2026-01-07 10:00,C,,,,,y\n",
        encoding="utf-8",
    )
    assert comms(settings, "import", str(path)).exit_code == 0
    span = ["--from", "2026-01-01", "--to", "2026-01-31"]
    table = comms(settings, "report", *span)
    assert "2 af 3" in table.output
    markdown = comms(settings, "report", *span, "--format", "md").output
    assert "| facebook | 3 | 2 af 3 | 100 | 201 | 150,5 | 301 | – | – |" in markdown
    html = comms(settings, "report", *span, "--format", "html").output
    assert "Med rækkevidde" in html
    assert "2 af 3" in html
    assert month_report(settings)["channels"]["facebook"]["reach"]["known"] == 2

    excel = tmp_path / "tal.csv"
    assert comms(settings, "report", *span, "--excel", "--out", str(excel)).exit_code == 0
    data = excel.read_bytes()
    assert data.startswith(codecs.BOM_UTF8)
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0].split(";")[:4] == ["group_kind", "name", "posts", "reach_known"]
    assert "channel;facebook;3;2;100;201;150,5;301;;;2026-01-01;2026-01-31" in lines
    same = comms(settings, "report", *span, "--format", "csv", "--dialect", "excel-da")
    assert same.stdout_bytes == data
    plain = comms(settings, "report", *span, "--format", "csv").output
    assert "channel,facebook,3,2,100,201,150.5,301,,,2026-01-01,2026-01-31" in plain


# --- all or nothing, however many batches ----------------------------------------------------


def test_a_bad_row_after_written_batches_leaves_nothing(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from comms.importer import write

    monkeypatch.setattr(write, "_INSERT_CHUNK", 2)  # rows go in batches of two
    rows = [facebook_row(str(n), "01/14/2026 08:30", "10", "5", "1", "0") for n in range(7)]
    rows.insert(5, facebook_row("bad", "14/01/2026 08:30", "10", "5", "1", "0"))
    rows.append(facebook_row("worse", "01/14/2026 08:30", "-3", "5", "1", "0"))
    path = write_bom_csv(tmp_path / "fb.csv", FACEBOOK_HEADER, *rows)
    result = comms(settings, "import", str(path), "--channel", "facebook")
    assert result.exit_code == 1
    assert f"{path}:7: Publish time '14/01/2026 08:30' er ikke et tidspunkt, som denne" in (
        result.output
    )
    assert "linje 10: Views '-3' er negativt" in result.output
    assert stored_posts(settings) == []
    good = write_bom_csv(tmp_path / "good.csv", FACEBOOK_HEADER, *rows[:5], *rows[6:8])
    assert comms(settings, "import", str(good), "--channel", "facebook").exit_code == 0
    assert len(stored_posts(settings)) == 7


def test_importing_again_with_a_campaign_puts_the_posts_in_it(settings: Settings, tmp_path: Path):
    path = write_bom_csv(
        tmp_path / "fb.csv",
        FACEBOOK_HEADER,
        facebook_row("1", "01/14/2026 08:30", "100", "80", "3", "1"),
        facebook_row("2", "01/15/2026 08:30", "100", "60", "3", "1"),
    )
    assert comms(settings, "import", str(path), "--channel", "facebook").exit_code == 0
    assert month_report(settings)["campaigns"]["(importeret)"]["posts"] == 2
    again = comms(settings, "import", str(path), "--channel", "facebook", "--focus-area", "Trafik")
    assert again.exit_code == 0, again.output
    assert "2 fandtes i forvejen, 2 med ny kampagne eller indsatsområde" in again.output
    assert month_report(settings)["focus_areas"]["Trafik"]["posts"] == 2
    third = comms(settings, "import", str(path), "--channel", "facebook", "--focus-area", "Trafik")
    assert "indsatsområde" not in third.output.splitlines()[-1]  # nothing changed this time


def test_a_newer_export_on_postgresql_too(make_settings, tmp_path: Path):
    import re

    from comms.config import load_settings
    from tests.pg import fresh_database

    with fresh_database() as url:
        config = make_settings(channels=CHANNELS, schema=False).path
        assert config is not None
        text = config.read_text(encoding="utf-8")
        config.write_text(
            re.sub(r'url = "sqlite:///[^"]*"', f'url = "{url}"', text), encoding="utf-8"
        )
        settings = load_settings(config)
        first = write_bom_csv(
            tmp_path / "first.csv",
            FACEBOOK_HEADER,
            facebook_row("1", "01/14/2026 08:30", "1,000", "800", "10", "1"),
        )
        newer = write_bom_csv(
            tmp_path / "newer.csv",
            FACEBOOK_HEADER,
            facebook_row("1", "01/14/2026 08:30", "1,500", "1,100", "14", "2"),
            facebook_row("2", "01/16/2026 08:30", "90", "70", "1", "0"),
        )
        assert comms(settings, "import", str(first), "--channel", "facebook").exit_code == 0
        result = comms(settings, "import", str(newer), "--channel", "facebook")
        assert "Importerede 1 opslag; 1 fandtes i forvejen, 1 med nyere tal" in result.output
        assert figures(month_report(settings), "facebook") == (2, 70, 1100, 1170, 1590, 15)


def test_the_command_offers_every_format_and_its_help_names_them():
    from comms.cli.staff import _FORMAT_KEYS
    from comms.importer.formats import FORMATS

    assert sorted(_FORMAT_KEYS) == sorted(fmt.key for fmt in FORMATS)
    help_text = CliRunner().invoke(comms_cli(), ["import", "--help"]).output
    for fmt in FORMATS:
        assert fmt.key in help_text

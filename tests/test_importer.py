"""`comms import`: a CSV of posts made elsewhere becomes published posts with their figures."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import func, select

from comms.config import Settings, load_settings
from comms.errors import ImportFileError
from comms.importer.source import EXPECTED_HEADER
from comms.importer.write import import_csv
from comms.store.db import session_scope
from comms.store.models import AuditEvent, MetricSample, Post
from tests.cli import comms_cli, run_comms
from tests.pg import fresh_database

HEADER = "channel,published_at,title,url,reach,impressions,engagements"


@pytest.fixture
def settings(make_settings) -> Settings:
    return make_settings()


def write_csv(tmp_path: Path, *rows: str, header: str = HEADER, name: str = "posts.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join((header, *rows)) + "\n", encoding="utf-8")
    return path


def counts(settings: Settings) -> tuple[int, int, int]:
    with session_scope(settings.database_url) as session:
        return (
            session.exec(select(func.count()).select_from(Post)).one(),
            session.exec(select(func.count()).select_from(MetricSample)).one(),
            session.exec(select(func.count()).select_from(AuditEvent)).one(),
        )


def all_posts(settings: Settings) -> list[Post]:
    with session_scope(settings.database_url) as session:
        return list(session.exec(select(Post).order_by(Post.id)))


def test_a_row_becomes_a_published_post_with_its_figures(settings: Settings, tmp_path: Path):
    path = write_csv(
        tmp_path,
        "facebook,2019-01-14T20:59:00+01:00,Tryg nytår,https://aalborg.dk/nyt,25056,30000,412",
    )
    result = import_csv(settings, path, actor="anna")

    assert (result.added, result.skipped_duplicates) == (1, 0)
    (post,) = all_posts(settings)
    assert post.source == "import"
    assert post.state == "published"
    assert post.channel == "facebook"
    assert post.title == post.text == "Tryg nytår"
    assert post.link == post.external_url == "https://aalborg.dk/nyt"
    assert post.published_at == post.scheduled_at == datetime(2019, 1, 14, 19, 59, tzinfo=UTC)
    assert post.plan_key is not None
    assert post.plan_key.startswith("import:")
    with session_scope(settings.database_url) as session:
        (sample,) = session.exec(select(MetricSample))
        (event,) = session.exec(select(AuditEvent))
    assert sample.post_id == post.id
    assert (sample.reach, sample.impressions, sample.engagements) == (25056, 30000, 412)
    assert json.loads(sample.raw or "")["title"] == "Tryg nytår"
    assert event.action == "import"
    assert event.actor == "anna"
    assert event.detail is not None
    assert "posts.csv" in event.detail
    assert "1 added" in event.detail


def test_empty_figures_are_allowed_and_give_no_sample(settings: Settings, tmp_path: Path):
    path = write_csv(
        tmp_path,
        "hjemmeside,2019-01-14 10:00,,,,,",
        "facebook,2019-01-14 11:00,Kun reach,,3555,,",
    )
    assert import_csv(settings, path, actor="anna").added == 2
    first, second = all_posts(settings)
    assert first.title is None
    assert first.text == ""
    assert first.link is None
    with session_scope(settings.database_url) as session:
        (sample,) = session.exec(select(MetricSample))
    assert sample.post_id == second.id
    assert (sample.reach, sample.impressions, sample.engagements) == (3555, None, None)


@pytest.mark.parametrize(
    ("written", "utc"),
    [
        ("2019-01-14 20:59", datetime(2019, 1, 14, 19, 59, tzinfo=UTC)),  # naive, winter (+1)
        ("2019-07-01T08:00:00", datetime(2019, 7, 1, 6, 0, tzinfo=UTC)),  # naive, summer (+2)
        ("2019-07-01T08:00:00+00:00", datetime(2019, 7, 1, 8, 0, tzinfo=UTC)),
        ("2019-07-01T08:00:00Z", datetime(2019, 7, 1, 8, 0, tzinfo=UTC)),
        ("2019-07-01T08:00:00-04:00", datetime(2019, 7, 1, 12, 0, tzinfo=UTC)),
        ("2019-07-01", datetime(2019, 6, 30, 22, 0, tzinfo=UTC)),  # a date: local midnight
    ],
)
def test_naive_times_are_local_and_offsets_are_kept(
    settings: Settings, tmp_path: Path, written: str, utc: datetime
):
    import_csv(settings, write_csv(tmp_path, f"facebook,{written},T,,,,"), actor="anna")
    (post,) = all_posts(settings)
    assert post.published_at == utc


@pytest.mark.parametrize(
    ("written", "value"),
    [("0", 0), ("25056", 25056), ("25.056", 25056), ("1.234.567", 1234567), (" 42 ", 42)],
)
def test_figures_plain_or_with_danish_thousands_dots(
    settings: Settings, tmp_path: Path, written: str, value: int
):
    import_csv(
        settings, write_csv(tmp_path, f'facebook,2019-01-14 10:00,T,,"{written}",,'), actor="a"
    )
    with session_scope(settings.database_url) as session:
        (sample,) = session.exec(select(MetricSample))
    assert sample.reach == value


def test_columns_may_come_in_any_order(settings: Settings, tmp_path: Path):
    path = write_csv(
        tmp_path,
        "12,3555,Titel,facebook,,2019-01-14 10:00,",
        header="engagements,reach,title,channel,url,published_at,impressions",
    )
    import_csv(settings, path, actor="anna")
    (post,) = all_posts(settings)
    assert (post.channel, post.title) == ("facebook", "Titel")
    with session_scope(settings.database_url) as session:
        (sample,) = session.exec(select(MetricSample))
    assert (sample.reach, sample.engagements) == (3555, 12)


def test_reimporting_the_same_file_adds_nothing(settings: Settings, tmp_path: Path):
    path = write_csv(
        tmp_path,
        "facebook,2019-01-14 10:00,A,https://aalborg.dk/a,100,,",
        "hjemmeside,2019-01-15 10:00,B,https://aalborg.dk/b,,,",
    )
    first = import_csv(settings, path, actor="anna")
    second = import_csv(settings, path, actor="anna")
    assert (first.added, first.skipped_duplicates) == (2, 0)
    assert (second.added, second.skipped_duplicates) == (0, 2)
    posts, samples, _ = counts(settings)
    assert (posts, samples) == (2, 1)


def test_the_same_instant_written_another_way_is_a_duplicate(settings: Settings, tmp_path: Path):
    import_csv(settings, write_csv(tmp_path, "facebook,2019-01-14 20:59,A,,,,"), actor="a")
    again = write_csv(tmp_path, "facebook,2019-01-14T19:59:00Z,A,,,,", name="again.csv")
    assert import_csv(settings, again, actor="a").skipped_duplicates == 1
    assert counts(settings)[0] == 1


def test_a_new_row_in_a_grown_file_is_added(settings: Settings, tmp_path: Path):
    row_a = "facebook,2019-01-14 10:00,A,,,,"
    import_csv(settings, write_csv(tmp_path, row_a), actor="a")
    result = import_csv(
        settings, write_csv(tmp_path, row_a, "facebook,2019-01-15 10:00,B,,7,,"), actor="a"
    )
    assert (result.added, result.skipped_duplicates) == (1, 1)


def test_duplicate_rows_within_one_file_are_skipped(settings: Settings, tmp_path: Path):
    row = "facebook,2019-01-14 10:00,A,https://aalborg.dk/a,100,,"
    result = import_csv(settings, write_csv(tmp_path, row, row), actor="anna")
    assert (result.added, result.skipped_duplicates) == (1, 1)


def test_an_excel_utf8_bom_is_accepted(settings: Settings, tmp_path: Path):
    path = tmp_path / "excel.csv"
    text = f"{HEADER}\r\nfacebook,2019-01-14 10:00,Blå mandag,,3.555,,\r\n"
    path.write_bytes(codecs.BOM_UTF8 + text.encode("utf-8"))
    assert import_csv(settings, path, actor="anna").added == 1
    assert all_posts(settings)[0].title == "Blå mandag"


def test_header_only_imports_nothing(settings: Settings, tmp_path: Path):
    result = import_csv(settings, write_csv(tmp_path), actor="anna")
    assert (result.added, result.skipped_duplicates) == (0, 0)


def test_many_rows_go_in_by_bulk(settings: Settings, tmp_path: Path):
    rows = [f"facebook,2019-01-01T00:00:00Z,Opslag {i},,{i},," for i in range(12_000)]
    result = import_csv(settings, write_csv(tmp_path, *rows), actor="anna")
    assert result.added == 12_000
    posts, samples, events = counts(settings)
    assert (posts, samples, events) == (12_000, 12_000, 1)
    with session_scope(settings.database_url) as session:
        joined = session.exec(
            select(func.count())
            .select_from(MetricSample)
            .join(Post, Post.id == MetricSample.post_id)
            .where(Post.title == "Opslag " + func.cast(MetricSample.reach, Post.text.type))
        ).one()
    assert joined == 12_000  # every sample sits on its own post


# --- errors: file, line, what to do, and nothing written -----------------------------------

BAD_ROWS = [
    ("instagram,2019-01-14 10:00,T,,,,", "ukendt kanal 'instagram'", "facebook, hjemmeside"),
    (",2019-01-14 10:00,T,,,,", "channel er tom", "facebook, hjemmeside"),
    ("facebook,14-01-2019 10:00,T,,,,", "er ikke et ISO 8601-tidspunkt", "2019-01-14 20:59"),
    ("facebook,,T,,,,", "published_at er tom", "ISO 8601"),
    ("facebook,2019-01-14 10:00,T,,-5,,", "reach '-5' er negativt", "helt tal"),
    ("facebook,2019-01-14 10:00,T,,,3.5,", "impressions '3.5' er ikke et helt tal", "25.056"),
    ('facebook,2019-01-14 10:00,T,,,,"25,056"', "engagements '25,056' er ikke et helt", "25056"),
    ("facebook,2019-01-14 10:00,T,,12a,,", "reach '12a' er ikke et helt tal", "tomt"),
    ("facebook,2019-01-14 10:00,T,,²,,", "reach '²' er ikke et helt tal", "tomt"),
    ("facebook,0001-01-01 00:00,T,,,,", "published_at '0001-01-01 00:00' ligger uden for", "9999"),
    ("facebook,9999-12-31 23:59-01:00,T,,,,", "ligger uden for", "år 1 og år 9999"),
    ("facebook,2019-01-14 10:00,T,,99999999999,,", "reach '99999999999' er for stort", "højst"),
    ("facebook,2019-01-14 10:00,T,aalborg.dk,,,", "er ikke en webadresse", "https://"),
    ("facebook,2019-01-14 10:00,T,,,", "6 værdier, men overskriften har 7 kolonner", "komma"),
    ("facebook,2019-01-14 10:00,T,,,,,", "8 værdier, men overskriften har 7 kolonner", "komma"),
]


@pytest.mark.parametrize(("row", "message", "hint"), BAD_ROWS)
def test_a_bad_row_names_file_line_and_fix_and_writes_nothing(
    settings: Settings, tmp_path: Path, row: str, message: str, hint: str | None
):
    path = write_csv(tmp_path, "facebook,2019-01-14 09:00,Fin,,1,,", "", row)  # bad on line 4
    with pytest.raises(ImportFileError) as caught:
        import_csv(settings, path, actor="anna")
    error = caught.value
    assert error.path == path
    assert error.line == 4
    assert message in error.message
    if hint:
        assert hint in (error.hint or "")
    assert str(error).startswith(f"{path}:4: ")
    assert counts(settings) == (0, 0, 0)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("channel,published_at,title,url,reach,impressions", "kolonne(r) mangler: engagements"),
        (HEADER.replace("reach", "reatch"), "kolonne(r) mangler: reach (mente du 'reatch'?)"),
        (HEADER.replace("url", "link"), "kolonne(r) mangler: url"),
        (HEADER + ",title", "kolonne(r) gentaget: title"),
    ],
)
def test_a_bad_header_says_which_columns_and_shows_the_expected_one(
    settings: Settings, tmp_path: Path, header: str, expected: str
):
    path = write_csv(tmp_path, "facebook,2019-01-14 09:00,Fin,,1,,", header=header)
    with pytest.raises(ImportFileError) as caught:
        import_csv(settings, path, actor="anna")
    assert caught.value.line == 1
    assert expected in caught.value.message
    assert EXPECTED_HEADER in (caught.value.hint or "")
    assert counts(settings) == (0, 0, 0)


def test_an_empty_file_is_an_error(settings: Settings, tmp_path: Path):
    path = tmp_path / "empty.csv"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match=r"empty\.csv:1: filen er tom") as caught:
        import_csv(settings, path, actor="anna")
    assert EXPECTED_HEADER in (caught.value.hint or "")


def test_a_utf16_file_is_refused(settings: Settings, tmp_path: Path):
    path = tmp_path / "utf16.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + f"{HEADER}\n".encode("utf-16-le"))
    with pytest.raises(ImportFileError, match=r"utf16\.csv:1: filen er UTF-16-tekst") as caught:
        import_csv(settings, path, actor="anna")
    assert "CSV UTF-8" in (caught.value.hint or "")


def test_non_utf8_bytes_name_their_line(settings: Settings, tmp_path: Path):
    path = tmp_path / "latin1.csv"
    text = f"{HEADER}\nfacebook,2019-01-14 10:00,Fin,,,,\nfacebook,2019-01-15 10:00,Blå,,,,\n"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ImportFileError) as caught:
        import_csv(settings, path, actor="anna")
    assert caught.value.line == 3
    assert "ikke UTF-8" in caught.value.message
    assert counts(settings) == (0, 0, 0)


def test_every_bad_line_is_reported_and_the_first_is_the_location(
    settings: Settings, tmp_path: Path
):
    path = write_csv(
        tmp_path,
        "facebook,2019-01-14 10:00,Fin,,,,",
        "twitter,2019-01-14 10:00,T,,,,",
        "facebook,2019-01-14 10:00,T,,-1,,",
        "facebook,nej,T,,,,",
    )
    with pytest.raises(ImportFileError) as caught:
        import_csv(settings, path, actor="anna")
    assert caught.value.line == 3
    assert caught.value.details == [
        "linje 4: reach '-1' er negativt (skriv et helt tal på 0 eller mere, fx 25056 eller "
        "25.056, eller lad feltet stå tomt)",
        "linje 5: published_at 'nej' er ikke et ISO 8601-tidspunkt (skriv ISO 8601, fx "
        "2019-01-14 20:59 (lokal tid) eller 2019-01-14T19:59:00Z)",
    ]
    assert "intet blev importeret" in (caught.value.hint or "")


def test_line_numbers_count_quoted_line_breaks(settings: Settings, tmp_path: Path):
    path = write_csv(
        tmp_path,
        'facebook,2019-01-14 10:00,"Første linje\nanden linje",,,,',
        "facebook,2019-01-14 10:00,T,,minus,,",
    )
    with pytest.raises(ImportFileError) as caught:
        import_csv(settings, path, actor="anna")
    assert caught.value.line == 4


def test_an_error_leaves_earlier_imports_untouched(settings: Settings, tmp_path: Path):
    import_csv(settings, write_csv(tmp_path, "facebook,2019-01-14 10:00,A,,5,,"), actor="a")
    before = counts(settings)
    bad = write_csv(
        tmp_path, "facebook,2019-01-15 10:00,B,,6,,", "facebook,bad,C,,,,", name="bad.csv"
    )
    with pytest.raises(ImportFileError):
        import_csv(settings, bad, actor="a")
    assert counts(settings) == before


# --- the command ---------------------------------------------------------------------------


def test_cli_import_prints_what_it_did(settings: Settings, tmp_path: Path):
    path = write_csv(tmp_path, "facebook,2019-01-14 10:00,A,,5,,", "hjemmeside,2019-01-14,B,,,,")
    runner = CliRunner()
    args = ["--config", str(settings.path), "import", str(path)]
    first = runner.invoke(comms_cli(), args, env={"COMMS_USER": "anna"})
    assert first.exit_code == 0, first.output
    assert "Læste: comms' egen CSV (2 rækker)" in first.output
    assert "Importerede 2 opslag" in first.output
    assert "i forvejen" not in first.output
    again = runner.invoke(comms_cli(), args, env={"COMMS_USER": "anna"})
    assert "Importerede 0 opslag; 2 fandtes i forvejen" in again.output
    assert "nyere tal" not in again.output
    with session_scope(settings.database_url) as session:
        actors = set(session.exec(select(AuditEvent.actor)))
    assert actors == {"anna"}


def test_cli_import_error_is_one_line_with_file_and_line(settings: Settings, tmp_path: Path):
    path = write_csv(tmp_path, "facebook,2019-01-14 10:00,A,,5,,", "myspace,2019-01-14,B,,,,")
    result = CliRunner().invoke(comms_cli(), ["--config", str(settings.path), "import", str(path)])
    assert result.exit_code == 1
    assert f"{path}:3: ukendt kanal 'myspace'" in result.output
    assert "konfigurerede kanaler: facebook, hjemmeside" in result.output
    assert "Traceback" not in result.output
    assert counts(settings) == (0, 0, 0)


def test_cli_import_help_has_an_example():
    result = CliRunner().invoke(comms_cli(), ["import", "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert "comms import" in result.output


@pytest.fixture(params=["sqlite", "postgresql"])
def any_settings(request, make_settings, tmp_path: Path) -> Iterator[Settings]:
    """Settings on SQLite, and on a fresh PostgreSQL database (the importer's other path)."""
    if request.param == "sqlite":
        yield make_settings()
        return
    with fresh_database() as url:
        config = make_settings(schema=False).path
        assert config is not None
        text = config.read_text(encoding="utf-8")
        config.write_text(
            re.sub(r'url = "sqlite:///[^"]*"', f'url = "{url}"', text), encoding="utf-8"
        )
        settings = load_settings(config)
        assert settings.database_url == url
        yield settings


def test_cli_reimport_of_an_updated_export_adds_the_newer_figures(
    any_settings: Settings, tmp_path: Path
):
    settings = any_settings
    first = write_csv(
        tmp_path,
        "facebook,2019-01-14 10:00,A,https://aalborg.dk/a,100,200,10",
        "facebook,2019-01-15 10:00,B,https://aalborg.dk/b,50,,",
        "facebook,2019-01-16 10:00,C,https://aalborg.dk/c,70,,",
        name="export-1.csv",
    )
    updated = write_csv(
        tmp_path,
        "facebook,2019-01-14 10:00,A,https://aalborg.dk/a,900,,",  # reach grew; rest unknown
        "facebook,2019-01-15 10:00,B,https://aalborg.dk/b,50,,",  # unchanged
        "facebook,2019-01-16 10:00,C,https://aalborg.dk/c,75,,",
        "facebook,2019-01-17 10:00,D,https://aalborg.dk/d,5,,",  # new
        name="export-2.csv",
    )
    runner = CliRunner()
    base = ["--config", str(settings.path)]
    assert runner.invoke(comms_cli(), [*base, "import", str(first)]).exit_code == 0
    result = runner.invoke(comms_cli(), [*base, "import", str(updated)])
    assert result.exit_code == 0, result.output
    assert "Importerede 1 opslag; 3 fandtes i forvejen, 2 med nyere tal" in result.output
    again = runner.invoke(comms_cli(), [*base, "import", str(updated)])
    assert "Importerede 0 opslag; 4 fandtes i forvejen" in again.output
    assert "nyere tal" not in again.output

    report = runner.invoke(
        comms_cli(),
        [*base, "report", "--from", "2019-01-01", "--to", "2019-01-31", "--format", "json"],
    )
    assert report.exit_code == 0, report.output
    top = {p["title"]: p for p in json.loads(report.output)["top_posts"]}
    assert top["A"]["reach"] == 900
    assert top["C"]["reach"] == 75
    with session_scope(settings.database_url) as session:
        samples = session.exec(
            select(MetricSample).join(Post).where(Post.title == "A").order_by(MetricSample.id)
        ).all()
    # the empty impressions/engagements of the update keep the earlier values
    assert [(s.reach, s.impressions, s.engagements) for s in samples] == [
        (100, 200, 10),
        (900, 200, 10),
    ]


def test_cli_import_says_what_is_wrong_on_every_bad_line(settings: Settings, tmp_path: Path):
    rows = [
        "facebok,2019-01-14 10:00,A,,5,,",  # line 2: mistyped channel
        "facebook,nej,B,,1,5,x",  # line 3: two problems on one line
        *(f"facebook,2019-01-{day:02d} 10:00,C,,-{day},," for day in range(1, 26)),
    ]
    path = write_csv(tmp_path, *rows)
    result = run_comms("--config", str(settings.path), "import", str(path))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"Error: {path}:2: ukendt kanal 'facebok' (mente du ")
    assert "'facebook'?" in lines[0]
    assert lines[0].endswith("intet blev importeret)")
    assert lines[1] == (
        "  linje 3: published_at 'nej' er ikke et ISO 8601-tidspunkt (skriv ISO 8601, fx "
        "2019-01-14 20:59 (lokal tid) eller 2019-01-14T19:59:00Z); engagements 'x' er ikke et "
        "helt tal (skriv et helt tal på 0 eller mere, fx 25056 eller 25.056, eller lad feltet "
        "stå tomt)"
    )
    assert lines[2].startswith("  linje 4: reach '-1' er negativt (")
    assert lines[20].startswith("  linje 22: reach '-19' er negativt (")
    assert lines[21] == "  og 6 linjer mere med fejl"
    assert len(lines) == 22
    assert counts(settings) == (0, 0, 0)

"""The import's exact values: times as zoneinfo converts them, plan keys as earlier versions
stored them, and what the bare DB-API inserts on SQLite write (see bench/import), held to the
slow, obvious definitions."""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st
from sqlmodel import select

from comms.config import Settings
from comms.errors import ImportFileError
from comms.importer import write as importer
from comms.importer.rows import read_rows
from comms.importer.write import import_csv
from comms.store.bulk import sqlite_time
from comms.store.db import ensure_schema, session_scope, sqlite_path
from comms.store.models import MetricSample, Post, new_keys, table_of
from tests.test_importer import counts, write_csv


@pytest.fixture
def settings(make_settings) -> Settings:
    return make_settings()


def test_times_written_many_ways_are_the_instants_zoneinfo_gives(
    settings: Settings, tmp_path: Path
):
    # Copenhagen: 2026-03-29 02:00-03:00 does not exist, 2026-10-25 02:00-03:00 comes twice
    days = [datetime.fromisoformat(day) for day in ("2026-03-29", "2026-10-25")]
    times = [(day + timedelta(minutes=20 * n)).isoformat(" ") for day in days for n in range(15)]
    times += ["2019-07-01", "2019-07-01T08:00:00.5Z", "2019-07-01T08:00+05:30", "0001-01-02"]
    times += ["2019-01-14T20:59:59.999999-04:00", "9999-12-30 23:59", "1850-06-01 12:00"]
    figures = ["", "0", "007", "25.056", "1.234.567", "34", "2147483647", " 42 "]
    lines = [
        f'facebook,{at},"T {n}",{"https://a.dk/" * (n % 2)},"{figures[n % 8]}",,{n}'
        for n, at in enumerate(times)
    ]
    lines.insert(2, " , ,,,,,  ")  # a blank record and an empty line: skipped, lines counted
    lines.insert(3, "")
    expected_lines = [2, 3, *range(6, len(times) + 4)]
    rows = read_rows(settings, write_csv(tmp_path, *lines))
    assert [row.line for row in rows] == expected_lines
    zone = ZoneInfo("Europe/Copenhagen")
    expected = []
    for at in times:
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        expected.append(moment.astimezone(UTC))
    assert [row.published_at for row in rows] == expected
    assert all(row.published_at.tzinfo is UTC for row in rows)


def test_plan_keys_are_the_ones_earlier_versions_stored(settings: Settings, tmp_path: Path):
    rows = ["facebook,2019-01-14T20:59+01:00,Tryg nytår,https://aalborg.dk/nyt,,,"]
    rows += ["hjemmeside,2019-07-01 08:00:00.123456,,,,,"]
    assert [row.plan_key for row in read_rows(settings, write_csv(tmp_path, *rows))] == [
        "import:1421c23457ec2cd2180e7509fda742218366fe2a8f3751f121717242a6acea51",
        "import:6c886e62605b8a54b118bb3be3ed6ba5f3ca3c0131bf91a6bc57a8db54d76d80",
    ]  # as the code before the fast paths made them: a re-import must find them


@fuzz_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    zone=st.sampled_from(["Europe/Copenhagen", "America/St_Johns", "Australia/Lord_Howe"]),
    moments=st.lists(
        st.datetimes(datetime.fromisoformat("1850-01-01"), datetime.fromisoformat("2100-01-01")),
        min_size=1,
        max_size=20,
    ),
)
def test_naive_times_convert_as_zoneinfo_does(
    settings: Settings, tmp_path: Path, zone: str, moments: list[datetime]
):
    in_zone = dataclasses.replace(settings, timezone=zone)
    path = write_csv(tmp_path, *(f"facebook,{moment.isoformat()},,,,," for moment in moments))
    assert [row.published_at for row in read_rows(in_zone, path)] == [
        moment.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC) for moment in moments
    ]


def test_stored_times_and_idempotency_keys_are_as_the_orm_writes_them():
    moment = datetime(2019, 1, 14, 20, 59, 1, 5, tzinfo=ZoneInfo("Europe/Copenhagen"))
    assert sqlite_time(moment) == "2019-01-14 19:59:01.000005"
    keys = new_keys(1000)
    assert {(str(uuid.UUID(key)), uuid.UUID(key).version) for key in keys} == {
        (key, 4) for key in keys
    }
    assert {uuid.UUID(key).variant for key in keys} == {uuid.RFC_4122}


# --- a failure halfway through the bulk inserts leaves nothing behind -----------------------


def stored(settings: Settings) -> tuple[object, ...]:
    """The row counts and every post's key, id and times."""
    with session_scope(settings.database_url) as session:
        posts = [
            (p.id, p.plan_key, p.published_at, p.created_at)
            for p in session.exec(select(Post).order_by(Post.id))
        ]
    return counts(settings), posts


def measured_rows(tmp_path: Path, start: int, count: int, name: str = "posts.csv") -> Path:
    rows = [f"facebook,2019-01-14 10:00,Opslag {n},,{n},," for n in range(start, start + count)]
    return write_csv(tmp_path, *rows, name=name)


@pytest.mark.parametrize("fault", ["in python", "in the database"])
def test_a_failing_bulk_import_leaves_the_rows_as_they_were(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
):
    import_csv(settings, measured_rows(tmp_path, 0, 2), actor="a")
    monkeypatch.setattr(importer, "_INSERT_CHUNK", 2)  # new rows 10-15 go in three chunks
    if fault == "in python":  # the second chunk fails, the first one is in
        keys = [new_keys(2), RuntimeError("fault injected by the test")]
        monkeypatch.setattr(importer, "new_keys", mock.Mock(side_effect=keys))
    else:  # SQLite itself refuses the figures of the second chunk
        path = sqlite_path(settings.database_url)
        assert path is not None
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute(
                "CREATE TRIGGER refuse_13 BEFORE INSERT ON metric_sample WHEN NEW.reach = 13 "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
    before = stored(settings)

    with pytest.raises((RuntimeError, sqlite3.DatabaseError), match="by the test"):
        import_csv(settings, measured_rows(tmp_path, 10, 6, "new.csv"), actor="a")

    assert stored(settings) == before
    # and the same file goes in whole once the fault is gone
    monkeypatch.undo()
    if fault == "in the database":
        with contextlib.closing(sqlite3.connect(sqlite_path(settings.database_url))) as db:
            db.execute("DROP TRIGGER refuse_13")
    assert import_csv(settings, measured_rows(tmp_path, 10, 6, "new.csv"), actor="a").added == 6


def figures_by_title(settings: Settings) -> dict[str, int | None]:
    """Each post's title with the reach of its sample, joined by the stored post id."""
    with contextlib.closing(sqlite3.connect(sqlite_path(settings.database_url))) as db:
        return dict(
            db.execute(
                "SELECT post.title, metric_sample.reach FROM post "
                "JOIN metric_sample ON metric_sample.post_id = post.id"
            )
        )


def test_each_sample_is_its_own_posts_when_ids_run_on_and_when_they_do_not(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(importer, "_INSERT_CHUNK", 3)
    import_csv(settings, measured_rows(tmp_path, 0, 7), actor="a")
    assert figures_by_title(settings) == {f"Opslag {n}": n for n in range(7)}
    # with the largest id taken SQLite picks new ids at random: they are looked up by plan key
    with contextlib.closing(sqlite3.connect(sqlite_path(settings.database_url))) as db:
        (last,) = db.execute("SELECT max(id) FROM post").fetchone()
        db.execute("UPDATE post SET id = ? WHERE id = ?", (2**63 - 1, last))
        db.execute("UPDATE metric_sample SET post_id = ? WHERE post_id = ?", (2**63 - 1, last))
        db.commit()
    import_csv(settings, measured_rows(tmp_path, 7, 7, "more.csv"), actor="a")
    assert figures_by_title(settings) == {f"Opslag {n}": n for n in range(14)}
    with contextlib.closing(sqlite3.connect(sqlite_path(settings.database_url))) as db:
        ids = [post_id for (post_id,) in db.execute("SELECT id FROM post ORDER BY id")]
    assert ids[-1] == 2**63 - 1
    assert ids[:-1] != list(range(1, 14))  # the second file's posts' ids were not max + 1...


# --- into an empty post table the secondary indexes are built once, after the rows -----------


def indexes(url: str) -> set[tuple[str, str, str | None]]:
    """The database's indexes as its schema holds them: name, table, CREATE statement."""
    with contextlib.closing(sqlite3.connect(sqlite_path(url))) as db:
        return set(db.execute("SELECT name, tbl_name, sql FROM sqlite_master WHERE type='index'"))


def fresh_indexes(tmp_path: Path) -> set[tuple[str, str, str | None]]:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    ensure_schema(url)
    return indexes(url)


def spy_on_dropped(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The CREATE statements of the indexes each call of drop_secondary_indexes dropped."""
    calls: list[list[str]] = []
    real = importer.drop_secondary_indexes

    def spy(*args: Any, **kwargs: Any) -> list[str]:
        calls.append(real(*args, **kwargs))
        return calls[-1]

    monkeypatch.setattr(importer, "drop_secondary_indexes", spy)
    return calls


def test_an_import_into_an_empty_table_leaves_the_indexes_of_a_fresh_schema(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(importer, "_INSERT_CHUNK", 3)
    calls = spy_on_dropped(monkeypatch)
    import_csv(settings, measured_rows(tmp_path, 0, 10), actor="a")

    dropped = [sql for statements in calls for sql in statements]
    model_indexes = {
        index.name for table in (Post, MetricSample) for index in table_of(table).indexes
    }
    assert {sql.split()[2] for sql in dropped} == model_indexes - importer._LOOKUP_INDEXES
    assert model_indexes >= importer._LOOKUP_INDEXES  # the lookups' index is there, and kept
    assert indexes(settings.database_url) == fresh_indexes(tmp_path)
    with contextlib.closing(sqlite3.connect(sqlite_path(settings.database_url))) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]  # every row indexed
        by_channel = "SELECT count(*) FROM post INDEXED BY ix_post_channel_published"
        assert db.execute(f"{by_channel} WHERE channel = 'facebook'").fetchone() == (10,)
        titles = [title for (title,) in db.execute("SELECT title FROM post ORDER BY id")]
    assert titles == [f"Opslag {n}" for n in range(10)]  # numbered in file order
    assert figures_by_title(settings) == {f"Opslag {n}": n for n in range(10)}


@pytest.mark.parametrize("fault", ["a bad last row", "in the database", "rebuilding an index"])
def test_a_failing_import_into_an_empty_table_leaves_it_empty_with_its_indexes(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
):
    monkeypatch.setattr(importer, "_INSERT_CHUNK", 2)  # four batches are in before the fault
    calls = spy_on_dropped(monkeypatch)
    rows = [f"facebook,2019-01-14 10:00,Opslag {n},,{n},," for n in range(9)]
    if fault == "a bad last row":
        rows.append("facebook,2019-14-01 10:00,Opslag 9,,9,,")
        expected: Any = ImportFileError
    elif fault == "in the database":  # SQLite refuses the last row's figures
        with contextlib.closing(sqlite3.connect(sqlite_path(settings.database_url))) as db:
            db.execute(
                "CREATE TRIGGER refuse_8 BEFORE INSERT ON metric_sample WHEN NEW.reach = 8 "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
        expected = sqlite3.DatabaseError
    else:  # every row is in when an index cannot be built again

        def unbuildable(*args: Any, **kwargs: Any) -> list[str]:
            return [*calls_real(*args, **kwargs), "CREATE INDEX ix_broken ON post (no_such_column)"]

        calls_real = importer.drop_secondary_indexes
        monkeypatch.setattr(importer, "drop_secondary_indexes", unbuildable)
        expected = sqlite3.OperationalError
    before = indexes(settings.database_url)

    with pytest.raises(expected):
        import_csv(settings, write_csv(tmp_path, *rows), actor="a")

    assert calls  # the indexes were dropped, and the rollback brought them back
    assert counts(settings) == (0, 0, 0)
    assert indexes(settings.database_url) == before
    assert {name for name, _, _ in before} >= {"ix_post_due", "ix_metric_sample_post_id"}


def test_an_import_into_a_table_with_posts_keeps_its_indexes_throughout(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import_csv(settings, measured_rows(tmp_path, 0, 2), actor="a")
    calls = spy_on_dropped(monkeypatch)
    monkeypatch.setattr(importer, "_INSERT_CHUNK", 2)
    assert import_csv(settings, measured_rows(tmp_path, 2, 5, "more.csv"), actor="a").added == 5
    assert calls == []  # the posts went in one by one into the indexes there
    assert indexes(settings.database_url) == fresh_indexes(tmp_path)
    with contextlib.closing(sqlite3.connect(sqlite_path(settings.database_url))) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert figures_by_title(settings) == {f"Opslag {n}": n for n in range(7)}

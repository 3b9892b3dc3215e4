"""A new SQLite database made from the kept dump is the database the migrations make."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from comms.store import newest_schema
from comms.store.db import (
    current_revision,
    dispose_all,
    ensure_schema,
    head_revision,
    upgrade,
)

WRITE_AGAIN = "write it again: python -m comms.store.newest_schema"


@pytest.fixture
def kept_instead(monkeypatch):
    """Replay another file than the kept dump, for one test."""

    def use(path: Path) -> None:
        monkeypatch.setattr(newest_schema, "DUMP", path)
        newest_schema._statements.cache_clear()

    yield use
    newest_schema._statements.cache_clear()  # the kept dump's statements are read again


def migrated(folder: Path, revision: str = "head") -> Path:
    path = folder / f"migrated-{revision}.db"
    upgrade(f"sqlite:///{path}", revision)
    dispose_all()
    return path


def test_the_kept_dump_is_what_the_migrations_make(tmp_path):
    assert newest_schema.DUMP.read_text(encoding="utf-8") == newest_schema.dump(
        migrated(tmp_path)
    ), WRITE_AGAIN


def test_a_new_database_is_the_migrated_one_at_the_head(tmp_path):
    new = tmp_path / "new.db"
    url = f"sqlite:///{new}"
    ensure_schema(url)
    dispose_all()
    assert newest_schema.dump(new) == newest_schema.dump(migrated(tmp_path))
    assert current_revision(url) == head_revision()


def test_a_new_database_is_made_without_alembic(tmp_path):
    """The start-up of a first `comms import` or daemon does not pay for the migrations."""
    url = f"sqlite:///{tmp_path / 'new.db'}"
    check = (
        "import sys; from comms.store.db import ensure_schema; "
        f"ensure_schema({url!r}); print(sorted(m for m in sys.modules if m.startswith('alembic')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
    assert current_revision(url) == head_revision()


def test_a_dump_older_than_the_scripts_is_brought_to_the_head(tmp_path, kept_instead):
    """Someone added a migration and did not write the dump again: still the right schema."""
    older = tmp_path / "older.sql"
    older.write_text(newest_schema.dump(migrated(tmp_path, "0011")), encoding="utf-8")
    kept_instead(older)
    new = tmp_path / "new.db"
    url = f"sqlite:///{new}"
    ensure_schema(url)
    dispose_all()
    assert current_revision(url) == head_revision()
    assert "ix_post_retry" in newest_schema.dump(new)  # 0012's index, by its migration


def test_processes_creating_one_new_database_at_once_make_it_once(tmp_path):
    """Daemon and web starting together on a new file: one creates, the others find it made."""
    new = tmp_path / "new.db"
    url = f"sqlite:///{new}"
    check = f"from comms.store.db import ensure_schema; ensure_schema({url!r})"
    runs = [
        subprocess.Popen([sys.executable, "-c", check], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    for run in runs:
        assert run.wait(60) == 0, run.communicate()[1]
    assert newest_schema.dump(new) == newest_schema.dump(migrated(tmp_path))


def test_a_database_with_tables_of_its_own_is_left_alone(tmp_path):
    """An empty-looking check and a foreign file: the dump is never replayed over tables."""
    import sqlite3

    path = tmp_path / "other.db"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE notes (body TEXT)")
    other.commit()
    other.close()
    from comms.errors import SchemaError
    from comms.store.db import get_engine

    assert newest_schema.create(get_engine(f"sqlite:///{path}")) is False
    with pytest.raises(SchemaError, match="revision none"):
        ensure_schema(f"sqlite:///{path}")


def test_a_view_and_a_trigger_on_it_are_replayed_in_an_order_that_works(tmp_path, kept_instead):
    """A later migration may add them: the dump makes what a trigger stands on first."""
    import sqlite3

    from comms.store.db import get_engine

    source = tmp_path / "source.db"
    made = sqlite3.connect(source)
    made.executescript(
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL);"
        " INSERT INTO alembic_version VALUES ('0099');"
        " CREATE TABLE log (what TEXT); CREATE TABLE post (title TEXT);"
        " CREATE VIEW titles AS SELECT title FROM post;"
        " CREATE TRIGGER a_title INSTEAD OF INSERT ON titles"
        " BEGIN INSERT INTO post VALUES (new.title); INSERT INTO log VALUES ('titel'); END;"
        " CREATE INDEX ix_title ON post (title);"
    )
    made.close()
    kept = tmp_path / "kept.sql"
    kept.write_text(newest_schema.dump(source), encoding="utf-8")
    kept_instead(kept)
    assert newest_schema.create(get_engine(f"sqlite:///{tmp_path / 'new.db'}"))
    dispose_all()
    assert newest_schema.dump(tmp_path / "new.db") == kept.read_text(encoding="utf-8")

"""Backups of the database and restoring one, without ever letting a restored queue resend.

SQLite is copied with its online backup API: the copy is one consistent snapshot even while a
daemon writes (the API restarts when the source changes under it), and it is written as a single
self-contained file (no WAL beside it) readable by its owner only. PostgreSQL is backed up with
the server's own tools, `pg_dump`/`pg_restore`, whose commands comms prints: they know the
server's version, roles and extensions better than a copy made by comms could.

A restore is prepared in a copy beside the database (checked, brought to this comms's schema,
and its unfinished posts settled by the caller), then swapped in with a rename. The database it
replaces is kept beside it, renamed, so a restore of the wrong file loses nothing.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from comms.errors import BackupError
from comms.store import db


@dataclass(frozen=True)
class Snapshot:
    """What a database file holds: its schema revision and its posts per state."""

    path: Path
    revision: str | None
    posts: dict[str, int]
    size_bytes: int


def _connect_private(path: Path) -> sqlite3.Connection:
    """A new SQLite file, created readable by its owner only: it holds unpublished posts."""
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    return sqlite3.connect(path)


def _copy(source: sqlite3.Connection, target: Path) -> None:
    copy = _connect_private(target)
    try:
        source.backup(copy)  # every page in one step: a consistent snapshot
        copy.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
    finally:
        copy.close()


def read_snapshot(path: Path) -> Snapshot:
    """Check a database file (integrity, that it is comms's) and say what it holds."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
            if integrity != "ok":
                raise BackupError(f"the file is damaged ({integrity})", path=path)
            if "alembic_version" not in tables or "post" not in tables:
                raise BackupError(
                    "the file is an SQLite database, but not one of comms",
                    path=path,
                    hint="give a file made by `comms db backup`, or a copy of comms.db",
                )
            revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
            posts = dict(connection.execute("SELECT state, count(*) FROM post GROUP BY state"))
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(
            f"the file is not an SQLite database ({exc})",
            path=path,
            hint="give a file made by `comms db backup`",
        ) from None
    return Snapshot(path, revision and revision[0], posts, path.stat().st_size)


def backup_sqlite(url: str, target: Path, *, replace: bool = False) -> Snapshot:
    """Copy the live database to `target`, consistent while daemons and officers write."""
    source_path = _sqlite_file(url)
    if not source_path.exists():
        raise BackupError("there is no database to back up yet", path=source_path)
    if target.exists() and not replace:
        raise BackupError(
            "the backup file exists already",
            path=target,
            hint="give a new name, or --replace to overwrite it",
        )
    if target.resolve() == source_path.resolve():
        raise BackupError("the backup would overwrite the database itself", path=target)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(source_path, timeout=db.BUSY_TIMEOUT_MS / 1000)
    try:
        _copy(source, partial)
    finally:
        source.close()
    snapshot = read_snapshot(partial)
    os.replace(partial, target)
    return Snapshot(target, snapshot.revision, snapshot.posts, snapshot.size_bytes)


@dataclass(frozen=True)
class PreparedRestore:
    """A checked copy of the backup beside the database, at this comms's schema, not yet in use."""

    database: Path
    copy: Path
    from_revision: str | None
    posts: dict[str, int]

    @property
    def url(self) -> str:
        return f"sqlite:///{self.copy}"


def prepare_restore(url: str, source: Path) -> PreparedRestore:
    """Copy the backup beside the database, check it, and bring it to the newest schema.

    A backup made by a newer comms is refused: this comms cannot know what its columns mean."""
    database = _sqlite_file(url)
    if not source.is_file():
        raise BackupError("no such backup file", path=source)
    snapshot = read_snapshot(source)
    if snapshot.revision is not None and not _known_revision(snapshot.revision):
        raise BackupError(
            f"the backup is at schema revision {snapshot.revision}, which this comms does not "
            f"know (it knows up to {db.head_revision()})",
            path=source,
            hint="restore it with the comms version that made it, or a newer one",
        )
    copy = database.with_name(database.name + ".restoring")
    copy.unlink(missing_ok=True)
    connection = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        _copy(connection, copy)
    finally:
        connection.close()
    prepared = PreparedRestore(database, copy, snapshot.revision, snapshot.posts)
    db.upgrade(prepared.url)
    db.dispose_all()
    return prepared


def swap_in(prepared: PreparedRestore, *, now: datetime) -> Path | None:
    """Put the prepared copy in place of the database; the old one is kept, renamed.

    The caller holds the database alone (in_use.held_alone). Returns where the old one went."""
    db.dispose_all()
    database = prepared.database
    kept: Path | None = None
    if database.exists():
        kept = database.with_name(f"{database.name}.before-restore-{now:%Y%m%dT%H%M%SZ}")
        os.replace(database, kept)
        wal = database.with_name(database.name + "-wal")
        if wal.exists():  # the old file's last commits live here until a checkpoint
            os.replace(wal, kept.with_name(kept.name + "-wal"))
    database.with_name(database.name + "-shm").unlink(missing_ok=True)
    os.replace(prepared.copy, database)
    _sync_folder(database.parent)
    return kept


def discard(prepared: PreparedRestore) -> None:
    db.dispose_all()
    prepared.copy.unlink(missing_ok=True)


def postgres_backup_command(url: str, target: Path) -> str:
    """The pg_dump call for this database (no password in it: pg_dump reads PGPASSWORD)."""
    return f"pg_dump --format=custom --file={_quote(str(target))} {_quote(_libpq_url(url))}"


def postgres_restore_command(url: str, source: Path) -> str:
    return (
        "pg_restore --clean --if-exists --no-owner --single-transaction "
        f"--dbname={_quote(_libpq_url(url))} {_quote(str(source))}"
    )


def _libpq_url(url: str) -> str:
    parsed = make_url(url)
    without_password = URL.create(
        "postgresql",
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=parsed.query,
    )
    return without_password.render_as_string(hide_password=False)


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _sqlite_file(url: str) -> Path:
    path = db.sqlite_path(url)
    if path is None:
        raise BackupError("only an SQLite database file can be copied by comms itself")
    return path


def _known_revision(revision: str) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        return ScriptDirectory(str(db.MIGRATIONS_DIR)).get_revision(revision) is not None
    except CommandError:
        return False


def _sync_folder(folder: Path) -> None:
    """Make the renames durable: a crash right after must not bring back the old file."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

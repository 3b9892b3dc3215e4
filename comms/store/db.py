"""Engine and sessions for SQLite (the default) and PostgreSQL, and the schema-revision check.

SQLite is set up so one daemon and any number of CLI writers never lose a write: WAL journal,
a busy timeout, foreign keys on, and every transaction begun with `BEGIN IMMEDIATE`, so writers
queue at the start of a transaction instead of failing halfway with "database is locked".
(pysqlite's own transaction handling is switched off for that, per SQLAlchemy's recipe.)
A new SQLite file is created readable by its owner only: it holds unpublished posts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from comms.content.clean import NUL_PROBLEM, has_nul
from comms.errors import ConfigError, InputError, SchemaError

if TYPE_CHECKING:
    import sqlite3

    from alembic.config import Config
    from sqlalchemy.pool import ConnectionPoolEntry

BUSY_TIMEOUT_MS = 30_000
MIGRATIONS_DIR = Path(__file__).parent / "migrations"

_engines: dict[str, Engine] = {}
_readers: dict[str, Engine] = {}  # SQLite: the pool of read-only sessions, per URL
_pre_ping = True


def ping_before_use(enabled: bool) -> None:
    """Whether PostgreSQL engines made from now on test a pooled connection before handing it
    out (one round trip per checkout). On by default: a command or page after a server restart
    then gets a fresh connection instead of an error. The daemon turns it off: it checks out a
    connection for every step of every post, and rides out a dropped connection itself
    (comms/store/outage.py: the step fails as an outage, the pool is renewed, the step or its
    pass runs again)."""
    global _pre_ping
    _pre_ping = enabled


def sqlite_path(url: str) -> Path | None:
    """The file behind a sqlite URL, or None for other databases and in-memory ones."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def get_engine(url: str) -> Engine:
    """One engine per URL per process, configured for safe concurrent use."""
    if url in _engines:
        return _engines[url]
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(
            f"database url {url!r} is not a valid SQLAlchemy URL",
            hint="e.g. sqlite:///comms.db or postgresql+psycopg://host/db",
        ) from None
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url)
    else:
        engine = sa.create_engine(url, pool_pre_ping=_pre_ping, pool_size=5, max_overflow=5)
    event.listen(engine, "before_cursor_execute", _refuse_nul)
    _engines[url] = engine
    return engine


def _refuse_nul(
    _connection: sa.Connection,
    _cursor: object,
    _statement: str,
    parameters: Any,
    _context: object,
    executemany: bool,
) -> None:
    """The last net under every input check: a NUL in any text of a statement is refused with
    a message saying so, on SQLite as on PostgreSQL (which cannot store one and would answer
    with a DataError from deep in the driver)."""
    for row in parameters if executemany else (parameters,):
        values: Iterable[Any]
        if isinstance(row, dict):
            values = row.values()
        elif isinstance(row, list | tuple):
            values = row
        else:  # one value for the statement's one placeholder
            values = (row,)
        for value in values:
            if isinstance(value, str) and has_nul(value):
                raise InputError(f"a text {NUL_PROBLEM}")


def reading_engine(url: str) -> Engine:
    """The engine read-only sessions use: on SQLite a pool of its own whose connections are
    read-only from the moment they open, elsewhere the URL's one engine.

    A connection of its own, not a flag switched on and off around each transaction: switching
    `PRAGMA query_only` expires every prepared statement of the connection, so each page would
    prepare all its queries again on every request."""
    engine = get_engine(url)
    if engine.dialect.name != "sqlite":
        return engine
    if url not in _readers:
        reader = _sqlite_engine(url, reading=True)
        event.listen(reader, "before_cursor_execute", _refuse_nul)
        _readers[url] = reader
    return _readers[url]


def _sqlite_engine(url: str, *, reading: bool = False) -> Engine:
    path = sqlite_path(url)
    if path is not None:
        if not path.parent.exists():
            raise ConfigError(
                f"the folder for the database {path} does not exist",
                hint="create it, or change [database] url",
            )
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    engine = sa.create_engine(
        url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if reading:  # a reader keeps its word: a write through it fails at once, loudly
            cursor.execute("PRAGMA query_only = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # a reader takes no write lock: in WAL mode readers run side by side with the writer
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")

    return engine


@contextmanager
def session_scope(url: str, *, read_only: bool = False) -> Iterator[Session]:
    """A session that commits on success and rolls back on error; objects stay usable after.

    `read_only`: for work that only reads (a page shown). On SQLite its transaction begins
    without taking the write lock, so many readers run at once instead of one after another;
    what it reads is still one consistent snapshot. It must not write (SQLite could refuse the
    write when another writer came first); elsewhere the flag changes nothing.
    """
    bind = reading_engine(url) if read_only else get_engine(url)
    session = Session(bind, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_all() -> None:
    """Close every pooled connection (tests, and before a fork)."""
    for engine in (*_engines.values(), *_readers.values()):
        engine.dispose()
    _engines.clear()
    _readers.clear()


# --- schema revisions (alembic) -------------------------------------------------------------


def _alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["engine"] = get_engine(url)
    return config


def head_revision() -> str:
    """The newest migration this code ships."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS_DIR))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(url: str) -> str | None:
    """The migration the database is at, or None for a database comms never touched."""
    from alembic.runtime.migration import MigrationContext

    with get_engine(url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision` (the newest by default)."""
    from alembic import command

    command.upgrade(_alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(_alembic_config(url), revision)


def ensure_schema(url: str, *, create_if_empty: bool = True) -> None:
    """Refuse to work on an old schema; a database with no tables at all is created."""
    from comms.store import newest_schema
    from comms.store.revision import is_current

    engine = get_engine(url)
    versions = MIGRATIONS_DIR / "versions"
    if is_current(engine, versions):
        return
    if create_if_empty and not _has_tables(url):
        # a new SQLite file takes the newest schema in one step; alembic brings it (or the
        # database another process just created, or PostgreSQL's) the rest of the way
        newest_schema.create(engine)
        if not is_current(engine, versions):
            upgrade(url)
        return
    current = current_revision(url)
    head = head_revision()
    if current == head:
        return
    raise SchemaError(
        f"the database schema is at revision {current or 'none'}, this comms needs {head}: "
        "run `comms db upgrade` first"
    )


def _has_tables(url: str) -> bool:
    return bool(sa.inspect(get_engine(url)).get_table_names())

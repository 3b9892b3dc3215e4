"""A new SQLite database gets the newest schema in one transaction, not migration by migration.

Every `comms import` into a new file, every first start and every test's database used to run
the whole chain of migrations: alembic and a dozen scripts imported, tables created and then
rebuilt. The result is always the same, so it is kept as SQL (`migrations/sqlite_head.sql`,
the dump of a database migrated to the head) and replayed. The migrations stay the source of
truth: a test checks the dump equals a database they built, and a dump older than the scripts
is still correct, because what it leaves is brought up to the head by alembic as ever.

Write the dump again after adding a migration: `python -m comms.store.newest_schema`.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import tempfile
from functools import cache
from pathlib import Path

from sqlalchemy.engine import Engine

log = logging.getLogger("comms.store.newest_schema")
DUMP = Path(__file__).parent / "migrations" / "sqlite_head.sql"
_TRANSACTION = {"BEGIN TRANSACTION;", "COMMIT;"}  # iterdump's own; ours is BEGIN IMMEDIATE
# what follows the tables, in the order it may be made: a trigger may be on a view
_MADE_AFTER = {"CREATE INDEX": 0, "CREATE UNIQUE INDEX": 0, "CREATE VIEW": 1, "CREATE TRIGGER": 2}
_AFTER_THE_TABLES = tuple(_MADE_AFTER)


def dump(path: Path) -> str:
    """Every statement that makes the SQLite database at `path` again: the tables and their
    rows, then the indexes, views and triggers, each kind by name. (Their order in the file is
    the order they were made, which a migration that rebuilds a table leaves to chance.)"""
    connection = sqlite3.connect(path)
    try:
        statements = [line for line in connection.iterdump() if line not in _TRANSACTION]
    finally:
        connection.close()
    tables = [s for s in statements if not s.startswith(_AFTER_THE_TABLES)]
    after = sorted((s for s in statements if s.startswith(_AFTER_THE_TABLES)), key=_made_after)
    return "\n".join(tables + after) + "\n"


def _made_after(statement: str) -> tuple[int, str]:
    start = next(start for start in _AFTER_THE_TABLES if statement.startswith(start))
    return _MADE_AFTER[start], statement


@cache
def _statements() -> tuple[str, ...]:
    """The dump's statements, split where SQLite says a statement is complete."""
    statements: list[str] = []
    pending = ""
    for line in DUMP.read_text(encoding="utf-8").splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        raise ValueError(f"{DUMP.name} ends inside a statement")
    return tuple(statements)


def create(engine: Engine) -> bool:
    """Give an empty SQLite database the dump's schema; False where it does not apply: another
    database, or tables there already (another process may have just made them)."""
    if engine.dialect.name != "sqlite":
        return False
    with engine.begin() as connection:  # BEGIN IMMEDIATE (db.py): one creator at a time
        if connection.exec_driver_sql("SELECT 1 FROM sqlite_master LIMIT 1").first():
            return False
        for statement in _statements():
            connection.exec_driver_sql(statement)
        revision = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    log.info("new database: schema created at revision %s", revision)
    return True


def write() -> Path:
    """Migrate a new database to the head and keep its dump as the one to replay."""
    from comms.store.db import dispose_all, upgrade

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "head.db"
        upgrade(f"sqlite:///{path}")
        dispose_all()
        DUMP.write_text(dump(path), encoding="utf-8")
    return DUMP


if __name__ == "__main__":
    print(f"wrote {write()}", file=sys.stderr)

"""Bulk inserts on SQLite through the DB-API cursor, with values in SQLAlchemy's storage format.

Plan, import and the audit log write thousands of rows at once; SQLAlchemy's per-value type
conversion would be most of that work. They write on the session's own connection, so in the same
transaction, exactly what the column types would store: an aware datetime as naive UTC
"YYYY-MM-DD HH:MM:SS.ffffff" (models.UTCDateTime), a date as "YYYY-MM-DD", a boolean as 0/1.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

# an aware datetime minus EPOCH_UTC, plus EPOCH_NAIVE, is the same instant as naive UTC, in
# less than half the time of moment.astimezone(UTC).replace(tzinfo=None)
EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_NAIVE = EPOCH_UTC.replace(tzinfo=None)


def sqlite_time(moment: datetime) -> str:
    """An aware datetime as UTCDateTime stores it on SQLite; a naive one is refused."""
    if moment.tzinfo is None:  # as models.UTCDateTime refuses it
        raise ValueError("naive datetime given to a UTC column; attach a timezone first")
    return (EPOCH_NAIVE + (moment - EPOCH_UTC)).isoformat(" ", "microseconds")


def sqlite_time_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else sqlite_time(moment)


def insert_sql(table: Any, values: dict[str, str]) -> str:
    """INSERT INTO `table` of `values`: column name -> SQL expression (a ?N, a ? or a literal).

    Every name is looked up in the table first, so a renamed column fails loudly here.
    """
    for name in values:
        table.c[name]
    return f"INSERT INTO {table.name} ({', '.join(values)}) VALUES ({', '.join(values.values())})"


@contextmanager
def raw_cursor(connection: sa.Connection) -> Iterator[Any]:
    """A DB-API cursor on the connection under `connection`, in its current transaction."""
    driver = connection.connection.driver_connection
    assert driver is not None  # None only once the connection is closed
    cursor = driver.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


def drop_secondary_indexes(
    cursor: Any, table: str, keep: frozenset[str] = frozenset()
) -> list[str]:
    """Drop `table`'s non-unique indexes (but those named in `keep`); their CREATE statements.

    For a bulk load into an empty table: SQLite then updates only the table and the indexes
    left, and building an index afterwards from the whole table (one sort) is cheaper than
    inserting each row into it. Run it inside the load's transaction and the statements it
    returns at the load's end: SQLite's DDL is transactional, so a rollback brings the indexes
    back as they were. Unique indexes (and those of UNIQUE and PRIMARY KEY
    constraints) stay: they are what finds a duplicate while loading. The statements are the
    schema's own text, so the indexes come back exactly as they were defined.
    """
    names = [
        name
        for _, name, unique, origin, *_ in cursor.execute(f"PRAGMA index_list({table})").fetchall()
        if not unique and origin == "c" and name not in keep
    ]
    statements = []
    for name in names:
        (sql,) = cursor.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)
        ).fetchone()
        statements.append(sql)
        cursor.execute(f'DROP INDEX "{name}"')
    return statements

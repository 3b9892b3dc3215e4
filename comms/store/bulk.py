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

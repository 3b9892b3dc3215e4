"""The append-only audit log: every action on a post, with who and when."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from comms.store.bulk import insert_sql, raw_cursor, sqlite_time
from comms.store.models import AuditEvent, table_of, utcnow

# built once: the daemon appends an event for every post it publishes, and building the ORM
# insert per call cost more than the insert itself
_INSERT = sa.insert(table_of(AuditEvent))


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    post_id: int | None = None,
    campaign: str | None = None,
    detail: str | None = None,
    at: datetime | None = None,
) -> None:
    """Append one event in the caller's transaction, so it lands exactly when the change does."""
    session.execute(
        _INSERT,
        {
            "at": at or utcnow(),
            "actor": actor,
            "action": action,
            "post_id": post_id,
            "campaign": campaign,
            "detail": detail,
        },
    )


_MANY_COLUMNS = ("at", "actor", "action", "post_id", "campaign", "detail")
_MANY_KEYS = frozenset(_MANY_COLUMNS)


def record_many(session: Session, rows: list[dict]) -> None:
    """Append several events at once (bulk approve, plan).

    On SQLite through the DB-API executemany of the session's connection (same transaction):
    a plan of 10,000 posts writes 10,000 events, and SQLAlchemy's per-value type conversion was
    most of that. `at` is written as models.UTCDateTime stores it there: naive UTC, microseconds.
    """
    if not rows:
        return
    now = utcnow()
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        session.execute(sa.insert(AuditEvent), [{"at": now, **row} for row in rows])
        return
    table = table_of(AuditEvent)
    columns = [table.c[name].name for name in _MANY_COLUMNS]  # fails loudly on a rename
    sql = insert_sql(table, dict.fromkeys(columns, "?"))
    session.flush()  # as session.execute would (autoflush): pending objects go in first
    stamp = sqlite_time(now)
    values = []
    for row in rows:
        if not row.keys() <= _MANY_KEYS:
            unknown = row.keys() - _MANY_KEYS
            raise TypeError(f"unknown audit event field(s): {', '.join(sorted(unknown))}")
        at = row.get("at")
        values.append(
            (
                stamp if at is None else sqlite_time(at),
                row["actor"],
                row["action"],
                row.get("post_id"),
                row.get("campaign"),
                row.get("detail"),
            )
        )
    with raw_cursor(connection) as cursor:
        cursor.executemany(sql, values)

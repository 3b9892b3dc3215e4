"""`comms import`: add posts made outside comms (by hand on Facebook, on the website) from a CSV.

The file's format and its checks are import_rows.py: the whole file is checked before anything
is written. Here the new rows go in one transaction with bulk inserts. A row already imported
(same channel, instant, url and title) adds no post and is counted; when its figures differ from
the post's newest ones (an updated export), they are added as a newer sample of that post, which
the report then uses. Importing the same file twice adds nothing the second time. On SQLite the
rows go through the raw DB-API cursor (see below), elsewhere through SQLAlchemy Core.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring  # what json.dumps(ensure_ascii=False) quotes with
from pathlib import Path
from typing import Any, cast

from sqlalchemy import insert, select

from comms.config import Settings
from comms.importer.rows import (
    COLUMNS,
    FIGURES,
    Progress,
    Row,
    read_rows,
)
from comms.store.bulk import insert_sql, sqlite_time
from comms.store.db import session_scope
from comms.store.models import (
    AuditEvent,
    MetricSample,
    Post,
    PostState,
    new_key,
    table_of,
    utcnow,
)

_INSERT_CHUNK = 5000  # rows per bulk insert (progress steps; all in one transaction)
_LOOKUP_CHUNK = 500  # plan keys per IN (...) query
_IMPORT_CACHE_KIB = 64 * 1024  # SQLite page cache while inserting (default: 2 MiB)

# Core tables, not the ORM entities: executemany with every key, one statement per batch
_POSTS = table_of(Post)
_SAMPLES = table_of(MetricSample)


@dataclass(frozen=True)
class ImportResult:
    """What an import did: posts added, rows already there, and how many of those had newer
    figures (added as a newer sample of the existing post)."""

    path: Path
    added: int
    skipped_duplicates: int
    updated_figures: int = 0

    @property
    def rows(self) -> int:
        return self.added + self.skipped_duplicates


def import_csv(
    settings: Settings, path: Path, *, actor: str, progress: Progress | None = None
) -> ImportResult:
    """Check the whole CSV, then add its new posts (and their figures) in one transaction."""
    path = Path(path)
    rows = read_rows(settings, path, progress=progress)
    url = settings.database_url
    with session_scope(url) as session:
        connection = session.connection()  # begins the transaction (BEGIN IMMEDIATE on SQLite)
        sqlite = connection.dialect.name == "sqlite"
        existing = _existing_posts(session, (row.plan_key for row in rows), sqlite=sqlite)
        new_rows: list[Row] = []
        old_rows: list[Row] = []
        seen: set[str] = set(existing)
        for row in rows:
            if row.plan_key not in seen:
                seen.add(row.plan_key)
                new_rows.append(row)
            elif row.plan_key in existing:
                old_rows.append(row)
        now = utcnow()
        total = len(new_rows)
        if sqlite:
            _insert_sqlite(connection, new_rows, now, progress)
        else:
            _insert_generic(session, new_rows, now, progress)
        updated = _add_newer_figures(session, old_rows, existing, now, sqlite=sqlite)
        skipped = len(rows) - total
        session.add(
            AuditEvent(
                actor=actor,
                action="import",
                at=now,
                detail=(
                    f"{path.name}: {total} added, {skipped} already there, "
                    f"{updated} with newer figures"
                ),
            )
        )
    return ImportResult(path=path, added=total, skipped_duplicates=skipped, updated_figures=updated)


def _existing_posts(session: Any, keys: Iterable[str], *, sqlite: bool) -> dict[str, int]:
    """Post id by plan key, of the keys among `keys` already in the post table."""
    found: dict[str, int] = {}
    unique = list(dict.fromkeys(keys))
    if sqlite:  # the raw cursor: no statement compiling per chunk
        cursor = _dbapi(session.connection()).cursor()
        table, column = _POSTS.name, _POSTS.c.plan_key.name
        for start in range(0, len(unique), _LOOKUP_CHUNK):
            chunk = unique[start : start + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            cursor.execute(
                f"SELECT {column}, {_POSTS.c.id.name} FROM {table} WHERE {column} IN ({marks})",
                chunk,
            )
            found.update(cursor.fetchall())
        cursor.close()
        return found
    for start in range(0, len(unique), _LOOKUP_CHUNK):
        chunk = unique[start : start + _LOOKUP_CHUNK]
        query = select(_POSTS.c.plan_key, _POSTS.c.id).where(_POSTS.c.plan_key.in_(chunk))
        found.update((key, post_id) for key, post_id in session.execute(query))
    return found


Figures = tuple[int | None, int | None, int | None]


def _newest_figures(session: Any, post_ids: list[int]) -> dict[int, Figures]:
    """Each post's newest sample's figures (as the report picks it: collected_at, then id)."""
    newest: dict[int, Figures] = {}
    columns = [_SAMPLES.c[name] for name in FIGURES]
    for start in range(0, len(post_ids), _LOOKUP_CHUNK):
        chunk = post_ids[start : start + _LOOKUP_CHUNK]
        query = (
            select(_SAMPLES.c.post_id, *columns)
            .where(_SAMPLES.c.post_id.in_(chunk))
            .order_by(_SAMPLES.c.collected_at, _SAMPLES.c.id)
        )
        for post_id, *figures in session.execute(query):
            newest[post_id] = tuple(figures)  # the last one wins
    return newest


def _add_newer_figures(
    session: Any, rows: list[Row], existing: dict[str, int], now: datetime, *, sqlite: bool
) -> int:
    """A newer sample for each already-imported post whose row has figures that changed.

    A figure left empty in the row is "not known in this export", so the post keeps its
    earlier value for it; a row whose known figures equal the newest ones adds nothing, so
    importing the same file twice stays a no-op. Returns how many posts got newer figures.
    """
    measured = [row for row in rows if row.figures != (None, None, None)]
    if not measured:
        return 0
    newest = _newest_figures(session, sorted({existing[row.plan_key] for row in measured}))
    samples: list[tuple[int, Figures, Row]] = []
    done: set[int] = set()
    for row in measured:
        post_id = existing[row.plan_key]
        if post_id in done:  # the same post twice in one file: its first row counts
            continue
        done.add(post_id)
        old = newest.get(post_id, (None, None, None))
        merged = cast(  # both are three figures, so the merge is three too
            Figures,
            tuple(
                new if new is not None else before
                for new, before in zip(row.figures, old, strict=True)
            ),
        )
        if merged != old:
            samples.append((post_id, merged, row))
    if not samples:
        return 0
    if sqlite:
        cursor = _dbapi(session.connection()).cursor()
        try:
            cursor.executemany(
                _samples_sql(sqlite_time(now)),
                [
                    (post_id, *figures, _RAW_JSON % tuple(map(encode_basestring, row.raw)))
                    for post_id, figures, row in samples
                ],
            )
        finally:
            cursor.close()
    else:
        session.execute(
            insert(_SAMPLES),
            [
                {**_sample_values(row, post_id, now), **dict(zip(FIGURES, figures, strict=True))}
                for post_id, figures, row in samples
            ],
        )
    return len(samples)


# --- SQLite: DB-API executemany with values already in SQLAlchemy's storage format ----------
#
# Going through SQLAlchemy costs a type conversion per value (UTCDateTime, then the SQLite
# DATETIME string), a large part of an import's time. On SQLite we insert through the raw cursor of
# the session's own connection, so it is the same transaction (BEGIN IMMEDIATE, all or nothing),
# and write exactly what those types would: naive UTC as "YYYY-MM-DD HH:MM:SS.ffffff", booleans
# as 0/1. tests/test_importer.py reads the rows back through the ORM.
#
# Each row binds only what differs between rows: what every post of an import shares is an SQL
# literal in the statement, and a value stored in two columns is bound once (?N used twice):
# fewer parameters a row is less work for executemany.

# json.dumps(dict(zip(COLUMNS, values)), ensure_ascii=False), with the keys quoted once
_RAW_JSON = "{" + ", ".join(f'"{name}": %s' for name in COLUMNS) + "}"


def _dbapi(connection: Any) -> Any:
    """The DB-API connection under a SQLAlchemy Connection (in its current transaction)."""
    return connection.connection.driver_connection


def _literal(text: str) -> str:
    """`text` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _posts_sql(stamp: str) -> str:
    """Binds (plan_key, channel, title, url, published_at, idempotency_key) per post."""
    return insert_sql(
        _POSTS,
        {
            "plan_key": "?1",
            "source": _literal("import"),
            "state": _literal(PostState.PUBLISHED),
            "channel": "?2",
            "title": "?3",
            "text": "coalesce(?3, '')",  # a Row's title is None or not empty
            "link": "?4",
            "external_url": "?4",
            "scheduled_at": "?5",
            "published_at": "?5",
            "dst_adjusted": "0",
            "attempts": "0",
            "idempotency_key": "?6",
            "created_at": _literal(stamp),
            "updated_at": _literal(stamp),
        },
    )


def _samples_sql(stamp: str) -> str:
    """Binds (post_id, reach, impressions, engagements, raw) per sample."""
    figures = {name: f"?{n}" for n, name in enumerate(FIGURES, start=2)}
    return insert_sql(
        _SAMPLES,
        {
            "post_id": "?1",
            "collected_at": _literal(stamp),
            **figures,
            "raw": f"?{len(figures) + 2}",
        },
    )


# byte 6 of a version 4 UUID is 0100xxxx, byte 8 (the RFC 4122 variant) 10xxxxxx
_UUID_VERSION_4 = bytes((byte & 0x0F) | 0x40 for byte in range(256))
_UUID_VARIANT = bytes((byte & 0x3F) | 0x80 for byte in range(256))


def _idempotency_keys(count: int) -> list[str]:
    """`count` random (version 4) UUID strings, as models.new_key makes them, from one read.

    The version and variant bits are set for all keys at once (bytes.translate over every 16th
    byte) and the hex is made once, instead of an int and a format per key.
    """
    data = bytearray(os.urandom(16 * count))
    data[6::16] = data[6::16].translate(_UUID_VERSION_4)
    data[8::16] = data[8::16].translate(_UUID_VARIANT)
    hexed = data.hex()
    keys = []
    for start in range(0, 32 * count, 32):
        k = hexed[start : start + 32]
        keys.append(f"{k[:8]}-{k[8:12]}-{k[12:16]}-{k[16:20]}-{k[20:]}")
    return keys


def _insert_sqlite(
    connection: Any, rows: list[Row], now: datetime, progress: Progress | None
) -> None:
    cursor = _dbapi(connection).cursor()
    # the unique plan_key index takes random keys: with a bigger page cache (this connection,
    # this import only) SQLite stops spilling index pages halfway through the transaction
    (cache_size,) = cursor.execute("PRAGMA cache_size").fetchone()
    cursor.execute(f"PRAGMA cache_size = {min(int(cache_size), -_IMPORT_CACHE_KIB)}")
    try:
        stamp = sqlite_time(now)
        posts_sql = _posts_sql(stamp)
        samples_sql = _samples_sql(stamp)
        total = len(rows)
        id_column = _POSTS.c.id.name
        for start in range(0, total, _INSERT_CHUNK):
            chunk = rows[start : start + _INSERT_CHUNK]
            keys = _idempotency_keys(len(chunk))
            values = [
                (row.plan_key, row.channel, row.title, row.url, sqlite_time(row.published_at), key)
                for row, key in zip(chunk, keys, strict=True)
            ]
            (before,) = cursor.execute(f"SELECT coalesce(max({id_column}), 0) FROM {_POSTS.name}")
            cursor.executemany(posts_sql, values)
            # our write lock is held, so every id above `before` is one of ours: one range query
            query = (
                f"SELECT {_POSTS.c.plan_key.name}, {id_column} FROM {_POSTS.name} "
                f"WHERE {id_column} > ?"
            )
            ids = dict(cursor.execute(query, before))
            samples = [
                (
                    ids[row.plan_key],
                    *row.figures,
                    _RAW_JSON % tuple(map(encode_basestring, row.raw)),
                )
                for row in chunk
                if row.figures != (None, None, None)
            ]
            if samples:
                cursor.executemany(samples_sql, samples)
            if progress:
                progress("saving", min(start + _INSERT_CHUNK, total), total)
    finally:
        cursor.execute(f"PRAGMA cache_size = {int(cache_size)}")
        cursor.close()


# --- other databases: SQLAlchemy Core bulk inserts ------------------------------------------


def _insert_generic(
    session: Any, rows: list[Row], now: datetime, progress: Progress | None
) -> None:
    total = len(rows)
    for start in range(0, total, _INSERT_CHUNK):
        chunk = rows[start : start + _INSERT_CHUNK]
        session.execute(insert(_POSTS), [_post_values(row, now) for row in chunk])
        measured = [row for row in chunk if row.figures != (None, None, None)]
        ids = _ids_by_key(session, [row.plan_key for row in measured])
        samples = [_sample_values(row, ids[row.plan_key], now) for row in measured]
        if samples:
            session.execute(insert(_SAMPLES), samples)
        if progress:
            progress("saving", min(start + _INSERT_CHUNK, total), total)


def _ids_by_key(session: Any, keys: list[str]) -> dict[str, int]:
    """Post ids of just-inserted rows (RETURNING in parameter order is row-by-row on SQLite)."""
    ids: dict[str, int] = {}
    for start in range(0, len(keys), _LOOKUP_CHUNK):
        chunk = keys[start : start + _LOOKUP_CHUNK]
        query = select(_POSTS.c.plan_key, _POSTS.c.id).where(_POSTS.c.plan_key.in_(chunk))
        ids.update((key, post_id) for key, post_id in session.execute(query))
    return ids


def _post_values(row: Row, now: datetime) -> dict[str, Any]:
    return {
        "plan_key": row.plan_key,
        "source": "import",
        "state": PostState.PUBLISHED,
        "channel": row.channel,
        "title": row.title,
        "text": row.title or "",
        "link": row.url,
        "external_url": row.url,
        "scheduled_at": row.published_at,
        "published_at": row.published_at,
        "dst_adjusted": False,
        "attempts": 0,
        "idempotency_key": new_key(),
        "created_at": now,
        "updated_at": now,
    }


def _sample_values(row: Row, post_id: int, now: datetime) -> dict[str, Any]:
    return {
        "post_id": post_id,
        "collected_at": now,
        **dict(zip(FIGURES, row.figures, strict=True)),
        "raw": json.dumps(dict(zip(COLUMNS, row.raw, strict=True)), ensure_ascii=False),
    }

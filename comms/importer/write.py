"""`comms import`: add posts made outside comms, and their figures, from a service's export or
comms' own CSV, in one transaction.

The file is read a row at a time (source.py), each row checked (rows.py) and written in batches
of `_INSERT_CHUNK` rows, all inside one transaction: memory stays flat however big the file is,
and it is still all or nothing. Once a row is bad nothing more is written, but every row is
still checked, so one run reports every problem; then the transaction is rolled back.

A row is matched to a post already there by the service's post id on the same channel (that
finds a post comms published itself as well as one imported before), or for comms' own CSV by
its channel, instant, url and title. A matched row adds no post; when its figures differ from the
post's newest ones (a newer export), they are added as a newer MetricSample, which the report
then uses: samples are never replaced, so the history of a post's figures stays. Importing the
same file twice adds nothing the second time. A post named twice in one file counts once, its
first row.

On SQLite the rows go through the raw DB-API cursor of the session's own connection (see below),
elsewhere through SQLAlchemy Core.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, cast

from sqlalchemy import insert, select

from comms.config import Settings
from comms.importer.formats import FIGURES
from comms.importer.rows import Figures, FileDefaults, Problems, Progress, Row, RowChecker
from comms.importer.rows import check_defaults as check_file_defaults
from comms.importer.source import open_source
from comms.store.bulk import drop_secondary_indexes, insert_sql, sqlite_time
from comms.store.db import session_scope
from comms.store.imported import relabel_imported
from comms.store.models import (
    AuditEvent,
    MetricSample,
    Post,
    PostState,
    new_key,
    new_keys,
    table_of,
    utcnow,
)

_INSERT_CHUNK = 1000  # rows per batch (checked, looked up and inserted together)
_LOOKUP_CHUNK = 500  # keys per IN (...) query
_IMPORT_CACHE_KIB = 16 * 1024  # SQLite page cache while inserting (default: 2 MiB)
# the index the import's own lookups use (a row of a service's export finds its post by it)
_LOOKUP_INDEXES = frozenset({"ix_post_channel_external_id"})

# Core tables, not the ORM entities: executemany with every key, one statement per batch
_POSTS = table_of(Post)
_SAMPLES = table_of(MetricSample)
_NO_FIGURES: Figures = (None, None, None, None)


@dataclass(frozen=True)
class ImportOptions:
    """What the command line says about the file (all optional)."""

    format: str | None = None  # a formats.FORMATS key; None: found from the header
    channel: str | None = None
    campaign: str | None = None
    focus_area: str | None = None
    columns: dict[str, str] = field(default_factory=dict)  # header name -> our column name


@dataclass(frozen=True)
class ImportResult:
    """What an import did: posts added, rows of posts already there, and how many of those had
    newer figures (added as a newer sample of the existing post)."""

    path: Path
    added: int
    skipped_duplicates: int
    updated_figures: int = 0
    relabelled: int = 0  # posts imported before that got a campaign or focus area now
    format_label: str = ""
    encoding: str = ""

    @property
    def rows(self) -> int:
        return self.added + self.skipped_duplicates


def import_csv(
    settings: Settings,
    path: Path,
    *,
    actor: str,
    progress: Progress | None = None,
    options: ImportOptions | None = None,
) -> ImportResult:
    """Read, check and write the file's rows in batches, all in one transaction."""
    path = Path(path)
    options = options or ImportOptions()
    source = open_source(path, format_key=options.format, columns=options.columns or None)
    try:
        defaults = FileDefaults(options.channel, options.campaign, options.focus_area)
        check_file_defaults(settings, source, defaults)
        problems = Problems(source)
        checker = RowChecker(settings, source, defaults, problems)
        with (
            session_scope(settings.database_url) as session,
            _indexes_built_at_end(session.connection()),
            _import_cache(session.connection()),
        ):
            writer = _BatchWriter(session, utcnow())
            batch: list[Row] = []
            rows = 0
            for line, cells in source.records:
                rows += 1
                row = checker.check(line, cells)
                if problems:  # nothing more is written, but every row is still checked
                    batch.clear()
                    continue
                if row is not None:
                    batch.append(row)
                if len(batch) >= _INSERT_CHUNK:
                    writer.write(batch)
                    batch = []
                    if progress:
                        progress("importing", rows, 0)
            if problems:
                raise problems.error()  # the session rolls back what was written
            writer.write(batch)
            session.add(
                AuditEvent(
                    actor=actor,
                    action="import",
                    at=writer.now,
                    detail=(
                        f"{path.name} ({source.format.key}): {writer.added} added, "
                        f"{writer.skipped} already there, {writer.updated} with newer figures, "
                        f"{writer.relabelled} with a new campaign or focus area"
                    ),
                )
            )
    finally:
        source.close()
    if progress:
        progress("importing", rows, rows)
    return ImportResult(
        path=path,
        added=writer.added,
        skipped_duplicates=writer.skipped,
        updated_figures=writer.updated,
        relabelled=writer.relabelled,
        format_label=source.format.label,
        encoding=source.encoding,
    )


class _BatchWriter:
    """Writes batches of checked rows on one session's transaction, counting what it did."""

    def __init__(self, session: Any, now: datetime) -> None:
        self.session = session
        self.connection = session.connection()  # begins the transaction (BEGIN IMMEDIATE)
        self.sqlite = self.connection.dialect.name == "sqlite"
        self.now = now
        self.added = self.skipped = self.updated = self.relabelled = 0

    def write(self, rows: list[Row]) -> None:
        if not rows:
            return
        existing = _existing_posts(self.session, rows, self.now, sqlite=self.sqlite)
        new_rows: list[Row] = []
        old_rows: list[tuple[Row, int]] = []
        labels: list[tuple[int, str | None, str | None]] = []
        seen: set[tuple[str, str]] = set()
        for row in rows:
            key = _identity(row)
            if key in seen:  # twice in this batch: its first row counts
                self.skipped += 1
                continue
            seen.add(key)
            found = existing.get(key)
            if found is None:
                new_rows.append(row)
                continue
            post_id, added_now = found
            self.skipped += 1
            if not added_now:  # a post added earlier in this import: its first row counts
                old_rows.append((row, post_id))
                if row.campaign is not None or row.focus_area is not None:
                    labels.append((post_id, row.campaign, row.focus_area))
        if self.sqlite:
            _insert_sqlite(self.connection, new_rows, self.now)
        else:
            _insert_generic(self.session, new_rows, self.now)
        self.added += len(new_rows)
        self.updated += _add_newer_figures(self.session, old_rows, self.now, sqlite=self.sqlite)
        self.relabelled += relabel_imported(self.session, labels, self.now)


def _identity(row: Row) -> tuple[str, str]:
    """How a row finds its post: the service's id on the channel, or comms' own plan key."""
    if row.external_id is not None:
        return row.channel, row.external_id
    return "", row.plan_key


def _existing_posts(
    session: Any, rows: list[Row], now: datetime, *, sqlite: bool
) -> dict[tuple[str, str], tuple[int, bool]]:
    """(post id, whether this import added it) by `_identity`, of the rows' posts already in the
    post table (this import's posts are the ones created at `now`)."""
    found: dict[tuple[str, str], tuple[int, bool]] = {}
    own = list(dict.fromkeys(row.plan_key for row in rows if row.external_id is None))
    if sqlite:  # the raw cursor, as the inserts (below): created_at compared as stored
        stamp = sqlite_time(now)
        cursor = _dbapi(session.connection()).cursor()
        try:
            for chunk in _chunks(own):
                cursor.execute(_plan_keys_sql(len(chunk)), chunk)
                for key, post_id, created_at in cursor:
                    found[("", key)] = (post_id, created_at == stamp)
        finally:
            cursor.close()
    else:
        for chunk in _chunks(own):
            query = select(_POSTS.c.plan_key, _POSTS.c.id, _POSTS.c.created_at).where(
                _POSTS.c.plan_key.in_(chunk)
            )
            for key, post_id, created_at in session.execute(query):
                found[("", key)] = (post_id, created_at == now)
    by_channel: dict[str, list[str]] = {}
    for row in rows:
        if row.external_id is not None:
            by_channel.setdefault(row.channel, []).append(row.external_id)
    for channel, ids in by_channel.items():
        for chunk in _chunks(list(dict.fromkeys(ids))):
            query = (
                select(_POSTS.c.external_id, _POSTS.c.id, _POSTS.c.created_at)
                .where(_POSTS.c.channel == channel, _POSTS.c.external_id.in_(chunk))
                .order_by(_POSTS.c.id.desc())  # several (a post sent twice): the oldest wins
            )
            for external_id, post_id, created_at in session.execute(query):
                found[(channel, external_id)] = (post_id, created_at == now)
    return found


@cache
def _plan_keys_sql(count: int) -> str:
    """The posts of `count` plan keys: plan_key, id, created_at (as SQLite stores it)."""
    c = _POSTS.c
    return (
        f"SELECT {c.plan_key.name}, {c.id.name}, {c.created_at.name} FROM {_POSTS.name} "
        f"WHERE {c.plan_key.name} IN ({', '.join('?' * count)})"
    )


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(items), _LOOKUP_CHUNK):
        yield items[start : start + _LOOKUP_CHUNK]


def _newest_figures(session: Any, post_ids: list[int]) -> dict[int, tuple[Any, Figures]]:
    """Each post's newest sample: when it was collected, and its figures (as the report picks
    it: collected_at, then id)."""
    newest: dict[int, tuple[Any, Figures]] = {}
    columns = [_SAMPLES.c[name] for name in FIGURES]
    for chunk in _chunks(post_ids):
        query = (
            select(_SAMPLES.c.post_id, _SAMPLES.c.collected_at, *columns)
            .where(_SAMPLES.c.post_id.in_(chunk))
            .order_by(_SAMPLES.c.collected_at, _SAMPLES.c.id)
        )
        for post_id, collected_at, *figures in session.execute(query):
            newest[post_id] = (collected_at, cast(Figures, tuple(figures)))  # the last one wins
    return newest


def _add_newer_figures(
    session: Any, rows: list[tuple[Row, int]], now: datetime, *, sqlite: bool
) -> int:
    """A newer sample for each already-known post whose row has figures that changed.

    A figure left empty in the row is "not known in this export", so the post keeps its
    earlier value for it; a row whose known figures equal the newest ones adds nothing, so
    importing the same file twice stays a no-op. Returns how many posts got newer figures.
    """
    measured = [(row, post_id) for row, post_id in rows if row.figures != _NO_FIGURES]
    if not measured:
        return 0
    newest = _newest_figures(session, sorted({post_id for _, post_id in measured}))
    samples: list[tuple[int, Figures, Row]] = []
    for row, post_id in measured:
        collected_at, old = newest.get(post_id, (None, _NO_FIGURES))
        if collected_at == now:  # this import gave it figures already: its first row counts
            continue
        merged = cast(
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
                [(post_id, *figures, row.raw) for post_id, figures, row in samples],
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
# DATETIME string), a large part of an import's time. On SQLite we insert through the raw cursor
# of the session's own connection, so it is the same transaction (BEGIN IMMEDIATE, all or
# nothing), and write exactly what those types would: naive UTC as "YYYY-MM-DD HH:MM:SS.ffffff",
# booleans as 0/1. tests/test_importer.py reads the rows back through the ORM.
#
# What every post of an import shares is an SQL literal in the statement, and a value stored in
# two columns is bound once (?N used twice): fewer parameters a row is less work for executemany.


def _dbapi(connection: Any) -> Any:
    """The DB-API connection under a SQLAlchemy Connection (in its current transaction)."""
    return connection.connection.driver_connection


def _literal(text: str) -> str:
    """`text` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _posts_sql(stamp: str) -> str:
    """Binds (plan_key, channel, title, text, link, external_url, published_at,
    idempotency_key, external_id, campaign, focus_area) per post."""
    return insert_sql(
        _POSTS,
        {
            "plan_key": "?1",
            "source": _literal("import"),
            "state": _literal(PostState.PUBLISHED),
            "channel": "?2",
            "title": "?3",
            "text": "?4",
            "link": "?5",
            "external_url": "?6",
            "scheduled_at": "?7",
            "published_at": "?7",
            "dst_adjusted": "0",
            "attempts": "0",
            "idempotency_key": "?8",
            "external_id": "?9",
            "campaign": "?10",
            "focus_area": "?11",
            "created_at": _literal(stamp),
            "updated_at": _literal(stamp),
        },
    )


def _samples_sql(stamp: str) -> str:
    """Binds (post_id, reach, impressions, engagements, clicks, raw) per sample."""
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


def _own_link(row: Row) -> str | None:
    """The link in the post: comms' own CSV's url is both; an export's is the post's address."""
    return row.url if row.external_id is None else None


def _insert_sqlite(connection: Any, rows: list[Row], now: datetime) -> None:
    if not rows:
        return
    cursor = _dbapi(connection).cursor()
    try:
        stamp = sqlite_time(now)
        id_column = _POSTS.c.id.name
        for start in range(0, len(rows), _INSERT_CHUNK):
            chunk = rows[start : start + _INSERT_CHUNK]
            keys = new_keys(len(chunk))
            values = [
                (
                    row.plan_key,
                    row.channel,
                    row.title,
                    row.text,
                    _own_link(row),
                    row.url,
                    sqlite_time(row.published_at),
                    key,
                    row.external_id,
                    row.campaign,
                    row.focus_area,
                )
                for row, key in zip(chunk, keys, strict=True)
            ]
            (before,) = cursor.execute(
                f"SELECT coalesce(max({id_column}), 0) FROM {_POSTS.name}"
            ).fetchone()
            cursor.executemany(_posts_sql(stamp), values)
            # SQLite gives a new row the largest id plus one, so (our write lock is held) this
            # chunk's posts are before+1... in the order inserted; checked, as once the largest
            # id is taken it picks them at random, and then each is looked up by its plan key
            (last, count) = cursor.execute(
                f"SELECT max({id_column}), count(*) FROM {_POSTS.name} WHERE {id_column} > ?",
                (before,),
            ).fetchone()
            if last == before + len(chunk) == before + count:
                samples = [
                    (post_id, *row.figures, row.raw)
                    for post_id, row in enumerate(chunk, start=before + 1)
                    if row.figures != _NO_FIGURES
                ]
            else:
                ids: dict[str, int] = {}
                for keys_chunk in _chunks([row.plan_key for row in chunk]):
                    found = cursor.execute(_plan_keys_sql(len(keys_chunk)), keys_chunk)
                    ids.update((key, post_id) for key, post_id, _ in found)
                samples = [
                    (ids[row.plan_key], *row.figures, row.raw)
                    for row in chunk
                    if row.figures != _NO_FIGURES
                ]
            if samples:
                cursor.executemany(_samples_sql(stamp), samples)
    finally:
        cursor.close()


@contextmanager
def _import_cache(connection: Any) -> Iterator[None]:
    """A bigger SQLite page cache for this connection while one import runs.

    The unique plan_key index takes random keys: a batch looks its keys up and then inserts
    them, and with the default 2 MiB the leaves the lookup read are gone again by the insert.
    16 MiB holds one batch's leaves (and a file of 100,000 rows' whole index); a bigger file's
    index does not fit in any cache we would allow, so beyond that each batch rereads its
    leaves from the WAL (the operating system's cache). The cache is bounded
    (`_IMPORT_CACHE_KIB`), so the import's memory does not grow with the file.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    cursor = _dbapi(connection).cursor()
    (cache_size,) = cursor.execute("PRAGMA cache_size").fetchone()
    cursor.execute(f"PRAGMA cache_size = {min(int(cache_size), -_IMPORT_CACHE_KIB)}")
    try:
        yield
    finally:
        cursor.execute(f"PRAGMA cache_size = {int(cache_size)}")
        cursor.close()


@contextmanager
def _indexes_built_at_end(connection: Any) -> Iterator[None]:
    """Into an empty post table, SQLite builds the secondary indexes once, after the rows.

    Updating the post table's many indexes is a large part of each row's insert; building an
    index from the finished table is one sort. So when the import begins on an empty post
    table (a new database, the usual first import), inside the import's transaction, which
    holds the write lock from its start, the non-unique indexes of post and metric_sample are
    dropped and recreated from their own CREATE statements once every row is in. SQLite's DDL
    is transactional: an import that fails is rolled back with its indexes still there, and
    other connections never see the table without them. Kept are the unique plan_key index
    (it finds a post named twice) and the index the lookups of a service's post ids use
    (`_LOOKUP_INDEXES`); metric_sample's post_id index is read only for posts there before
    the import, and there are none. A table with posts keeps the indexes and its usual
    inserts: rebuilding an index of many rows for a few new ones would cost more.

    Enter it before `_import_cache`, so the indexes are built once the page cache is back to
    its default size: SQLite's sort for CREATE INDEX holds as much in memory as the page cache
    may, and beside the import's bigger cache that would raise the import's peak memory.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    cursor = _dbapi(connection).cursor()
    try:
        statements: list[str] = []
        if cursor.execute(f"SELECT 1 FROM {_POSTS.name} LIMIT 1").fetchone() is None:
            statements += drop_secondary_indexes(cursor, _POSTS.name, keep=_LOOKUP_INDEXES)
            statements += drop_secondary_indexes(cursor, _SAMPLES.name)
        yield  # an error: the session's rollback brings the dropped indexes back
        for sql in statements:
            cursor.execute(sql)
    finally:
        cursor.close()


# --- other databases: SQLAlchemy Core bulk inserts ------------------------------------------


def _insert_generic(session: Any, rows: list[Row], now: datetime) -> None:
    if not rows:
        return
    session.execute(insert(_POSTS), [_post_values(row, now) for row in rows])
    measured = [row for row in rows if row.figures != _NO_FIGURES]
    ids: dict[str, int] = {}
    for chunk in _chunks([row.plan_key for row in measured]):
        query = select(_POSTS.c.plan_key, _POSTS.c.id).where(_POSTS.c.plan_key.in_(chunk))
        ids.update((key, post_id) for key, post_id in session.execute(query))
    samples = [_sample_values(row, ids[row.plan_key], now) for row in measured]
    if samples:
        session.execute(insert(_SAMPLES), samples)


def _post_values(row: Row, now: datetime) -> dict[str, Any]:
    return {
        "plan_key": row.plan_key,
        "source": "import",
        "state": PostState.PUBLISHED,
        "channel": row.channel,
        "title": row.title,
        "text": row.text,
        "link": _own_link(row),
        "external_url": row.url,
        "external_id": row.external_id,
        "campaign": row.campaign,
        "focus_area": row.focus_area,
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
        "raw": row.raw,
    }

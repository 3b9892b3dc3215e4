"""`comms import`: add posts made outside comms (by hand on Facebook, on the website) from a CSV.

The file is UTF-8 (an Excel "CSV UTF-8" byte-order mark is accepted and dropped; UTF-16/32 files
and other encodings are refused with the line of the first bad byte). Its first line is the
header, in any column order but with exactly these names:

    channel,published_at,title,url,reach,impressions,engagements

- `channel` names a configured channel.
- `published_at` is ISO 8601 (`2019-01-14T20:59`, `2019-01-14 20:59:00+01:00`, `...Z`, or a bare
  date meaning midnight); a time without an offset is wall time in the configured zone.
- `title` and `url` may be empty; a url must start with http:// or https://.
- `reach`, `impressions`, `engagements` may be empty (not known). A figure is a whole number of
  zero or more, written plainly (`25056`) or with Danish thousands dots (`25.056`, `1.234.567`:
  only groups of exactly three digits, so it cannot be mistaken for a decimal). Commas, decimals,
  spaces and signs are refused: a count of people has no fractions, and "25,056" means 25.056
  (a decimal) to a Dane but 25056 to an English spreadsheet.

The whole file is checked before anything is written; every problem found is reported with its
line (the first one as the error's location). Then all new rows go in one transaction with bulk
inserts. A row already imported (same channel, instant, url and title) is skipped and counted,
so importing the same file twice adds nothing the second time.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from json.encoder import encode_basestring  # what json.dumps(ensure_ascii=False) quotes with
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import insert, select

from comms.config import Settings
from comms.db import session_scope
from comms.errors import ImportFileError
from comms.models import AuditEvent, MetricSample, Post, PostState, new_key, utcnow

COLUMNS = ("channel", "published_at", "title", "url", "reach", "impressions", "engagements")
EXPECTED_HEADER = ",".join(COLUMNS)
FIGURES = ("reach", "impressions", "engagements")

MAX_FIGURE = 2_147_483_647  # an INTEGER column on PostgreSQL
MAX_TITLE = 500  # Post.title
MAX_URL = 2000  # Post.link / Post.external_url
MAX_REPORTED_ERRORS = 10  # lines named in one error message
_INSERT_CHUNK = 5000  # rows per bulk insert (progress steps; all in one transaction)
_LOOKUP_CHUNK = 500  # plan keys per IN (...) query
_IMPORT_CACHE_KIB = 64 * 1024  # SQLite page cache while inserting (default: 2 MiB)

_FIGURE_RE = re.compile(r"^(?:\d+|\d{1,3}(?:\.\d{3})+)$")
_FIGURE_HINT = "write a whole number of 0 or more, e.g. 25056 or 25.056, or leave it empty"

# Core tables, not the ORM entities: executemany with every key, one statement per batch
_POSTS = Post.__table__  # type: ignore[attr-defined]
_SAMPLES = MetricSample.__table__  # type: ignore[attr-defined]

Progress = Callable[[str, int, int], None]
"""Called as progress(stage, done, total) with stage "checking" or "saving"."""


@dataclass(frozen=True)
class ImportResult:
    """What an import did: posts added, and rows skipped because they were already there."""

    path: Path
    added: int
    skipped_duplicates: int

    @property
    def rows(self) -> int:
        return self.added + self.skipped_duplicates


class _Row(NamedTuple):
    """One checked CSV row, ready to insert.

    A named tuple, not a dataclass: an import makes one per row (100,000 in bench/import), and a
    tuple is several times cheaper to build. `plan_key` is computed by `_plan_key`.
    """

    line: int
    channel: str
    published_at: datetime  # aware, UTC
    title: str | None
    url: str | None
    figures: tuple[int | None, int | None, int | None]  # in the order of FIGURES
    raw: tuple[str, ...]  # the stripped values, in the order of COLUMNS
    plan_key: str


def _plan_key(channel: str, published_at: datetime, url: str | None, title: str | None) -> str:
    """Stable over re-imports: the same instant written another way (offset, Z) is the same key."""
    parts = (channel, published_at.isoformat(), url or "", title or "")
    return "import:" + sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


class _Problems:
    """Collects the problems found in a file, so one run reports them all."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[tuple[int, str, str | None]] = []

    def add(self, line: int, message: str, hint: str | None = None) -> None:
        self.items.append((line, message, hint))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        line, message, hint = self.items[0]
        rest = self.items[1:]
        if rest:
            shown = ", ".join(str(n) for n, _, _ in rest[: MAX_REPORTED_ERRORS - 1])
            more = len(rest) - (MAX_REPORTED_ERRORS - 1)
            if more > 0:
                shown += f" and {more} more"
            message += f"; {len(rest)} more problem(s) on line(s) {shown}"
        hint = (hint + "; nothing was imported") if hint else "nothing was imported"
        raise ImportFileError(message, path=self.path, line=line, hint=hint)


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
        existing = _existing_keys(session, (row.plan_key for row in rows), sqlite=sqlite)
        new_rows: list[_Row] = []
        seen: set[str] = set(existing)
        for row in rows:
            if row.plan_key not in seen:
                seen.add(row.plan_key)
                new_rows.append(row)
        now = utcnow()
        total = len(new_rows)
        if sqlite:
            _insert_sqlite(connection, new_rows, now, progress)
        else:
            _insert_generic(session, new_rows, now, progress)
        skipped = len(rows) - total
        session.add(
            AuditEvent(
                actor=actor,
                action="import",
                at=now,
                detail=f"{path.name}: {total} added, {skipped} already there",
            )
        )
    return ImportResult(path=path, added=total, skipped_duplicates=skipped)


def read_rows(settings: Settings, path: Path, *, progress: Progress | None = None) -> list[_Row]:
    """Every row of the file, checked; ImportFileError naming the lines of all problems.

    One tight loop accepts the rows that are plainly valid (the common case, and what makes
    bench/import fast); a row it is not sure about goes to `_check_row`, which applies every rule
    and words the problems. The fast checks only ever accept a subset of what `_check_row` does,
    and build the same values.
    """
    text = _decode(path)
    problems = _Problems(path)
    records = _records(text, path)
    try:
        header_line, header = next(records)
    except StopIteration:
        hint = f"the first line must be the header: {EXPECTED_HEADER}"
        raise ImportFileError("the file is empty", path=path, line=1, hint=hint) from None
    positions = _check_header(header, path, header_line)
    total_lines = max(text.count("\n"), 1)
    width = len(header)
    pick = itemgetter(*(positions[name] for name in COLUMNS))  # the columns in COLUMNS order
    channels = settings.channels
    zone = settings.zone
    fromisoformat = datetime.fromisoformat
    rows: list[_Row] = []
    append = rows.append
    next_progress = 5000
    for line, fields in records:
        if len(fields) != width:
            problems.add(
                line,
                f"{len(fields)} values where the header has {width} columns",
                "check for a missing or extra comma; quote values that contain commas",
            )
            continue
        if progress and line >= next_progress:
            next_progress = (line // 5000 + 1) * 5000
            progress("checking", min(line, total_lines), total_lines)
        raw = tuple(map(str.strip, pick(fields)))
        channel, written, title, url, reach, impressions, engagements = raw
        try:
            if channel not in channels or not written:
                raise ValueError
            moment = fromisoformat(written)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)  # naive: wall time in the configured zone
            moment = moment.astimezone(UTC)
            if len(title) > MAX_TITLE or len(url) > MAX_URL:
                raise ValueError
            if url and not url.lower().startswith(("http://", "https://")):
                raise ValueError
            figures = (_figure(reach), _figure(impressions), _figure(engagements))
        except ValueError:  # not plainly valid: let the full check find and word the problems
            row = _check_row(settings, dict(zip(COLUMNS, raw, strict=True)), line, problems)
            if row is not None:
                append(row)
            continue
        title_or_none = title or None
        url_or_none = url or None
        append(
            _Row(
                line,
                channel,
                moment,
                title_or_none,
                url_or_none,
                figures,
                raw,
                _plan_key(channel, moment, url_or_none, title_or_none),
            )
        )
    problems.raise_if_any()
    if progress:
        progress("checking", total_lines, total_lines)
    return rows


def _figure(value: str) -> int | None:
    """A valid figure, or None when empty; ValueError when `_parse_figure` would report it."""
    if not value:
        return None
    if _FIGURE_RE.match(value):
        number = int(value.replace(".", ""))
        if number <= MAX_FIGURE:
            return number
    raise ValueError(value)


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"cannot read the file: {exc.strerror or exc}", path=path) from None
    for bom, name in (
        (codecs.BOM_UTF32_LE, "UTF-32"),
        (codecs.BOM_UTF32_BE, "UTF-32"),
        (codecs.BOM_UTF16_LE, "UTF-16"),
        (codecs.BOM_UTF16_BE, "UTF-16"),
    ):
        if data.startswith(bom):
            raise ImportFileError(
                f"the file is {name} text, not UTF-8",
                path=path,
                line=1,
                hint='save it as "CSV UTF-8" and import again',
            )
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]  # Excel's "CSV UTF-8" marker: harmless, dropped
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ImportFileError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} cannot be decoded)",
            path=path,
            line=line,
            hint='save the file as "CSV UTF-8" (Excel: Save As, CSV UTF-8)',
        ) from None


def _records(text: str, path: Path) -> Iterator[tuple[int, list[str]]]:
    """(first line number, fields) per non-blank CSV record."""
    reader = csv.reader(io.StringIO(text, newline=""))
    previous_end = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportFileError(
                f"not valid CSV: {exc}",
                path=path,
                line=reader.line_num,
                hint="check quotes on this line; nothing was imported",
            ) from None
        line = previous_end + 1
        previous_end = reader.line_num
        if not fields or all(not field.strip() for field in fields):
            continue
        yield line, fields


def _check_header(header: list[str], path: Path, line: int) -> dict[str, int]:
    """Column name -> index; an error naming missing, unknown and repeated columns."""
    names = [name.strip().lower() for name in header]
    problems: list[str] = []
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        problems.append("repeated column(s): " + ", ".join(repeated))
    unknown = [name for name in dict.fromkeys(names) if name not in COLUMNS]
    missing = [name for name in COLUMNS if name not in names]
    for name in unknown:
        guess = difflib.get_close_matches(name, missing or COLUMNS, n=1)
        shown = repr(name) if name else "(an empty column name)"
        problems.append(
            f"unknown column {shown}" + (f" (did you mean {guess[0]!r}?)" if guess else "")
        )
    if missing:
        problems.append("missing column(s): " + ", ".join(missing))
    if problems:
        raise ImportFileError(
            "bad header: " + "; ".join(problems),
            path=path,
            line=line,
            hint=f"the header must be: {EXPECTED_HEADER}",
        )
    return {name: names.index(name) for name in COLUMNS}


def _check_row(
    settings: Settings, values: dict[str, str], line: int, problems: _Problems
) -> _Row | None:
    before = len(problems.items)
    channel = values["channel"]
    if not channel:
        problems.add(line, "channel is empty", "name a configured channel: " + _known(settings))
    elif channel not in settings.channels:
        problems.add(
            line, f"unknown channel {channel!r}", "configured channels: " + _known(settings)
        )

    published_at = _parse_time(values["published_at"], settings, line, problems)

    title = values["title"] or None
    if title is not None and len(title) > MAX_TITLE:
        problems.add(
            line, f"title is {len(title)} characters long", f"shorten it to at most {MAX_TITLE}"
        )
    url = values["url"] or None
    if url is not None:
        if not url.lower().startswith(("http://", "https://")):
            problems.add(
                line,
                f"url {url!r} is not a web address",
                "write the full address starting with https://, or leave it empty",
            )
        elif len(url) > MAX_URL:
            problems.add(
                line, f"url is {len(url)} characters long", f"at most {MAX_URL} are allowed"
            )

    reach, impressions, engagements = (
        _parse_figure(name, values[name], line, problems) for name in FIGURES
    )
    if len(problems.items) > before or published_at is None:
        return None
    return _Row(
        line,
        channel,
        published_at,
        title,
        url,
        (reach, impressions, engagements),
        tuple(values[name] for name in COLUMNS),
        _plan_key(channel, published_at, url, title),
    )


def _known(settings: Settings) -> str:
    return ", ".join(sorted(settings.channels)) or "(none)"


def _parse_time(value: str, settings: Settings, line: int, problems: _Problems) -> datetime | None:
    hint = "write ISO 8601, e.g. 2019-01-14 20:59 (local time) or 2019-01-14T19:59:00Z"
    if not value:
        problems.add(line, "published_at is empty", hint)
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        problems.add(line, f"published_at {value!r} is not an ISO 8601 time", hint)
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=settings.zone)  # naive: wall time in the configured zone
    return moment.astimezone(UTC)


def _parse_figure(name: str, value: str, line: int, problems: _Problems) -> int | None:
    if not value:
        return None
    if not _FIGURE_RE.match(value):
        what = "negative" if value.startswith("-") else "not a whole number"
        problems.add(line, f"{name} {value!r} is {what}", _FIGURE_HINT)
        return None
    number = int(value.replace(".", ""))
    if number > MAX_FIGURE:
        problems.add(line, f"{name} {value!r} is too large", f"at most {MAX_FIGURE}")
        return None
    return number


def _existing_keys(session: Any, keys: Iterable[str], *, sqlite: bool) -> set[str]:
    """The keys among `keys` already in the post table (one indexed IN query per chunk)."""
    found: set[str] = set()
    unique = list(dict.fromkeys(keys))
    if sqlite:  # the raw cursor: no statement compiling per chunk
        cursor = _dbapi(session.connection()).cursor()
        table, column = _POSTS.name, _POSTS.c.plan_key.name
        for start in range(0, len(unique), _LOOKUP_CHUNK):
            chunk = unique[start : start + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            cursor.execute(f"SELECT {column} FROM {table} WHERE {column} IN ({marks})", chunk)
            found.update(key for (key,) in cursor.fetchall())
        cursor.close()
        return found
    for start in range(0, len(unique), _LOOKUP_CHUNK):
        chunk = unique[start : start + _LOOKUP_CHUNK]
        found.update(session.scalars(select(Post.plan_key).where(Post.plan_key.in_(chunk))))
    return found


# --- SQLite: DB-API executemany with values already in SQLAlchemy's storage format ----------
#
# Going through SQLAlchemy costs a type conversion per value (UTCDateTime, then the SQLite
# DATETIME string), which was ~45 % of an import. On SQLite we insert through the raw cursor of
# the session's own connection, so it is the same transaction (BEGIN IMMEDIATE, all or nothing),
# and write exactly what those types would: naive UTC as "YYYY-MM-DD HH:MM:SS.ffffff", booleans
# as 0/1. tests/test_importer.py reads the rows back through the ORM.

_POST_COLUMNS = (
    "plan_key",
    "source",
    "state",
    "channel",
    "title",
    "text",
    "link",
    "external_url",
    "scheduled_at",
    "published_at",
    "dst_adjusted",
    "attempts",
    "idempotency_key",
    "created_at",
    "updated_at",
)
_SAMPLE_COLUMNS = ("post_id", "collected_at", *FIGURES, "raw")
# json.dumps(dict(zip(COLUMNS, values)), ensure_ascii=False), with the keys quoted once
_RAW_JSON = "{" + ", ".join(f'"{name}": %s' for name in COLUMNS) + "}"


def _dbapi(connection: Any) -> Any:
    """The DB-API connection under a SQLAlchemy Connection (in its current transaction)."""
    return connection.connection.driver_connection


def _sqlite_time(moment: datetime) -> str:
    """An aware datetime as UTCDateTime stores it on SQLite (naive UTC, microseconds)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _insert_sql(table: Any, columns: tuple[str, ...]) -> str:
    for name in columns:  # the real column names, so a schema change fails loudly here
        table.c[name]
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"


def _idempotency_keys(count: int) -> list[str]:
    """`count` random (version 4) UUID strings, as models.new_key makes them, from one read."""
    data = os.urandom(16 * count)
    keys = []
    for start in range(0, 16 * count, 16):
        value = int.from_bytes(data[start : start + 16], "big")
        value = (value & ~(0xF000 << 64) & ~(0xC000 << 48)) | (0x4000 << 64) | (0x8000 << 48)
        hexed = f"{value:032x}"
        keys.append(f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}")
    return keys


def _insert_sqlite(
    connection: Any, rows: list[_Row], now: datetime, progress: Progress | None
) -> None:
    cursor = _dbapi(connection).cursor()
    # the unique plan_key index takes random keys: with a bigger page cache (this connection,
    # this import only) SQLite stops spilling index pages halfway through the transaction
    (cache_size,) = cursor.execute("PRAGMA cache_size").fetchone()
    cursor.execute(f"PRAGMA cache_size = {min(int(cache_size), -_IMPORT_CACHE_KIB)}")
    try:
        posts_sql = _insert_sql(_POSTS, _POST_COLUMNS)
        samples_sql = _insert_sql(_SAMPLES, _SAMPLE_COLUMNS)
        stamp = _sqlite_time(now)
        published = PostState.PUBLISHED
        total = len(rows)
        id_column = _POSTS.c.id.name
        for start in range(0, total, _INSERT_CHUNK):
            chunk = rows[start : start + _INSERT_CHUNK]
            keys = _idempotency_keys(len(chunk))
            values = []
            for row, key in zip(chunk, keys, strict=True):
                at = _sqlite_time(row.published_at)
                values.append(
                    (
                        row.plan_key,
                        "import",
                        published,
                        row.channel,
                        row.title,
                        row.title or "",
                        row.url,
                        row.url,
                        at,
                        at,
                        0,
                        0,
                        key,
                        stamp,
                        stamp,
                    )
                )
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
                    stamp,
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
    session: Any, rows: list[_Row], now: datetime, progress: Progress | None
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


def _post_values(row: _Row, now: datetime) -> dict[str, Any]:
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


def _sample_values(row: _Row, post_id: int, now: datetime) -> dict[str, Any]:
    return {
        "post_id": post_id,
        "collected_at": now,
        **dict(zip(FIGURES, row.figures, strict=True)),
        "raw": json.dumps(dict(zip(COLUMNS, row.raw, strict=True)), ensure_ascii=False),
    }

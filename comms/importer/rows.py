"""Read and check the CSV of `comms import`: every row of the file, or every problem in it.

The file is UTF-8 (an Excel "CSV UTF-8" byte-order mark is accepted and dropped; UTF-16/32 files
and other encodings are refused with the line of the first bad byte). Its first line is the
header, in any column order but with exactly these names:

    channel,published_at,title,url,reach,impressions,engagements

- `channel` names a configured channel.
- `published_at` is ISO 8601 (`2019-01-14T20:59`, `2019-01-14 20:59:00+01:00`, `...Z`, or a bare
  date meaning midnight); a time without an offset is wall time in the configured zone.
- `title` and `url` may be empty; a url is an http:// or https:// address with a host and no
  user name or password (content.links: what may become a link).
- `reach`, `impressions`, `engagements` may be empty (not known). A figure is a whole number of
  zero or more, written plainly (`25056`) or with Danish thousands dots (`25.056`, `1.234.567`:
  only groups of exactly three digits, so it cannot be mistaken for a decimal). Commas, decimals,
  spaces and signs are refused: a count of people has no fractions, and "25,056" means 25.056
  (a decimal) to a Dane but 25056 to an English spreadsheet.

The whole file is checked before anything is written, so a bad file changes nothing: every
problem found is reported with its line (the first one as the error's location). Writing the
checked rows is importer.py's job.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple, cast

from comms.config import Settings
from comms.content.clean import NUL_HINT, NUL_PROBLEM, has_nul, strip_controls
from comms.content.links import link_problem
from comms.errors import ImportFileError
from comms.store.bulk import EPOCH_NAIVE, EPOCH_UTC

COLUMNS = ("channel", "published_at", "title", "url", "reach", "impressions", "engagements")
EXPECTED_HEADER = ",".join(COLUMNS)
FIGURES = ("reach", "impressions", "engagements")

MAX_FIGURE = 2_147_483_647  # an INTEGER column on PostgreSQL
MAX_TITLE = 500  # Post.title
MAX_URL = 2000  # Post.link / Post.external_url
MAX_REPORTED_LINES = 20  # further bad lines spelled out in one error, then a count

_FIGURE_RE = re.compile(r"^(?:\d+|\d{1,3}(?:\.\d{3})+)$")
_FIGURE_HINT = "write a whole number of 0 or more, e.g. 25056 or 25.056, or leave it empty"

Progress = Callable[[str, int, int], None]
"""Called as progress(stage, done, total) with stage "checking" or "saving"."""


class Row(NamedTuple):
    """One checked CSV row, ready to insert.

    A named tuple, not a dataclass: an import makes one per row, and a tuple is much cheaper
    to build. `plan_key` is computed by `_plan_key`.
    """

    line: int
    channel: str
    published_at: datetime  # aware, UTC
    title: str | None
    url: str | None
    figures: tuple[int | None, int | None, int | None]  # in the order of FIGURES
    raw: tuple[str, ...]  # the stripped values, in the order of COLUMNS
    plan_key: str


def _plan_key(channel: str, utc: datetime, url: str, title: str) -> str:
    """Stable over re-imports: the same instant written another way (offset, Z) is the same key.

    `utc` is the instant as naive UTC and `url`/`title` are "" when empty. The hashed text is
    what it always was (keys in existing databases must not change; a test pins one): the parts
    joined by U+001F, the instant written as the aware UTC datetime's isoformat() writes it.
    """
    text = f"{channel}\x1f{utc.isoformat()}+00:00\x1f{url}\x1f{title}"
    return "import:" + sha256(text.encode("utf-8")).hexdigest()


class _Problems:
    """Collects the problems found in a file, so one run reports them all."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[tuple[int, str, str | None]] = []

    def add(self, line: int, message: str, hint: str | None = None) -> None:
        self.items.append((line, message, hint))

    def raise_if_any(self) -> None:
        """One error: the first bad line is its location, every other one (up to a cap) is
        named with what is wrong on it, each line once."""
        if not self.items:
            return
        by_line: dict[int, list[tuple[str, str | None]]] = {}
        for line, message, hint in self.items:
            by_line.setdefault(line, []).append((message, hint))
        (first, problems), *rest = sorted(by_line.items())
        if len(problems) == 1:
            message, hint = problems[0]
        else:
            message, hint = _joined(problems), None
        hint = (hint + "; nothing was imported") if hint else "nothing was imported"
        details = [f"line {line}: {_joined(found)}" for line, found in rest[:MAX_REPORTED_LINES]]
        if len(rest) > MAX_REPORTED_LINES:
            details.append(f"and {len(rest) - MAX_REPORTED_LINES} more line(s) with problems")
        raise ImportFileError(message, path=self.path, line=first, hint=hint, details=details)


def _joined(problems: list[tuple[str, str | None]]) -> str:
    """The problems of one line, each with its hint: 'a (do x); b (do y)'."""
    return "; ".join(message + (f" ({hint})" if hint else "") for message, hint in problems)


def read_rows(settings: Settings, path: Path, *, progress: Progress | None = None) -> list[Row]:
    """Every row of the file, checked; ImportFileError naming the lines of all problems.

    One tight loop accepts the rows that are plainly valid (the common case, so the cheap path
    is the usual one); a row it is not sure about goes to `_check_row`, which applies every rule
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
    # a ZoneInfo has an offset for every datetime (typeshed's tzinfo allows None)
    utcoffset = cast(Callable[[datetime], timedelta], settings.zone.utcoffset)
    fromisoformat = datetime.fromisoformat
    rows: list[Row] = []
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
        raw = pick(fields)  # a tuple, already stripped by _records
        channel, written, title, url, reach, impressions, engagements = raw
        try:
            if channel not in channels or not written:
                raise ValueError
            moment = fromisoformat(written)
            # the instant as naive UTC, then aware: what _parse_time's replace(tzinfo=zone) and
            # astimezone(UTC) give (the same value, the same OverflowError at the ends of the
            # range), by datetime arithmetic, which runs in C: datetime.replace and an aware
            # isoformat() are the slow way to the same value
            if moment.tzinfo is None:  # naive: wall time in the configured zone
                utc = moment - utcoffset(moment)
            else:
                utc = EPOCH_NAIVE + (moment - EPOCH_UTC)
            moment = EPOCH_UTC + (utc - EPOCH_NAIVE)
            if len(title) > MAX_TITLE or len(url) > MAX_URL or not title.isprintable():
                raise ValueError
            if url and link_problem(url) is not None:
                raise ValueError
            figures = (_figure(reach), _figure(impressions), _figure(engagements))
        except (ValueError, OverflowError):  # not plainly valid: the full check words it
            row = _check_row(settings, dict(zip(COLUMNS, raw, strict=True)), line, problems)
            if row is not None:
                append(row)
            continue
        append(
            Row(
                line,
                channel,
                moment,
                title or None,
                url or None,
                figures,
                raw,
                _plan_key(channel, utc, url, title),
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
    # most figures are plain ASCII digits: str methods are ~4x cheaper than the regex, and
    # ASCII digits are exactly what its \d+ branch accepts of ASCII (isdigit alone would also
    # take "²" or "٣", which go to the regex as before)
    if value.isdigit() and value.isascii():
        number = int(value)
    elif _FIGURE_RE.match(value):
        number = int(value.replace(".", ""))
    else:
        raise ValueError(value)
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
    """(first line number, stripped fields) per non-blank CSV record."""
    reader = csv.reader(io.StringIO(text, newline=""))
    previous_end = 0
    try:
        for fields in reader:
            line = previous_end + 1
            previous_end = reader.line_num
            stripped = list(map(str.strip, fields))  # the values are used stripped everywhere
            if any(stripped):  # any() on the tuple runs in C; a generator would not
                yield line, stripped
    except csv.Error as exc:
        raise ImportFileError(
            f"not valid CSV: {exc}",
            path=path,
            line=reader.line_num,
            hint="check quotes on this line; nothing was imported",
        ) from None


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
) -> Row | None:
    before = len(problems.items)
    for name, value in values.items():
        if has_nul(value):
            problems.add(line, f"{name} {NUL_PROBLEM}", NUL_HINT)
    if len(problems.items) > before:
        return None
    channel = values["channel"]
    if not channel:
        problems.add(line, "channel is empty", "name a configured channel: " + _known(settings))
    elif channel not in settings.channels:
        guess = difflib.get_close_matches(channel.lower(), list(settings.channels), n=1)
        problems.add(
            line,
            f"unknown channel {channel!r}",
            (f"did you mean {guess[0]!r}? " if guess else "")
            + "configured channels: "
            + _known(settings),
        )

    published_at = _parse_time(values["published_at"], settings, line, problems)

    title = strip_controls(values["title"]) or None  # a vertical tab from a spreadsheet cell
    if title is not None and len(title) > MAX_TITLE:
        problems.add(
            line, f"title is {len(title)} characters long", f"shorten it to at most {MAX_TITLE}"
        )
    url = values["url"] or None
    if url is not None:
        if len(url) > MAX_URL:
            problems.add(
                line, f"url is {len(url)} characters long", f"at most {MAX_URL} are allowed"
            )
        elif (why := link_problem(url)) is not None:
            problems.add(
                line,
                f"url {url!r} is not a web address: {why}",
                "write the full address starting with https://, or leave it empty",
            )

    reach, impressions, engagements = (
        _parse_figure(name, values[name], line, problems) for name in FIGURES
    )
    if len(problems.items) > before or published_at is None:
        return None
    return Row(
        line,
        channel,
        published_at,
        title,
        url,
        (reach, impressions, engagements),
        tuple(values[name] for name in COLUMNS),
        _plan_key(channel, published_at.replace(tzinfo=None), url or "", title or ""),
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
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01 00:00 local time is before year 1 in UTC
        problems.add(
            line,
            f"published_at {value!r} is out of range",
            "write a time between the years 1 and 9999 (UTC)",
        )
        return None


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

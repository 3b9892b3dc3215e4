"""Check the rows of an import file one at a time: each becomes a `Row` ready to write, or its
problems are noted with the line and the column's name as the file writes it.

What each column means and how its times and numbers are written is the format's
(formats.py); reading the file is source.py's. comms' own CSV has the header

    channel,published_at,title,url,reach,impressions,engagements

(any order; optional `clicks`, `campaign`, `focus_area`; other columns are ignored):

- `channel` names a configured channel; the services' exports carry none, so `--channel` names
  it for the whole file.
- `published_at` is ISO 8601 (`2019-01-14T20:59`, `...+01:00`, `...Z`, or a bare date meaning
  midnight); a time without an offset is wall time in the configured zone.
- `title` and `url` may be empty; a url must start with http:// or https://.
- a figure may be empty (not known); it is a whole number of zero or more, written plainly
  (`25056`) or with Danish thousands dots (`25.056`); a decimal is refused.
- `campaign` (a slug) and `focus_area` attach the post to a campaign and a focus area;
  `--campaign` and `--focus-area` do it for every row that leaves them empty.

A post that the service numbers (Meta's Post ID, X's Post id, the URN in a LinkedIn link) is
known by that number on its channel, so a newer export of it updates its figures. A row of
comms' own CSV is known by its channel, instant, url and title (`plan_key`).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256
from json.encoder import encode_basestring  # how json.dumps(ensure_ascii=False) quotes
from pathlib import Path
from typing import Any, NamedTuple

from comms.campaigns.dates import SLUG_RE
from comms.config import Settings
from comms.content.clean import NUL_HINT_DA, NUL_PROBLEM_DA, has_nul, strip_controls
from comms.content.links import link_problem
from comms.errors import ImportFileError
from comms.importer.formats import EMPTY, FIGURES, MAX_FIGURE, MOST_FIGURE, ImportFormat
from comms.importer.source import Source

MAX_TITLE = 500  # Post.title
MAX_URL = 2000  # Post.link / Post.external_url
MAX_EXTERNAL_ID = 500  # Post.external_id
MAX_CAMPAIGN = 100  # Post.campaign
MAX_FOCUS_AREA = 200  # Post.focus_area
MAX_REPORTED_LINES = 20  # further bad lines spelled out in one error, then a count

_SEPARATOR_NAMES = {",": "komma", ";": "semikolon", "\t": "tabulatortegn"}
NOTHING_IMPORTED = "intet blev importeret"
_LINKEDIN_URN = re.compile(r"urn:li:(?:activity|share|ugcPost):\d+")

Progress = Callable[[str, int, int], None]
"""Called as progress(stage, done, total) with stage "importing"."""

Figures = tuple[int | None, int | None, int | None, int | None]  # in the order of FIGURES


class Row(NamedTuple):
    """One checked row, ready to write (a tuple: an import makes one per row)."""

    line: int
    channel: str
    published_at: datetime  # aware, UTC
    title: str | None
    text: str
    url: str | None
    external_id: str | None
    figures: Figures
    campaign: str | None
    focus_area: str | None
    raw: str  # JSON: the columns read, under the names the file gives them
    plan_key: str


def own_plan_key(channel: str, utc: datetime, url: str, title: str) -> str:
    """Stable over re-imports: the same instant written another way (offset, Z) is the same key.

    `utc` is the instant as an aware datetime in UTC (the offset is then written +00:00) and
    `url`/`title` are "" when empty. The hashed text is what it always was (keys in existing
    databases must not change; a test pins one): the parts joined by U+001F, the instant written
    as the aware UTC datetime's isoformat() writes it.
    """
    text = f"{channel}\x1f{utc.isoformat()}\x1f{url}\x1f{title}"
    return "import:" + sha256(text.encode("utf-8")).hexdigest()


def service_plan_key(channel: str, external_id: str) -> str:
    """A post the service numbers is the same post in every export of it."""
    text = f"{channel}\x1fid\x1f{external_id}"
    return "import:" + sha256(text.encode("utf-8")).hexdigest()


class Problems:
    """The problems found in a file, so one run reports them all: the first lines' in full,
    the rest counted (a file of a million bad rows must not fill the memory with messages)."""

    def __init__(self, source: Source) -> None:
        self.path = source.path
        self.lines: dict[int, list[tuple[str, str | None]]] = {}
        self.more_lines = 0
        self._last_counted = 0

    def __bool__(self) -> bool:
        return bool(self.lines)

    def add(self, line: int, message: str, hint: str | None = None) -> None:
        if line in self.lines:
            self.lines[line].append((message, hint))
        elif len(self.lines) <= MAX_REPORTED_LINES:
            self.lines[line] = [(message, hint)]
        elif line != self._last_counted:  # lines come in order: count each once
            self._last_counted = line
            self.more_lines += 1

    def error(self) -> ImportFileError:
        """One error: the first bad line is its location, the others are named after it."""
        (first, problems), *rest = sorted(self.lines.items())
        if len(problems) == 1:
            message, hint = problems[0]
        else:
            message, hint = _joined(problems), None
        hint = f"{hint}; {NOTHING_IMPORTED}" if hint else NOTHING_IMPORTED
        details = [f"linje {line}: {_joined(found)}" for line, found in rest]
        if self.more_lines:
            more = "linje mere" if self.more_lines == 1 else "linjer mere"
            details.append(f"og {self.more_lines} {more} med fejl")
        return ImportFileError(message, path=self.path, line=first, hint=hint, details=details)


def _joined(problems: list[tuple[str, str | None]]) -> str:
    """The problems of one line, each with its hint: 'a (do x); b (do y)'."""
    return "; ".join(message + (f" ({hint})" if hint else "") for message, hint in problems)


@dataclass(frozen=True)
class FileDefaults:
    """What the command line says for the whole file."""

    channel: str | None = None
    campaign: str | None = None
    focus_area: str | None = None


class RowChecker:
    """Turns the cells of one row into a Row, or notes what is wrong with it."""

    def __init__(
        self, settings: Settings, source: Source, defaults: FileDefaults, problems: Problems
    ) -> None:
        self.fmt: ImportFormat = source.format
        self.zone = settings.zone
        self.channels = settings.channels
        self.known = ", ".join(sorted(settings.channels)) or "(ingen)"
        self.source = source
        self.defaults = defaults
        self.problems = problems
        self.positions = source.positions
        self.names = {
            name: source.header[index].replace("\ufeff", "").strip()
            for name, index in source.positions.items()
        }
        self.figure_columns = [
            [(name, self.positions[name]) for name in self.fmt.figures.get(figure, ())
             if name in self.positions]
            for figure in FIGURES
        ]  # fmt: skip
        self.own = self.fmt.carries_channel
        self.at = dict(source.positions)
        self.columns = max(self.at.values(), default=-1) + 1
        # the raw JSON of a row: {"format": ..., "Header": "value", ...}, keys quoted once
        self.raw_at = list(self.at.values())
        keys = [
            json.dumps(self.names[name], ensure_ascii=False).replace("%", "%%") for name in self.at
        ]
        self.raw_template = (
            "{"
            + ", ".join([f'"format": {json.dumps(self.fmt.key)}', *(f"{k}: %s" for k in keys)])
            + "}"
        )
        self.separator = _SEPARATOR_NAMES.get(self.fmt.delimiter, repr(self.fmt.delimiter))

    def check(self, line: int, cells: list[Any]) -> Row | None:
        width = self.source.width
        if width is not None and len(cells) != width:
            self.problems.add(
                line,
                f"{len(cells)} værdier, men overskriften har {width} kolonner",
                f"se efter et manglende eller ekstra {self.separator}; sæt anførselstegn om "
                "værdier, der selv indeholder det",
            )
            return None
        if len(cells) < self.columns:  # a spreadsheet's row may stop at its last value
            cells = [*cells, *([None] * (self.columns - len(cells)))]
        problems = self.problems
        before = len(problems.lines), problems.more_lines
        add = problems.add
        at = self.at

        def cell(name: str) -> Any:
            index = at.get(name)
            return None if index is None else cells[index]

        def text(name: str) -> str:
            index = at.get(name)
            if index is None:
                return ""
            value = cells[index]
            if type(value) is str:  # a CSV's cells are stripped already
                return value
            return "" if value is None else str(value).strip()

        kept = [cells[index] for index in self.raw_at]  # the cells that are kept: an ignored
        if _any_nul(kept):  # one may hold any
            for name, value in zip(at, kept, strict=True):
                if type(value) is str and has_nul(value):
                    add(line, f"{self.names[name]} {NUL_PROBLEM_DA}", NUL_HINT_DA)
            return None

        channel = text("channel") if self.own else (self.defaults.channel or "")
        if self.own:
            self._check_channel(line, channel)

        written = cell("published_at")
        published_at = None
        try:
            published_at = self.fmt.parse_time(written, self.zone)
        except ValueError as exc:
            message, hint = _reason(exc, self.fmt.time_hint)
            shown = self.names.get("published_at", "published_at")
            if message == EMPTY:
                add(line, f"{shown} {EMPTY}", hint)
            else:
                add(line, f"{shown} {_cell_text(written)!r} {message}", hint)

        # a vertical tab or a bell from a spreadsheet cell is no part of a title
        title = strip_controls(text("title")) or None
        body = strip_controls(text("description"))
        if self.own:
            if title is not None and len(title) > MAX_TITLE:
                add(
                    line,
                    f"title har {len(title)} tegn",
                    f"forkort den til højst {MAX_TITLE} tegn",
                )
        elif title is None and body:
            first = body.splitlines()[0].strip()
            title = first if len(first) <= MAX_TITLE else first[: MAX_TITLE - 1] + "…"
        elif title is not None and len(title) > MAX_TITLE:
            title = title[: MAX_TITLE - 1] + "…"

        url = text("url") or None
        if url is not None:
            if len(url) > MAX_URL:
                add(line, f"url har {len(url)} tegn", f"højst {MAX_URL} tegn er tilladt")
            elif (why := link_problem(url, danish=True)) is not None:
                shown = self.names.get("url", "url")
                add(
                    line,
                    f"{shown} {url!r} er ikke en webadresse: {why}",
                    "skriv hele adressen, så den begynder med https://, eller lad feltet stå tomt",
                )

        external_id = self._external_id(line, text("external_id"), url)

        figures: list[int | None] = []
        parse = self.fmt.parse_number
        for columns in self.figure_columns:
            total: int | None = None
            for name, index in columns:
                value = cells[index]
                number: int | None
                if type(value) is str and value.isdigit() and value.isascii() and len(value) < 10:
                    number = int(value)  # the common case, read as parse() would
                else:
                    try:
                        number = parse(value)
                    except ValueError as exc:
                        message, hint = _reason(exc, self.fmt.number_hint)
                        add(line, f"{self.names[name]} {message}", hint)
                        continue
                if number is not None:
                    total = number if total is None else total + number
            if total is not None and total > MAX_FIGURE:  # a sum of several columns
                add(line, f"tallene giver tilsammen {total}, som er for stort", MOST_FIGURE)
                total = None
            figures.append(total)

        campaign = text("campaign") or self.defaults.campaign
        if campaign is not None and (len(campaign) > MAX_CAMPAIGN or not SLUG_RE.match(campaign)):
            add(
                line,
                f"campaign {campaign!r} er ikke en kampagnes kortnavn",
                "skriv kampagnefilens navn uden .toml, fx tryg-nytaar",
            )
        focus_area = text("focus_area") or self.defaults.focus_area
        if focus_area is not None and len(focus_area) > MAX_FOCUS_AREA:
            add(
                line,
                f"focus_area har {len(focus_area)} tegn",
                f"højst {MAX_FOCUS_AREA} tegn",
            )

        if (len(problems.lines), problems.more_lines) != before or published_at is None:
            return None
        if external_id is not None:
            plan_key = service_plan_key(channel, external_id)
        else:
            plan_key = own_plan_key(channel, published_at, url or "", title or "")
        raw = self.raw_template % tuple(
            [
                encode_basestring(value if type(value) is str else _cell_text(value))
                for value in kept
            ]
        )
        return Row(
            line,
            channel,
            published_at,
            title,
            body or title or "",
            url,
            external_id,
            (figures[0], figures[1], figures[2], figures[3]),
            campaign,
            focus_area,
            raw,
            plan_key,
        )

    def _check_channel(self, line: int, channel: str) -> None:
        if not channel:
            self.problems.add(
                line, f"channel {EMPTY}", "skriv en af de konfigurerede kanaler: " + self.known
            )
        elif channel not in self.channels:
            guess = difflib.get_close_matches(channel.lower(), list(self.channels), n=1)
            self.problems.add(
                line,
                f"ukendt kanal {channel!r}",
                (f"mente du {guess[0]!r}? " if guess else "")
                + "konfigurerede kanaler: "
                + self.known,
            )

    def _external_id(self, line: int, written: str, url: str | None) -> str | None:
        """The service's number for the post: its id column, or the URN in a LinkedIn link."""
        if self.own:
            return None
        if "external_id" in self.positions:
            if not written:
                self.problems.add(
                    line, f"{self.names['external_id']} {EMPTY}", "hvert opslag skal have sit id"
                )
                return None
            value = written[:-2] if written.endswith(".0") and written[:-2].isdigit() else written
        elif url is not None:
            found = _LINKEDIN_URN.search(url)
            value = found.group(0) if found else url
        else:
            self.problems.add(
                line, f"{self.fmt.shown('url')} {EMPTY}", "hvert opslag skal have sit link"
            )
            return None
        if len(value) > MAX_EXTERNAL_ID:
            self.problems.add(
                line, f"opslagets id har {len(value)} tegn", f"højst {MAX_EXTERNAL_ID} tegn"
            )
            return None
        return value


def _any_nul(values: list[Any]) -> bool:
    """Whether a text among `values` holds a NUL: one search when all are text, as a CSV's are."""
    try:
        return has_nul("".join(values))
    except TypeError:  # a spreadsheet's numbers, times and empty cells
        return any(type(value) is str and has_nul(value) for value in values)


def _reason(exc: ValueError, default_hint: str) -> tuple[str, str]:
    """A parser's ValueError(message[, hint])."""
    message = str(exc.args[0]) if exc.args else "er ikke gyldig"
    hint = str(exc.args[1]) if len(exc.args) > 1 else default_hint
    return message, hint


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(" ")
    return str(value)


def check_defaults(settings: Settings, source: Source, defaults: FileDefaults) -> None:
    """The file's --channel: needed where the file names no channel, and configured."""
    fmt = source.format
    path = source.path
    if fmt.carries_channel:
        if defaults.channel is not None:
            raise ImportFileError(
                f"--channel bruges ikke: {fmt.label} angiver kanalen på hver række",
                path=path,
                hint="udelad --channel",
            )
        return
    known = ", ".join(sorted(settings.channels)) or "(ingen)"
    fitting = sorted(
        name for name, channel in settings.channels.items() if channel.type in fmt.channel_types
    )
    if defaults.channel is None:
        suggestion = f" (fx --channel {fitting[0]})" if fitting else ""
        raise ImportFileError(
            f"{fmt.label} angiver ingen kanal: sig hvilken med --channel NAVN{suggestion}",
            path=path,
            hint="konfigurerede kanaler: " + known,
        )
    if defaults.channel not in settings.channels:
        guess = difflib.get_close_matches(defaults.channel.lower(), list(settings.channels), n=1)
        raise ImportFileError(
            f"ukendt kanal {defaults.channel!r} (--channel)",
            path=path,
            hint=(f"mente du {guess[0]!r}? " if guess else "") + "konfigurerede kanaler: " + known,
        )
    kind = settings.channels[defaults.channel].type
    if fmt.channel_types and kind not in fmt.channel_types:
        raise ImportFileError(
            f"kanalen {defaults.channel!r} er af typen {kind}, men filen er {fmt.label}",
            path=path,
            hint="angiv en kanal af typen "
            + " eller ".join(fmt.channel_types)
            + (": " + ", ".join(fitting) if fitting else ""),
        )


def read_rows(
    settings: Settings,
    path: Path,
    *,
    defaults: FileDefaults | None = None,
    format_key: str | None = None,
) -> list[Row]:
    """Every row of a (small) file, checked, without a database: for tests and the bench.

    `comms import` itself never holds a file's rows; it writes them batch by batch (write.py).
    """
    from comms.importer.source import open_source

    defaults = defaults or FileDefaults()
    source = open_source(Path(path), format_key=format_key)
    try:
        check_defaults(settings, source, defaults)
        problems = Problems(source)
        checker = RowChecker(settings, source, defaults, problems)
        rows = [row for line, cells in source.records if (row := checker.check(line, cells))]
    finally:
        source.close()
    if problems:
        raise problems.error()
    return rows

"""The files `comms import` reads, each a small declarative record: how to know it by its header,
which of its columns mean what, how it writes times and numbers, and which of its figures are
reach, impressions, engagements and clicks.

Staff bring figures as the services export them, unchanged: Meta Business Suite (Facebook and
Instagram posts), LinkedIn's page content export (.xlsx), X's content export, and comms' own CSV,
also as Danish Excel saves it. A column is found by any of its names (English, and the Danish
ones a Danish Business Suite writes where known), matched without regard to case, spacing or a
byte-order mark; columns a format does not name are ignored. `--columns FILE.toml` adds names for
a header we do not know.

The parsers are strict: a figure that could be read two ways (`1,250` in a Danish sheet, `1.250`
in a Meta export) is an error with its line and column, never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from comms.content.danish import format_number
from comms.store.bulk import EPOCH_NAIVE, EPOCH_UTC

MAX_FIGURE = 2_147_483_647  # an INTEGER column on PostgreSQL
MOST_FIGURE = f"højst {format_number(MAX_FIGURE)}"
FIGURES = ("reach", "impressions", "engagements", "clicks")

TimeParser = Callable[[object, ZoneInfo], datetime]
"""A cell -> an aware UTC datetime; ValueError(what is wrong[, what to write instead], in
Danish: the officers who import read it) when it is not one."""
NumberParser = Callable[[object], int | None]
"""A cell -> a whole number of 0 or more, None when empty; ValueError(why, in Danish)."""


@dataclass(frozen=True)
class ImportFormat:
    """One kind of file. `columns` maps our name for a column to the header names it goes by
    (the first one a header has is taken, so Meta's Views win over the older Impressions);
    `figures` names, per figure, the columns that add up to it (Instagram's interactions are
    likes + comments + shares + saves)."""

    key: str  # for --format
    label: str  # Danish, for "Læste: ..."
    columns: Mapping[str, tuple[str, ...]]
    required: tuple[str, ...]  # our names of the columns it cannot do without
    signature: tuple[str, ...]  # our names of the columns that together tell it apart
    figures: Mapping[str, tuple[str, ...]]
    parse_time: TimeParser
    parse_number: NumberParser
    time_hint: str
    number_hint: str
    carries_channel: bool = False
    channel_types: tuple[str, ...] = ()  # the channel types its posts can belong to
    delimiter: str = ","  # CSV only
    sheet: str | None = None  # the worksheet with the posts (None: the first)
    cp1252_fallback: bool = False  # Danish Excel's "CSV (semikolonsepareret)" is Windows-1252
    extra: Mapping[str, str] = field(default_factory=dict)  # --columns: header -> our name

    def with_columns(self, extra: Mapping[str, str]) -> ImportFormat:
        """This format with the header names of a --columns file added."""
        return replace(self, extra=dict(extra))

    def aliases(self, name: str) -> tuple[str, ...]:
        """Every header name column `name` goes by, normalised."""
        own = tuple(normalise(alias) for alias in self.columns.get(name, ()))
        return own + tuple(header for header, ours in self.extra.items() if ours == name)

    def shown(self, name: str) -> str:
        """The header name to tell a person about."""
        names = self.columns.get(name)
        return names[0] if names else name


def normalise(header: object) -> str:
    """A header cell as matched: no BOM, no case, single spaces."""
    text = "" if header is None else str(header)
    return " ".join(text.replace("\ufeff", "").split()).casefold()


# --- numbers ---------------------------------------------------------------------------------

# ASCII digits only: "²" or "٣" are not what a spreadsheet writes for a count
_PLAIN = re.compile(r"^[0-9]+$")
_DANISH_THOUSANDS = re.compile(r"^[0-9]{1,3}(?:\.[0-9]{3})+$")
_ENGLISH_THOUSANDS = re.compile(r"^[0-9]{1,3}(?:,[0-9]{3})+$")


def _whole(number: int, value: object) -> int:
    if number > MAX_FIGURE:
        raise ValueError(f"{value!r} er for stort", MOST_FIGURE)
    return number


def _cell_number(value: object) -> int | str | None:
    """A spreadsheet's own number as an int (None: empty); text is returned for parsing."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} er ikke et tal")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{value!r} er negativt")
        return _whole(value, value)
    if isinstance(value, float):
        if value < 0:
            raise ValueError(f"{value!r} er negativt")
        if not value.is_integer():
            raise ValueError(f"{value!r} er ikke et helt tal")
        return _whole(int(value), value)
    return str(value).strip()


def _number_with(thousands: re.Pattern[str], separator: str, decimal_hint: str) -> NumberParser:
    def parse(value: object) -> int | None:
        text = _cell_number(value)
        if not isinstance(text, str):
            return text
        if not text or text in ("-", "–"):  # Meta writes "-" for not known
            return None
        if _PLAIN.match(text):
            return _whole(int(text), text)
        if thousands.match(text):
            return _whole(int(text.replace(separator, "")), text)
        if text.startswith("-"):
            raise ValueError(f"{text!r} er negativt")
        raise ValueError(f"{text!r} er ikke et helt tal{decimal_hint}")

    return parse


parse_danish_number = _number_with(_DANISH_THOUSANDS, ".", "")
"""`25056`, `25.056`, `1.234.567`; a decimal (`3.5`, `25,056`, `1.234,5`) is an error: a count
of people has no fractions, and `25,056` is 25.056 to a Dane but 25056 to an English sheet."""

parse_english_number = _number_with(_ENGLISH_THOUSANDS, ",", "")
"""As the services export them: `1250` or `"1,250"`; `1.250` is an error (it may be a decimal)."""


# --- times -----------------------------------------------------------------------------------


_RANGE_HINT = "skriv et tidspunkt mellem år 1 og år 9999 (UTC)"
EMPTY = "er tom"  # the message of an empty time cell, which rows.py words on its own


def _utc(moment: datetime, zone: ZoneInfo) -> datetime:
    """A naive wall time in `zone` (or an aware time) as an aware UTC datetime, by datetime
    arithmetic (it runs in C; replace() and astimezone() are the slow way to the same value)."""
    try:
        if moment.tzinfo is None:
            offset = zone.utcoffset(moment)
            assert offset is not None  # a ZoneInfo has an offset for every datetime
            naive = moment - offset
        else:
            naive = EPOCH_NAIVE + (moment - EPOCH_UTC)
        return EPOCH_UTC + (naive - EPOCH_NAIVE)
    except OverflowError:  # e.g. 0001-01-01 00:00 local time is before year 1 in UTC
        raise ValueError("ligger uden for de tidspunkter, comms kan gemme", _RANGE_HINT) from None


def _as_text(value: object) -> str:
    return "" if value is None else str(value).strip()


def parse_iso_time(value: object, zone: ZoneInfo) -> datetime:
    """ISO 8601 (`2019-01-14T20:59`, `...+01:00`, `...Z`, a bare date: midnight); a time
    without an offset is wall time in `zone`."""
    if isinstance(value, datetime):
        return _utc(value, zone)
    text = _as_text(value)
    if not text:
        raise ValueError(EMPTY)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("er ikke et ISO 8601-tidspunkt") from None
    return _utc(moment, zone)


_DANISH_TIME = re.compile(
    r"^(\d{1,2})[-.](\d{1,2})[-.](\d{4})(?:[ T]+(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?)?$"
)


def parse_danish_time(value: object, zone: ZoneInfo) -> datetime:
    """As Danish Excel writes it: `14-01-2018 10:00`, `14.01.2018 10.00`, `14-01-2018`, or
    ISO 8601; day first, always local time."""
    if isinstance(value, datetime):
        return _utc(value, zone)
    text = _as_text(value)
    match = _DANISH_TIME.match(text)
    if not match:
        return parse_iso_time(text, zone)
    day, month, year, hour, minute, second = (int(part) if part else 0 for part in match.groups())
    try:
        moment = datetime(year, month, day, hour, minute, second)  # noqa: DTZ001 - wall time
    except ValueError:
        raise ValueError("er ikke en dato, der findes") from None
    return _utc(moment, zone)


def _strptime_parser(*patterns: str) -> TimeParser:
    def parse(value: object, zone: ZoneInfo) -> datetime:
        if isinstance(value, datetime):
            return _utc(value, zone)
        text = _as_text(value)
        if not text:
            raise ValueError(EMPTY)
        for pattern in patterns:
            try:
                moment = datetime.strptime(text, pattern)  # noqa: DTZ007 - wall time, see _utc
            except ValueError:
                continue
            return _utc(moment, zone)
        raise ValueError("er ikke et tidspunkt, som denne eksport skriver")

    return parse


parse_meta_time = _strptime_parser("%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y")
parse_linkedin_time = _strptime_parser("%m/%d/%Y", "%m/%d/%Y %H:%M", "%Y-%m-%d", "%Y-%m-%d %H:%M")
parse_x_time = _strptime_parser(
    "%a, %b %d, %Y", "%b %d, %Y", "%Y-%m-%d %H:%M %z", "%Y-%m-%d %H:%M", "%Y-%m-%d"
)

# --- the formats -----------------------------------------------------------------------------

_DANISH_HINT = "skriv et helt tal på 0 eller mere, fx 25056 eller 25.056, eller lad feltet stå tomt"
_ENGLISH_HINT = "et helt tal på 0 eller mere, som eksporten skriver det, fx 1250 eller 1,250"

COMMS = ImportFormat(
    key="comms",
    label="comms' egen CSV",
    columns={
        "channel": ("channel",),
        "published_at": ("published_at",),
        "title": ("title",),
        "url": ("url",),
        "reach": ("reach",),
        "impressions": ("impressions",),
        "engagements": ("engagements",),
        "clicks": ("clicks",),
        "campaign": ("campaign",),
        "focus_area": ("focus_area", "indsatsområde"),
    },
    required=("channel", "published_at", "title", "url", "reach", "impressions", "engagements"),
    signature=("channel", "published_at"),
    figures={name: (name,) for name in FIGURES},
    parse_time=parse_iso_time,
    parse_number=parse_danish_number,
    time_hint="skriv ISO 8601, fx 2019-01-14 20:59 (lokal tid) eller 2019-01-14T19:59:00Z",
    number_hint=_DANISH_HINT,
    carries_channel=True,
)

COMMS_EXCEL_DA = ImportFormat(
    key="comms-excel-da",
    label="comms' egen CSV fra dansk Excel",
    columns=COMMS.columns,
    required=COMMS.required,
    signature=COMMS.signature,
    figures=COMMS.figures,
    parse_time=parse_danish_time,
    parse_number=parse_danish_number,
    time_hint="skriv fx 14-01-2018 10:00 (lokal tid), 14.01.2018 eller 2018-01-14 10:00",
    number_hint=_DANISH_HINT,
    carries_channel=True,
    delimiter=";",
    cp1252_fallback=True,
)

_META_COMMON: dict[str, tuple[str, ...]] = {
    "external_id": ("Post ID", "Opslags-id", "Opslag-id", "Opslagets id"),
    "description": ("Description", "Beskrivelse"),
    "published_at": ("Publish time", "Udgivelsestidspunkt", "Tidspunkt for udgivelse"),
    "url": ("Permalink", "Permanent link"),
    "post_type": ("Post type", "Opslagstype"),
    "date": ("Date", "Dato"),
    "reach": ("Reach", "Rækkevidde"),
}

META_FACEBOOK = ImportFormat(
    key="meta-facebook",
    label="Meta Business Suite, Facebook-opslag",
    columns={
        **_META_COMMON,
        "page_id": ("Page ID", "Side-id"),
        "page_name": ("Page name", "Sidenavn", "Sidens navn"),
        "title": ("Title", "Titel"),
        # Views since Meta replaced impressions (2025); older files have Impressions
        "impressions": ("Views", "Visninger", "Impressions", "Eksponeringer"),
        "interactions": (
            "Reactions, comments and shares",
            "Reaktioner, kommentarer og delinger",
        ),
        "clicks": ("Total clicks", "Klik i alt", "Klik"),
    },
    required=("external_id", "published_at", "reach"),
    signature=("external_id", "page_id"),
    figures={
        "reach": ("reach",),
        "impressions": ("impressions",),
        "engagements": ("interactions",),
        "clicks": ("clicks",),
    },
    parse_time=parse_meta_time,
    parse_number=parse_english_number,
    time_hint="Meta skriver MM/DD/ÅÅÅÅ TT:MM (måned først), fx 01/14/2026 10:00",
    number_hint=_ENGLISH_HINT,
    channel_types=("facebook",),
)

META_INSTAGRAM = ImportFormat(
    key="meta-instagram",
    label="Meta Business Suite, Instagram-opslag",
    columns={
        **_META_COMMON,
        "account_id": ("Account ID", "Konto-id"),
        "account_username": ("Account username", "Kontoens brugernavn", "Brugernavn"),
        "impressions": ("Views", "Visninger", "Impressions", "Eksponeringer"),
        "likes": ("Likes", "Synes godt om"),
        "shares": ("Shares", "Delinger"),
        "comments": ("Comments", "Kommentarer"),
        "saves": ("Saves", "Gemte", "Gemt"),
    },
    required=("external_id", "published_at", "reach"),
    signature=("external_id", "account_id"),
    figures={
        "reach": ("reach",),
        "impressions": ("impressions",),
        "engagements": ("likes", "comments", "shares", "saves"),  # added up
        "clicks": (),
    },
    parse_time=parse_meta_time,
    parse_number=parse_english_number,
    time_hint="Meta skriver MM/DD/ÅÅÅÅ TT:MM (måned først), fx 01/14/2026 10:00",
    number_hint=_ENGLISH_HINT,
    channel_types=("instagram",),
)

LINKEDIN = ImportFormat(
    key="linkedin",
    label="LinkedIn, sidens opslag (xlsx)",
    columns={
        "title": ("Post title",),
        "url": ("Post link",),
        "post_type": ("Post type", "Content type"),
        "posted_by": ("Posted by", "Published by"),
        "published_at": ("Created date", "Date"),
        "impressions": ("Impressions",),
        "clicks": ("Clicks",),
        "likes": ("Likes", "Reactions"),
        "comments": ("Comments",),
        "reposts": ("Reposts", "Shares"),
    },
    required=("url", "published_at", "impressions"),
    signature=("title", "url"),
    figures={
        "reach": (),  # LinkedIn gives impressions only
        "impressions": ("impressions",),
        "engagements": ("likes", "comments", "reposts"),
        "clicks": ("clicks",),
    },
    parse_time=parse_linkedin_time,
    parse_number=parse_english_number,
    time_hint="LinkedIn skriver MM/DD/ÅÅÅÅ (måned først), fx 07/14/2026",
    number_hint=_ENGLISH_HINT,
    channel_types=("linkedin",),
    sheet="All posts",
)

X_POSTS = ImportFormat(
    key="x",
    label="X, opslag (analytics)",
    columns={
        "external_id": ("Post id", "Tweet id"),
        "published_at": ("Date", "Time"),
        "description": ("Post text", "Tweet text"),
        "url": ("Post Link", "Tweet permalink"),
        "impressions": ("Impressions",),
        "likes": ("Likes",),
        "engagements": ("Engagements",),
        "clicks": ("URL Clicks", "Url clicks"),
    },
    required=("external_id", "published_at", "impressions"),
    signature=("external_id", "description"),
    figures={
        "reach": (),  # X gives impressions only
        "impressions": ("impressions",),
        "engagements": ("engagements",),
        "clicks": ("clicks",),
    },
    parse_time=parse_x_time,
    parse_number=parse_english_number,
    time_hint="X skriver fx Tue, Jul 14, 2026",
    number_hint=_ENGLISH_HINT,
    channel_types=("x",),
)

FORMATS: tuple[ImportFormat, ...] = (
    COMMS,
    COMMS_EXCEL_DA,
    META_FACEBOOK,
    META_INSTAGRAM,
    LINKEDIN,
    X_POSTS,
)
BY_KEY = {fmt.key: fmt for fmt in FORMATS}


def header_positions(fmt: ImportFormat, header: list[str]) -> dict[str, int]:
    """Our column name -> its index in `header` (normalised names), for the columns present."""
    positions: dict[str, int] = {}
    for name in (*fmt.columns, *fmt.extra.values()):
        if name in positions:
            continue
        for alias in fmt.aliases(name):
            if alias in header:
                positions[name] = header.index(alias)
                break
    return positions


def matches(fmt: ImportFormat, header: list[str]) -> bool:
    """Whether `header` (normalised) has the columns that tell this format apart."""
    found = header_positions(fmt, header)
    return all(name in found for name in fmt.signature)

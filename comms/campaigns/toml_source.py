"""Line numbers and key checks for hand-written TOML files, so errors can say where to look.

Campaign and post files are parsed with tomli, the project Python's tomllib was taken from: the
same parser and the same messages, but installed compiled, about 2.5 times faster, and a plan
reads every campaign file. It returns values but no positions. Campaign files are small and
written by people (one key a line, plain `[table]` headers), so scanning the raw text finds the
line of a key or table well enough; when it cannot tell, it returns None rather than a wrong
line. The key and value checks here are shared by the date rules and the campaign loader, so
their messages read alike.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import tomli

from comms.errors import CampaignError

Locate = Callable[[str], int | None]
# A line number, or a function giving it: errors look their line up only when they are raised
# (the scans are most of loading a correct file otherwise).
Line = int | None | Callable[[], int | None]


def line_of(line: Line) -> int | None:
    """The line number of a `Line`, looking it up now if it is a function."""
    return line() if callable(line) else line


_HEADER = re.compile(r"^\s*(\[\[?)\s*([\w.\-\"' ]+?)\s*\]\]?\s*(?:#.*)?$")
_SYNTAX_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_SYNTAX_END = re.compile(r"\s*\(at end of document\)\s*$")
# compiled once: re keeps the last 512 patterns given to it as text, and the key patterns
# (one per key name) and everything else compiled while loading push these out of it
_TRIPLE_QUOTES = re.compile(r'"""|\'\'\'')
_DOTTED = re.compile(r"\s*\.\s*")


@dataclass(frozen=True)
class Header:
    """A `[table]` or `[[array]]` header: its dotted name (quotes and spaces removed), 1-based."""

    name: str
    array: bool
    line: int


@functools.lru_cache(maxsize=256)
def _key_pattern(key: str, *, anywhere: bool) -> re.Pattern[str]:
    quoted = f"(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')"
    lead = r"(?:^|[\s{,])" if anywhere else r"^\s*"
    return re.compile(f"{lead}{quoted}\\s*[=.]")


class TomlSource:
    """The raw text of one TOML file, indexed by table so keys can be found per section."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._starts_of: dict[tuple[str, bool], list[int]] = {}

    # the scans run on the first look-up, which a file without errors may never need
    @functools.cached_property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    @functools.cached_property
    def _code(self) -> list[bool]:
        return self._code_lines()

    @functools.cached_property
    def headers(self) -> list[Header]:
        return [h for i, h in self._scan_headers() if self._code[i]]

    def _code_lines(self) -> list[bool]:
        """Mark lines inside multi-line strings, where a `[x]` or `k =` is text, not TOML."""
        if '"""' not in self.text and "'''" not in self.text:
            return [True] * len(self.lines)
        code, inside = [], None
        for line in self.lines:
            code.append(inside is None)
            for quote in _TRIPLE_QUOTES.findall(line):
                if inside is None:
                    inside = quote
                elif inside == quote:
                    inside = None
        return code

    def _scan_headers(self) -> Iterable[tuple[int, Header]]:
        for i, line in enumerate(self.lines):
            if "[" not in line:  # every header has one; most lines are `key = value`
                continue
            match = _HEADER.match(line)
            if match:
                name = _DOTTED.sub(".", match.group(2)).replace('"', "").replace("'", "")
                yield i, Header(name, match.group(1) == "[[", i + 1)

    def region(self, section: str | None = None, index: int | None = None) -> range | None:
        """0-based line indexes of a table (with its sub-tables), or the top level for None."""
        if section is None:
            end = self.headers[0].line - 1 if self.headers else len(self.lines)
            return range(0, end)
        starts = self._starts(section, index is not None)
        pick = index or 0
        if pick >= len(starts):
            return None
        first = starts[pick]
        headers = self.headers
        start = headers[first].line - 1
        end = len(self.lines)
        inner = section + "."
        for h in headers[first + 1 :]:  # the headers after it, in the order of their lines
            if not h.name.startswith(inner):
                end = h.line - 1
                break
        return range(start, end)

    def _starts(self, section: str, array: bool) -> list[int]:
        """Indexes in `headers` of the `[[section]]` headers (`array`), or of `[section]` and
        its sub-tables; worked out once per section (a file's steps are looked up in turn)."""
        key = (section, array)
        found = self._starts_of.get(key)
        if found is None:
            inner = section + "."
            found = self._starts_of[key] = [
                i
                for i, h in enumerate(self.headers)
                if (h.name == section and h.array)
                or (not array and (h.name == section or h.name.startswith(inner)))
            ]
        return found

    def header_line(self, section: str, index: int | None = None) -> int | None:
        """Line of `[section]`, or of the index-th (0-based) `[[section]]`."""
        found = self.region(section, index)
        return found.start + 1 if found is not None else None

    def key_line(
        self, key: str, section: str | None = None, index: int | None = None
    ) -> int | None:
        """Line where `key = ` (or `[section.key]`) starts in a table; None if not found."""
        found = self.region(section, index)
        if found is None:
            return None
        pattern = _key_pattern(key, anywhere=False)
        for i in found:
            if self._code[i] and pattern.search(self.lines[i]):
                return i + 1
        full = f"{section}.{key}" if section else key
        for h in self.headers:
            if (h.name == full or h.name.startswith(full + ".")) and h.line - 1 >= found.start:
                return h.line
        return None

    def locator(self, section: str, index: int | None = None) -> Locate:
        """A function key -> line for keys nested anywhere in a table (inline tables included).

        A table written inline at the top level (`event = { ... }`) is found through its key.
        The fallback is the table's own line, which is closer than no line at all.
        """

        @functools.cache
        def table() -> range:  # found on the first look-up, not when the locator is made
            found = self.region(section, index)
            if found is None:
                own = self.key_line(section)
                found = range(own - 1, own) if own else range(0)
            return found

        def locate(key: str) -> int | None:
            found = table()
            pattern = _key_pattern(key, anywhere=True)
            for i in found:
                if self._code[i] and pattern.search(self.lines[i]):
                    return i + 1
            return found.start + 1 if len(found) else None

        return locate

    def string_line(self, text: str, section: str | None = None) -> int | None:
        """Line of the first quoted string equal to `text`, e.g. `"event:karneval"`."""
        found = self.region(section) if section else range(len(self.lines))
        needles = (f'"{text}"', f"'{text}'")
        for i in found or range(0):
            if any(n in self.lines[i] for n in needles):
                return i + 1
        return None


def syntax_error(exc: tomli.TOMLDecodeError, text: str) -> tuple[str, int | None]:
    """The parser's message without its position suffix, and the line it names."""
    message = str(exc)
    match = _SYNTAX_AT.search(message)
    if match:
        return message[: match.start()], int(match.group(1))
    match = _SYNTAX_END.search(message)
    if match:
        return message[: match.start()] + " (at the end of the file)", max(
            1, len(text.splitlines())
        )
    return message, None


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """`did you mean 'x'?` for a close match, because most unknown keys are typos."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


def key_problems(
    table: Mapping[str, object],
    *,
    allowed: Iterable[str],
    required: Iterable[str] = (),
    where: str,
    locate: Locate | None = None,
    line: Line = None,
    hints: Mapping[str, str] | None = None,
) -> list[CampaignError]:
    """Unknown and missing keys of one table; `line` is used for a missing key."""
    allowed = tuple(allowed)
    problems, meant = [], set()
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            meant.update(close)
            hint = did_you_mean(key, allowed) or "allowed keys: " + ", ".join(allowed)
            at = locate(key) if locate else line_of(line)
            problems.append(CampaignError(f"unknown key {key!r} in {where}", line=at, hint=hint))
    for key in required:
        if key not in table and key not in meant:  # a typo is reported once, as the typo
            hint = (hints or {}).get(key, f"add `{key} = …`")
            problems.append(
                CampaignError(f"missing key {key!r} in {where}", line=line_of(line), hint=hint)
            )
    return problems


def check_keys(table: Mapping[str, object], **how: Any) -> None:
    """Raise the first problem `key_problems` finds (`how`: its keyword arguments)."""
    problems = key_problems(table, **how)
    if problems:
        raise problems[0]


# --- values ---------------------------------------------------------------------------------


def bad_value(
    locate: Locate | None, key: str, message: str, hint: str | None = None
) -> CampaignError:
    """A CampaignError at the line of `key`."""
    return CampaignError(message, line=locate(key) if locate else None, hint=hint)


def int_value(
    table: Mapping[str, object], key: str, locate: Locate | None, lo: int, hi: int
) -> int:
    """An integer in [lo, hi]; TOML booleans are refused although Python counts them as ints."""
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise bad_value(locate, key, f"{key} = {value!r} must be a whole number from {lo} to {hi}")
    return value


def optional_int(
    table: Mapping[str, object], key: str, locate: Locate | None, lo: int, hi: int
) -> int | None:
    return int_value(table, key, locate, lo, hi) if key in table else None


def date_list(value: object, key: str, locate: Locate | None, *, single: bool) -> tuple[date, ...]:
    """Dates of one year: a TOML date list (or one date where `single`); strings are refused."""
    items = [value] if single and isinstance(value, date) else value
    example = f"{key} = [{key}-04-18, {key}-04-25]"
    if not isinstance(items, list) or not items:
        raise bad_value(locate, key, f"{key} must be a non-empty list of dates", example)
    for item in items:
        if type(item) is not date:  # a TOML datetime is a date too (a subclass), and refused
            hint = f"write TOML dates, without quotes or time: {example}"
            raise bad_value(locate, key, f"{item!r} under {key} is not a date", hint)
    return tuple(sorted(set(items)))


def dates_by_year(
    value: object, key: str, locate: Locate | None, *, single: bool
) -> dict[int, tuple[date, ...]]:
    """`{ 2026 = [dates], … }` with checked year keys (`single`: a lone date is allowed)."""
    if not isinstance(value, dict):
        raise bad_value(locate, key, f"{key} must be a table of years", "e.g. { 2026 = [...] }")
    for year in value:
        if not re.fullmatch(r"\d{4}", year):
            raise bad_value(locate, year, f"{year!r} under {key} is not a year", "e.g. `2026 = …`")
    return {int(y): date_list(v, y, locate, single=single) for y, v in value.items()}

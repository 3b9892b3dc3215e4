"""Open an import file as it came from the service: which format it is, its header, and its rows
read one at a time, so a file of any size is never all in memory.

A CSV is decoded as UTF-8 (a byte-order mark is dropped; UTF-16/32 are refused). Before any
row is read the whole file is checked to be UTF-8 in fixed-size chunks, so a file that is not
is known at once: Danish Excel's semicolon CSV is then read as Windows-1252, anything else is
refused with the line of the first bad byte. An .xlsx workbook is read with openpyxl in
read-only mode (rows streamed from the zip, not loaded); its header may sit below a note, as
in LinkedIn's export, so the first rows are searched for one a format knows.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from comms.errors import ImportFileError
from comms.importer.formats import (
    BY_KEY,
    COMMS,
    COMMS_EXCEL_DA,
    FORMATS,
    ImportFormat,
    header_positions,
    matches,
    normalise,
)

EXPECTED_HEADER = ",".join(COMMS.required)
_CHUNK = 1 << 20  # bytes per read while checking the encoding
_HEAD = 1 << 16  # characters read to find a CSV's header
_HEADER_SEARCH = 10  # rows of a spreadsheet searched for its header
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # the old binary .xls

Records = Iterator[tuple[int, list[Any]]]
"""(line or row number, the cells: stripped text, or a spreadsheet's numbers and datetimes)."""


@dataclass
class Source:
    """An opened file: its format, header and lazily read rows (close() when done)."""

    path: Path
    format: ImportFormat
    header_line: int
    header: list[str]  # as written
    positions: dict[str, int]  # our column name -> index
    records: Records
    width: int | None  # the header's number of values in a CSV (None: a spreadsheet)
    encoding: str
    close: Callable[[], None] = field(default=lambda: None)


def open_source(
    path: Path, *, format_key: str | None = None, columns: dict[str, str] | None = None
) -> Source:
    """The file opened and its format found (or the one named); ImportFileError otherwise."""
    formats = FORMATS if format_key is None else (BY_KEY[format_key],)
    if columns:
        formats = tuple(fmt.with_columns(columns) for fmt in formats)
    try:
        with path.open("rb") as handle:
            start = handle.read(4)
    except OSError as exc:
        raise ImportFileError(
            f"filen kan ikke læses: {exc.strerror or exc}",
            path=path,
            hint="tjek stien, og at du har lov til at læse filen",
        ) from None
    if start.startswith(_OLE_MAGIC):
        raise ImportFileError(
            "en gammel Excel-projektmappe (.xls) kan ikke læses",
            path=path,
            hint="gem den som .xlsx eller som CSV UTF-8, og importér den",
        )
    if start.startswith(_ZIP_MAGIC):
        return _open_workbook(path, formats)
    return _open_csv(path, formats, start)


# --- CSV -------------------------------------------------------------------------------------


def _open_csv(path: Path, formats: tuple[ImportFormat, ...], start: bytes) -> Source:
    for bom, name in (
        (codecs.BOM_UTF32_LE, "UTF-32"),
        (codecs.BOM_UTF32_BE, "UTF-32"),
        (codecs.BOM_UTF16_LE, "UTF-16"),
        (codecs.BOM_UTF16_BE, "UTF-16"),
    ):
        if start.startswith(bom):
            raise ImportFileError(
                f"filen er {name}-tekst, ikke UTF-8",
                path=path,
                line=1,
                hint='gem den som "CSV UTF-8", og importér igen',
            )
    bad = _first_non_utf8(path)
    if bad is not None and start.startswith(codecs.BOM_UTF8):  # says UTF-8 and is not
        _not_utf8(path, bad)
    encoding = "utf-8-sig" if bad is None else "cp1252"
    with path.open(encoding=encoding, errors="replace", newline="") as handle:
        head = handle.read(_HEAD)
    fmt, header_line, header = _detect_csv(path, formats, head)
    if bad is not None and not fmt.cp1252_fallback:
        _not_utf8(path, bad)
    positions = _check_header(path, fmt, header, header_line)
    handle = path.open(encoding=encoding, newline="")
    return Source(
        path=path,
        format=fmt,
        header_line=header_line,
        header=header,
        positions=positions,
        records=_csv_records(path, handle, fmt.delimiter),
        width=len(header),
        encoding="UTF-8" if bad is None else "Windows-1252",
        close=handle.close,
    )


def _not_utf8(path: Path, bad: tuple[int, int]) -> NoReturn:
    line, byte = bad
    raise ImportFileError(
        f"ikke UTF-8-tekst (byten 0x{byte:02x} kan ikke afkodes)",
        path=path,
        line=line,
        hint='gem filen som "CSV UTF-8" (Excel: Gem som, "CSV UTF-8 (kommasepareret)")',
    )


def _first_non_utf8(path: Path) -> tuple[int, int] | None:
    """(line, byte) of the first byte that is not UTF-8, or None: read in chunks, kept none."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                # the error's offset is into what the decoder held plus this chunk; a held
                # partial character is at most 3 bytes, so search from a little before
                held = len(exc.object) - len(chunk)
                at = max(exc.start - held, 0)
                return lines + chunk.count(b"\n", 0, at) + 1, exc.object[exc.start]
            if not chunk:
                return None
            lines += chunk.count(b"\n")


def _csv_rows(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """(first line number, stripped fields) per non-blank CSV record."""
    previous_end = 0
    for fields in reader:
        line = previous_end + 1
        previous_end = reader.line_num
        stripped = list(map(str.strip, fields))  # the values are used stripped everywhere
        if any(stripped):
            yield line, stripped


def _detect_csv(
    path: Path, formats: tuple[ImportFormat, ...], head: str
) -> tuple[ImportFormat, int, list[str]]:
    """The first format whose header the file starts with (own CSV when none does, so its
    header is checked and explained column by column)."""
    first: dict[str, tuple[int, list[str]]] = {}
    for delimiter in dict.fromkeys(fmt.delimiter for fmt in (*formats, COMMS, COMMS_EXCEL_DA)):
        reader = csv.reader(io.StringIO(head, newline=""), delimiter=delimiter)
        try:
            found = next(_csv_rows(reader), None)
        except csv.Error:
            found = None
        if found is not None:
            first[delimiter] = found
    if not first:
        hint = f"første linje skal være en overskrift, fx comms' egen: {EXPECTED_HEADER}"
        raise ImportFileError("filen er tom", path=path, line=1, hint=hint)
    for fmt in formats:
        if fmt.delimiter in first:
            line, header = first[fmt.delimiter]
            if matches(fmt, [normalise(name) for name in header]):
                return fmt, line, header
    if len(formats) == 1:
        fmt = formats[0]
    else:  # the header of own CSV, checked column by column, explains best what is wrong
        semicolons = len(first.get(";", (0, []))[1]) > len(first.get(",", (0, []))[1])
        fmt = COMMS_EXCEL_DA if semicolons else COMMS
        fmt = next((each for each in formats if each.key == fmt.key), fmt)
    line, header = first.get(fmt.delimiter) or next(iter(first.values()))
    return fmt, line, header


def _csv_records(path: Path, handle: Any, delimiter: str) -> Records:
    reader = csv.reader(handle, delimiter=delimiter)
    rows = _csv_rows(reader)
    try:
        next(rows, None)  # the header, already read
        yield from rows
    except csv.Error as exc:
        raise ImportFileError(
            f"ikke gyldig CSV: {exc}",
            path=path,
            line=reader.line_num,
            hint="tjek anførselstegnene på denne linje; intet blev importeret",
        ) from None
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"byten 0x{exc.object[exc.start]:02x} er ikke et Windows-1252-tegn",
            path=path,
            line=reader.line_num + 1,
            hint='gem filen som "CSV UTF-8" (Excel: Gem som, "CSV UTF-8 (kommasepareret)")',
        ) from None


# --- spreadsheets ----------------------------------------------------------------------------


def _open_workbook(path: Path, formats: tuple[ImportFormat, ...]) -> Source:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zip, XML and its own errors for a broken file
        raise ImportFileError(
            f"projektmappen kan ikke læses: {exc}", path=path, hint="gem den igen som .xlsx"
        ) from None
    try:
        preferred = [fmt.sheet for fmt in formats if fmt.sheet and fmt.sheet in book.sheetnames]
        sheet = book[preferred[0]] if preferred else book.worksheets[0]
        found = _find_header(sheet, formats)
        if found is None:
            raise ImportFileError(
                f"ingen overskrift i arket {sheet.title!r} passer til et format, comms læser",
                path=path,
                line=1,
                hint="angiv formatet med --format, eller oversæt kolonnerne med --columns FIL.toml",
            )
        fmt, header_line, header = found
        positions = _check_header(path, fmt, header, header_line)
    except BaseException:
        book.close()
        raise
    return Source(
        path=path,
        format=fmt,
        header_line=header_line,
        header=header,
        positions=positions,
        records=_sheet_records(sheet, header_line),
        width=None,
        encoding="xlsx",
        close=book.close,
    )


def _find_header(
    sheet: Any, formats: tuple[ImportFormat, ...]
) -> tuple[ImportFormat, int, list[str]] | None:
    for number, row in enumerate(
        sheet.iter_rows(max_row=_HEADER_SEARCH, values_only=True), start=1
    ):
        header = ["" if cell is None else str(cell).strip() for cell in row]
        normalised = [normalise(name) for name in header]
        for fmt in formats:
            if matches(fmt, normalised):
                return fmt, number, header
    return None


def _sheet_records(sheet: Any, header_line: int) -> Records:
    for number, row in enumerate(
        sheet.iter_rows(min_row=header_line + 1, values_only=True), start=header_line + 1
    ):
        cells = [cell.strip() if isinstance(cell, str) else cell for cell in row]
        if any(cell not in (None, "") for cell in cells):
            yield number, cells


# --- the header ------------------------------------------------------------------------------


def _check_header(path: Path, fmt: ImportFormat, header: list[str], line: int) -> dict[str, int]:
    """Our column name -> index; an error naming missing and repeated columns, and for a
    missing one the unknown column it was probably meant to be."""
    names = [normalise(name) for name in header]
    positions = header_positions(fmt, names)
    problems: list[str] = []
    used = [names[index] for index in positions.values()]
    repeated = sorted({name for name in used if names.count(name) > 1})
    if repeated:
        problems.append("kolonne(r) gentaget: " + ", ".join(repeated))
    missing = [name for name in fmt.required if name not in positions]
    if missing:
        known = {alias for name in fmt.columns for alias in fmt.aliases(name)}
        unknown = [name for name in dict.fromkeys(names) if name not in known]
        shown = []
        for name in missing:
            guess = difflib.get_close_matches(normalise(fmt.shown(name)), unknown, n=1)
            shown.append(fmt.shown(name) + (f" (mente du {guess[0]!r}?)" if guess else ""))
        problems.append("kolonne(r) mangler: " + ", ".join(shown))
    if problems:
        expected = ", ".join(fmt.shown(name) for name in fmt.required)
        if fmt.key in (COMMS.key, COMMS_EXCEL_DA.key):
            expected = fmt.delimiter.join(fmt.required)
        others = ", ".join(each.key for each in FORMATS)
        raise ImportFileError(
            f"overskriften passer ikke til {fmt.label}: " + "; ".join(problems),
            path=path,
            line=line,
            hint=f"overskriften skal have: {expected} (formater, comms læser: {others}; "
            "oversæt andre navne med --columns FIL.toml)",
        )
    return positions

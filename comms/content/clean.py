"""Control characters in text that comes in: NUL is refused, the others are taken out.

A NUL ends a string in C, and PostgreSQL will not store one in a text column at all (SQLite
will, so one database would keep what the other refuses). The other C0 control characters and
DEL are never meant in a post: a vertical tab pasted from a word processor, an escape sequence
in a title from a spreadsheet. Tab, newline and carriage return are text.

Where text comes in with a place to name (a campaign file's line, an import's row, a form's
field) it is checked there; the store refuses a NUL in any statement as the last net
(store/db.py), with this module's message instead of a database error.
"""

from __future__ import annotations

import re

NUL_PROBLEM = "contains a NUL character (\\x00), which comms does not store"
NUL_HINT = "remove it: it is invisible in most editors; re-save the file as plain UTF-8 text"
NUL_PROBLEM_DA = "indeholder et NUL-tegn (\\x00), som comms ikke gemmer"
NUL_HINT_DA = (
    "fjern det: det er usynligt i de fleste programmer; gem filen igen som almindelig UTF-8-tekst"
)
_CONTROLS = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")


def has_nul(text: str) -> bool:
    return "\x00" in text


def has_controls(text: str) -> bool:
    """True when `text` has a NUL or another control character but tab, newline and CR."""
    return has_nul(text) or _CONTROLS.search(text) is not None


def strip_controls(text: str) -> str:
    """`text` without the C0 control characters but tab, newline and CR, and without DEL."""
    return _CONTROLS.sub("", text) if not text.isprintable() else text

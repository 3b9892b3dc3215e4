"""Text from posts, imports and channels made safe to show in a terminal.

A post's text, an imported title or a service's error message is data, and a terminal obeys
what is written to it: an ANSI or OSC sequence recolours the screen, rewrites the line above,
sets the window title or hides a link behind other text (OSC 8), and a carriage return or a
backspace writes over what was there. `terminal_text` removes every escape sequence and every
control character but newline and tab, and the Unicode marks that reorder the text around
them, so what is shown is what is stored. Rich markup (`[red]`) is a matter of the printing:
the CLI hands data to rich as `Text`, which rich never reads as markup.
"""

from __future__ import annotations

import re

# ESC [ ... final (CSI), ESC ] ... BEL or ST (OSC), ESC P/X/^/_ ... ST (strings), ESC and one
# character; the same introduced by the 8-bit C1 characters (0x9b CSI, 0x9d OSC, ...)
_SEQUENCE = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?                       # CSI
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|$)   # OSC, DCS and the rest
    | \x1b[ -~]?                                            # ESC and one character
    """,
    re.VERBOSE | re.DOTALL,
)
# C0 but tab and newline, DEL, C1; and the bidirectional overrides and isolates ("trojan
# source"), which make a terminal show characters in another order than they are stored
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_text(text: str) -> str:
    """`text` without escape sequences and control characters (newline and tab are kept)."""
    if text.isprintable():  # the common case: nothing to remove
        return text
    return _CONTROL.sub("", _SEQUENCE.sub("", text))


def terminal_line(text: str) -> str:
    """`terminal_text` on one line: newlines and tabs become spaces (a table cell, a label)."""
    return " ".join(terminal_text(text).split())

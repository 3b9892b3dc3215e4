"""Which addresses may become a link: one answer for campaign files, imports, the channels'
answers and every HTML, Markdown or calendar file comms writes.

A stored URL ends up as `href` in the report, the calendar and the workspace, so a
`javascript:` or `data:` address (from a typo'd campaign file, a hostile import or a service
that answers something odd) would be a live script one click away. Only `http:` and `https:`
with a host, without a user name or password, without spaces or control characters and of a
bounded length are links; anything else is shown as text or refused where it comes in.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MAX_LINK = 2000  # Post.link and Post.external_url hold this much
SCHEMES = ("http", "https")

# The usual address, known good without taking it apart: http(s)://, an ASCII host of letters,
# digits, dots and hyphens (so no port, user or password), then printable ASCII without a space
# or a backslash. urlsplit finds nothing wrong with one of these; anything else goes through it.
_PLAIN = re.compile(r"(?i:https?)://[A-Za-z0-9][A-Za-z0-9.-]*(?:[/?#][!-\[\]-~]*)?")


_REASONS = {
    "long": (
        "the address is {n} characters long (at most {most})",
        "adressen har {n} tegn (højst {most})",
    ),
    "spaces": (
        "the address contains spaces or control characters",
        "adressen indeholder mellemrum eller styretegn",
    ),
    "unreadable": (
        "the address cannot be read as a web address",
        "adressen kan ikke læses som en webadresse",
    ),
    "scheme": (
        "only http:// and https:// addresses can be links",
        "kun adresser med http:// og https:// kan være links",
    ),
    "host": ("the address names no host", "adressen angiver ingen vært"),
    "login": (
        "the address carries a user name or password",
        "adressen indeholder et brugernavn eller en adgangskode",
    ),
    "backslash": ("the address contains a backslash", "adressen indeholder en omvendt skråstreg"),
}


def link_problem(url: str, *, danish: bool = False) -> str | None:
    """Why `url` may not be written as a link, or None: English for the campaign files' located
    errors, Danish (`danish=True`) where officers read it, as in an import's errors."""
    reason = _reason(url)
    if reason is None:
        return None
    text = _REASONS[reason][1 if danish else 0]
    return text.format(n=len(url), most=MAX_LINK) if reason == "long" else text


def _reason(url: str) -> str | None:
    if len(url) > MAX_LINK:
        return "long"
    if _PLAIN.fullmatch(url):
        return None
    if _has_space_or_control(url):
        return "spaces"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a port that is not a number
    except ValueError:
        return "unreadable"
    del port
    if parts.scheme.lower() not in SCHEMES:
        return "scheme"
    if not parts.hostname:
        return "host"
    if parts.username is not None or parts.password is not None:
        return "login"
    if "\\" in url:
        return "backslash"
    return None


def _has_space_or_control(url: str) -> bool:
    if url.isascii():  # the usual case, without a look at each character: in ASCII the
        # spaces and controls are the space and what isprintable() refuses (C0, DEL)
        return " " in url or not url.isprintable()
    return any(ch.isspace() or ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in url)


def safe_link(url: str | None) -> str | None:
    """`url` when it may be written as a link (`href`, `url:`), else None."""
    if not url or link_problem(url) is not None:
        return None
    return url

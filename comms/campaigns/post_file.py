"""A one-off post written as a file for `comms post`: TOML, or Markdown with TOML front matter.

Two forms, one set of keys (the command's options without their dashes). `nyhed.toml`:

    channels = ["hjemmeside", "facebook"]
    at = "2027-01-14 09:00"
    title = "Glatte veje i morgen"
    text_file = "nyhed.txt"

or `nyhed.md`:

    +++
    channels = ["hjemmeside", "facebook"]
    at = "2027-01-14 09:00"
    title = "Glatte veje i morgen"
    +++
    Kør forsigtigt i morgen tidlig …

In the Markdown form the text is everything after the second `+++` line. Paths (`text_file`,
`image`, the files of `[variants]`) are relative to the post file's folder. The file is read
and checked here and nothing is written: an unknown key, a value of the wrong type or a file that
is not there is an error at its line, with "mente du" for a typo.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import tomli

from comms.campaigns.toml_source import TomlSource, syntax_error
from comms.errors import PostFileError

KEYS = (
    "channels",
    "at",
    "title",
    "text",
    "text_file",
    "image",
    "alt",
    "variants",
    "audience",
    "link",
    "author",
)
_STRINGS = ("title", "text", "alt", "audience", "link", "author")
FENCE = "+++"


@dataclass(frozen=True)
class TextSource:
    """Where a text came from, so a finding can name the file and line to change."""

    path: Path | None  # None: given on the command line
    first_line: int = 1
    lines: tuple[str, ...] = ()

    def line_of(self, needle: str) -> int | None:
        """The file line of the first line of the text containing `needle`."""
        for number, line in enumerate(self.lines):
            if needle and needle.casefold() in line.casefold():
                return self.first_line + number
        return None

    def where(self, needle: str = "") -> str:
        """`path:line` of the text (of `needle` in it, when found), or "" when not a file."""
        if self.path is None:
            return ""
        return f"{self.path}:{self.line_of(needle) or self.first_line}"


@dataclass
class PostFile:
    """What the file says, every path made absolute; `line` finds a key's line."""

    path: Path
    channels: list[str] = field(default_factory=list)
    at: str | None = None
    title: str | None = None
    text: str | None = None
    text_source: TextSource | None = None
    image: Path | None = None
    alt: str | None = None
    variants: dict[str, Path] = field(default_factory=dict)
    audience: str | None = None
    link: str | None = None
    author: str | None = None
    source: TomlSource | None = None
    offset: int = 0  # lines before the TOML (the opening +++ of front matter)

    def line(self, key: str, section: str | None = None) -> int | None:
        if self.source is None:
            return None
        found = self.source.key_line(key, section)
        return found + self.offset if found else None

    def where(self, key: str, section: str | None = None) -> str:
        """`path:line` of `key`, or the file alone when its line is not known."""
        found = self.line(key, section)
        return f"{self.path}:{found}" if found else str(self.path)


def read_text_file(path: Path) -> tuple[str, TextSource]:
    """A text file's content (surrounding blank lines dropped) and where it starts."""
    raw = _read(path, None, None)
    return _body(raw.splitlines(), path, 0)


def _body(lines: list[str], path: Path, before: int) -> tuple[str, TextSource]:
    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1
    body = [line.rstrip() for line in lines[start:]]
    while body and not body[-1]:
        body.pop()
    return "\n".join(body), TextSource(path, before + start + 1, tuple(body))


def _read(path: Path, origin: Path | None, line: int | None) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PostFileError(f"filen {path} findes ikke", path=origin, line=line) from None
    except IsADirectoryError:
        raise PostFileError(f"{path} er en mappe, ikke en fil", path=origin, line=line) from None
    except UnicodeDecodeError:
        raise PostFileError(f"filen {path} er ikke tekst i UTF-8", path=origin, line=line) from None


def read_post_file(path: Path) -> PostFile:
    """Read and check a `.toml` post file or a Markdown file with `+++` front matter."""
    path = path.resolve()
    raw = _read(path, None, None)
    lines = raw.splitlines()
    offset, body = 0, None
    if path.suffix.lower() == ".toml":
        toml_text = raw
    elif lines and lines[0].strip() == FENCE:
        close = next((i for i in range(1, len(lines)) if lines[i].strip() == FENCE), None)
        if close is None:
            raise PostFileError(
                f"forsiden (front matter) afsluttes ikke med en linje {FENCE}",
                path=path,
                line=1,
                hint=f"skriv {FENCE} på linjen efter de sidste nøgler",
            )
        toml_text, offset = "\n".join(lines[1:close]), 1
        body = _body(lines[close + 1 :], path, close + 1)
    else:
        raise PostFileError(
            f"en opslagsfil er .toml, eller Markdown der begynder med en linje {FENCE}",
            path=path,
            line=1,
            hint=f"skriv nøglerne (channels = [...], at = ...) mellem to linjer {FENCE}",
        )
    try:
        data = tomli.loads(toml_text)
    except tomli.TOMLDecodeError as exc:
        message, line = syntax_error(exc, toml_text)
        raise PostFileError(message, path=path, line=line + offset if line else None) from None
    post = PostFile(path=path, source=TomlSource(toml_text), offset=offset)
    _fill(post, data)
    if body is not None and body[0]:
        if post.text is not None:
            key = "text" if "text" in data else "text_file"
            raise PostFileError(
                f"teksten står både i `{key}` og efter forsiden; brug den ene",
                path=path,
                line=post.line(key),
            )
        post.text, post.text_source = body
    return post


def _fill(post: PostFile, data: dict[str, Any]) -> None:
    folder = post.path.parent
    for key in data:
        if key not in KEYS:
            raise PostFileError(
                f"ukendt nøgle {key!r}",
                path=post.path,
                line=post.line(key),
                hint=_meant(key) or "nøglerne: " + ", ".join(KEYS),
            )
    for key in _STRINGS:
        if key in data:
            setattr(post, key, _string(post, key, data[key]))
    if "channels" in data:
        post.channels = _channels(post, data["channels"])
    if "at" in data:
        value = data["at"]
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.strftime("%Y-%m-%d %H:%M")
        post.at = _string(post, "at", value)
    if post.text is not None:
        first = post.line("text") or 1
        post.text_source = TextSource(post.path, first, tuple(post.text.splitlines()))
    if "text_file" in data:
        name = _string(post, "text_file", data["text_file"])
        file = folder / name
        if not file.is_file():
            raise PostFileError(
                f"tekstfilen {file} findes ikke", path=post.path, line=post.line("text_file")
            )
        if "text" in data:
            raise PostFileError(
                "giv enten `text` eller `text_file`", path=post.path, line=post.line("text_file")
            )
        post.text, post.text_source = read_text_file(file)
    if "image" in data:
        post.image = folder / _string(post, "image", data["image"])
    if "variants" in data:
        table = data["variants"]
        if not isinstance(table, dict):
            raise PostFileError(
                "variants er en tabel: kanal = fil",
                path=post.path,
                line=post.line("variants"),
                hint='[variants]\nfacebook = "fb.md"',
            )
        for channel, name in table.items():
            if not isinstance(name, str) or not name.strip():
                raise PostFileError(
                    f"variants.{channel} skal være navnet på en tekstfil",
                    path=post.path,
                    line=post.line(channel, "variants") or post.line("variants"),
                )
            post.variants[str(channel)] = folder / name


def _meant(key: str) -> str | None:
    """ "mente du 'title'?" for a close match, because most unknown keys are typos."""
    close = difflib.get_close_matches(key, KEYS, n=1, cutoff=0.6)
    return f"mente du {close[0]!r}?" if close else None


def _string(post: PostFile, key: str, value: object) -> str:
    if not isinstance(value, str):
        raise PostFileError(
            f"{key} skal være en tekst i anførselstegn", path=post.path, line=post.line(key)
        )
    return value


def _channels(post: PostFile, value: object) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PostFileError(
            "channels er en liste af kanalnavne",
            path=post.path,
            line=post.line("channels"),
            hint='channels = ["hjemmeside", "facebook"]',
        )
    return [v.strip() for v in value if v.strip()]

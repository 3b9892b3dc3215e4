"""A feed's bytes -> its entries: feedparser reads RSS 2.0 and Atom, we keep what a post needs.

Each `Entry` has a title, a summary as plain text (the feed's HTML stripped: tags dropped,
script and style contents with them, entities decoded, paragraphs kept apart), the entry's link,
an image address (an image enclosure, else media:content or media:thumbnail, else the first
<img> of the entry's HTML) and its published and updated times as aware UTC.

XML that is not well-formed is an error, not something to guess at: feedparser's loose parser
would make a truncated feed look like a shorter one. The server's media type is not trusted
(many serve feeds as text/html), so the bytes are always read as XML with the server's charset.
"""

from __future__ import annotations

import calendar
import hashlib
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from comms.errors import FeedError

MAX_KEY = 500  # feed_entry.entry_key; a longer id is kept as its hash
_BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "table"}
_LINES = {"br", "li", "tr"}
_SKIPPED = {"script", "style", "noscript", "template"}


@dataclass(frozen=True)
class Entry:
    """One feed entry, as templates see it."""

    key: str  # what makes it the same entry on every poll: its id or guid, else link, else hash
    title: str
    summary: str
    link: str | None
    image: str | None
    published: datetime | None
    updated: datetime | None


@dataclass(frozen=True)
class Feed:
    """A parsed feed: its own title and its entries, oldest first."""

    title: str
    entries: list[Entry]


def parse_feed(body: bytes, *, url: str, content_type: str | None = None) -> Feed:
    """Read a feed's bytes; FeedError when they are not a well-formed RSS or Atom feed."""
    charset = _charset(content_type)
    headers = {
        "content-location": url,
        "content-type": "application/xml" + (f"; charset={charset}" if charset else ""),
    }
    parsed = feedparser.parse(body, response_headers=headers)
    if parsed.get("bozo"):
        problem = parsed.get("bozo_exception")
        if not isinstance(problem, feedparser.CharacterEncodingOverride):
            raise FeedError(f"not a well-formed feed: {_short(problem)}")
    if not parsed.get("version"):
        raise FeedError("not an RSS or Atom feed")
    entries = [_entry(raw, url) for raw in parsed.get("entries", [])]
    head = parsed.get("feed", {})
    title = _plain(head.get("title", ""), head.get("title_detail"))
    return Feed(title=title, entries=_oldest_first(entries))


def _charset(content_type: str | None) -> str | None:
    match = re.search(r"charset=\"?([A-Za-z0-9._-]+)", content_type or "")
    return match.group(1) if match else None


def _short(problem: object) -> str:
    text = str(problem) if problem is not None else "unknown problem"
    return text if len(text) <= 200 else text[:199] + "…"


def _entry(raw: Any, feed_url: str) -> Entry:
    link = _http(raw.get("link"), feed_url)
    title = _plain(raw.get("title", ""), raw.get("title_detail"))
    published = _instant(raw.get("published_parsed")) or _instant(raw.get("created_parsed"))
    # dict.get: feedparser's own get() answers a missing updated_parsed with published_parsed
    updated = _instant(dict.get(raw, "updated_parsed"))
    html = raw.get("summary") or _first_content(raw) or ""
    text, first_image = _strip(html)
    return Entry(
        key=_key(raw, link, title, published or updated),
        title=title,
        summary=text,
        link=link,
        image=_image(raw, link or feed_url) or _http(first_image, link or feed_url),
        published=published,
        updated=updated,
    )


def _key(raw: Any, link: str | None, title: str, when: datetime | None) -> str:
    """The entry's id (guid), else its link, else a hash of its title and time."""
    found = str(raw.get("id") or "").strip() or (link or "")
    if not found:
        found = "sha256:" + hashlib.sha256(f"{title}\n{when}".encode()).hexdigest()
    if len(found) > MAX_KEY:
        found = "sha256:" + hashlib.sha256(found.encode()).hexdigest()
    return found


def _first_content(raw: Any) -> str | None:
    for content in raw.get("content") or []:
        value = content.get("value")
        if value:
            return str(value)
    return None


def _image(raw: Any, base: str) -> str | None:
    """An image enclosure, else media:content of an image, else media:thumbnail."""
    for link in raw.get("links") or []:
        if link.get("rel") == "enclosure" and str(link.get("type", "")).startswith("image/"):
            found = _http(link.get("href"), base)
            if found:
                return found
    for media in raw.get("media_content") or []:
        kind = str(media.get("type", ""))
        if media.get("medium") == "image" or kind.startswith("image/"):
            found = _http(media.get("url"), base)
            if found:
                return found
    for thumbnail in raw.get("media_thumbnail") or []:
        found = _http(thumbnail.get("url"), base)
        if found:
            return found
    return None


def _http(value: object, base: str) -> str | None:
    """An absolute http(s) address, or None (javascript:, data: and the like are dropped)."""
    if not isinstance(value, str) or not value.strip():
        return None
    absolute = urljoin(base, value.strip())
    try:
        scheme = urlsplit(absolute).scheme.lower()
    except ValueError:
        return None
    return absolute if scheme in ("http", "https") else None


def _instant(parsed: time.struct_time | None) -> datetime | None:
    """feedparser's struct_time (always UTC) as an aware datetime."""
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _oldest_first(entries: list[Entry]) -> list[Entry]:
    """By published time when every entry has one; else the reverse of the feed's order
    (feeds list the newest first)."""
    if entries and all(e.published is not None for e in entries):
        return sorted(entries, key=lambda e: e.published or datetime.min.replace(tzinfo=UTC))
    return list(reversed(entries))


def _plain(value: object, detail: Any) -> str:
    """A title as text: HTML titles stripped, plain ones only their spaces tidied."""
    text = str(value or "")
    if detail and "html" in str(detail.get("type", "")):
        return _strip(text)[0].replace("\n", " ")
    return " ".join(text.split())


def _strip(html: str) -> tuple[str, str | None]:
    """Plain text of an HTML fragment, and the first <img> address in it."""
    reader = _TextReader()
    reader.feed(html)
    reader.close()
    return reader.text(), reader.first_image


class _TextReader(HTMLParser):
    """Collects the text of an HTML fragment; never runs or keeps any markup."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.first_image: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self.skipping += 1
        elif tag in _BLOCKS:
            self.parts.append("\n\n")
        elif tag in _LINES:
            self.parts.append("\n")
        elif tag == "img" and self.first_image is None:
            self.first_image = dict(attrs).get("src")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIPPED:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)

    def text(self) -> str:
        joined = "".join(self.parts).replace("\xa0", " ")
        paragraphs = []
        for block in re.split(r"\n\s*\n", joined):
            lines = [" ".join(line.split()) for line in block.split("\n")]
            text = "\n".join(line for line in lines if line)
            if text:
                paragraphs.append(text)
        return "\n\n".join(paragraphs)

"""Write an Atom 1.0 feed (RFC 4287) from plain data, so any feed reader can follow the news.

ElementTree does the XML escaping; times are RFC 3339 with the offset of the site's zone.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime

ATOM_NS = "http://www.w3.org/2005/Atom"
XML_NS = "http://www.w3.org/XML/1998/namespace"

# characters XML 1.0 cannot carry at all, even escaped
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class FeedEntry:
    """One entry: `content_html` is markup, written as escaped text with type="html"."""

    id: str
    title: str
    link: str
    published: datetime
    updated: datetime
    summary: str
    content_html: str


@dataclass(frozen=True)
class Feed:
    """The feed's own facts; `self_url` is where the feed is read, `site_url` its web page."""

    id: str
    title: str
    self_url: str
    site_url: str
    author: str
    language: str = "da"


def urn_uuid(key: str) -> str:
    """`urn:uuid:<key>` for a UUID key; any other key gets a stable UUID derived from it."""
    try:
        value = uuid.UUID(key)
    except ValueError:
        value = uuid.uuid5(uuid.NAMESPACE_URL, f"comms:{key}")
    return f"urn:uuid:{value}"


def rfc3339(moment: datetime) -> str:
    """'2019-01-14T20:59:00+01:00': an aware time to the second, with its offset."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()} in a feed")
    return moment.isoformat(timespec="seconds")


def render_feed(feed: Feed, entries: list[FeedEntry]) -> bytes:
    """The feed document; `updated` is the newest entry's, so an unchanged feed stays identical."""
    ET.register_namespace("", ATOM_NS)
    root = ET.Element(_q("feed"), {f"{{{XML_NS}}}lang": feed.language})
    _text(root, "id", feed.id)
    _text(root, "title", feed.title)
    newest = max((e.updated for e in entries), default=None)
    _text(root, "updated", rfc3339(newest) if newest else "1970-01-01T00:00:00Z")
    ET.SubElement(root, _q("link"), rel="self", type="application/atom+xml", href=feed.self_url)
    ET.SubElement(root, _q("link"), rel="alternate", type="text/html", href=feed.site_url)
    _author(root, feed.author)
    _text(root, "generator", "comms")
    for entry in entries:
        node = ET.SubElement(root, _q("entry"))
        _text(node, "id", entry.id)
        _text(node, "title", entry.title)
        _text(node, "published", rfc3339(entry.published))
        _text(node, "updated", rfc3339(entry.updated))
        ET.SubElement(node, _q("link"), rel="alternate", type="text/html", href=entry.link)
        _author(node, feed.author)
        _text(node, "summary", entry.summary)
        _text(node, "content", entry.content_html, type="html")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _q(tag: str) -> str:
    return f"{{{ATOM_NS}}}{tag}"


def _text(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, _q(tag), attrs)
    node.text = _NOT_XML.sub("", text)
    return node


def _author(parent: ET.Element, name: str) -> None:
    _text(ET.SubElement(parent, _q("author")), "name", name)

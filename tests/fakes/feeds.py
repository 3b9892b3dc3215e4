"""A news site's feed, served for real on 127.0.0.1: RSS 2.0 at /rss.xml, Atom at /atom.xml.

It keeps a list of entries the test adds to, answers with an ETag and a Last-Modified derived
from them, and honours If-None-Match / If-Modified-Since with 304 as a careful server does
(each request's validators are recorded, so tests see that the client sent them). It can fail
the way feeds fail: a 500 (`fail_next("500")`), a stall (`fail_next("timeout")`), or a body
that is not XML (`broken = True`).
"""

from __future__ import annotations

import email.utils
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from tests.fakes.server import FakeServer, Request, Response


@dataclass(frozen=True)
class FeedItem:
    guid: str
    title: str
    summary_html: str
    link: str
    published: datetime
    image: str | None = None


class FakeFeed(FakeServer):
    def __init__(self, title: str = "Aalborg Kommune: Nyheder") -> None:
        super().__init__()
        self.title = title
        self.items: list[FeedItem] = []
        self.broken = False  # answer 200 with a body that is not a feed
        self.honour_validators = True
        self.route("GET", r"/rss\.xml", lambda r: self._answer(r, self.rss))
        self.route("GET", r"/atom\.xml", lambda r: self._answer(r, self.atom))

    def add(
        self,
        guid: str,
        title: str,
        *,
        summary_html: str = "<p>Læs mere på aalborg.dk.</p>",
        link: str | None = None,
        published: datetime | None = None,
        image: str | None = None,
    ) -> FeedItem:
        item = FeedItem(
            guid=guid,
            title=title,
            summary_html=summary_html,
            link=link or f"https://www.aalborg.dk/nyheder/{guid}",
            published=published or datetime.now(UTC).replace(microsecond=0),
            image=image,
        )
        self.items.insert(0, item)  # newest first, as feeds list them
        return item

    def feed_calls(self) -> list[Request]:
        return self.calls("GET", r"\.xml$")

    # --- answers -------------------------------------------------------------------------------

    @property
    def etag(self) -> str:
        digest = hashlib.sha256("|".join(i.guid for i in self.items).encode()).hexdigest()
        return f'"{digest[:16]}"'

    @property
    def last_modified(self) -> str:
        newest = max((i.published for i in self.items), default=datetime(2026, 1, 1, tzinfo=UTC))
        return email.utils.format_datetime(newest, usegmt=True)

    def _answer(self, request: Request, body: Callable[[], str]) -> Response:
        if self.broken:
            return Response(200, b"<rss><channel><item><title>halv", {"Content-Type": "text/xml"})
        validators = {"ETag": self.etag, "Last-Modified": self.last_modified}
        if self.honour_validators and (
            request.header("if-none-match") == self.etag
            or (
                request.header("if-none-match") is None
                and request.header("if-modified-since") == self.last_modified
            )
        ):
            return Response(304, b"", validators)
        kind = "application/rss+xml" if request.path.endswith("rss.xml") else "application/atom+xml"
        return Response(200, body().encode("utf-8"), {**validators, "Content-Type": kind})

    def rss(self) -> str:
        items = []
        for item in self.items:
            enclosure = (
                f'<enclosure url="{escape(item.image)}" type="image/jpeg" length="1000"/>'
                if item.image
                else ""
            )
            items.append(
                f"<item><title>{escape(item.title)}</title><link>{escape(item.link)}</link>"
                f'<guid isPermaLink="false">{escape(item.guid)}</guid>'
                f"<description>{escape(item.summary_html)}</description>"
                f"<pubDate>{email.utils.format_datetime(item.published)}</pubDate>"
                f"{enclosure}</item>"
            )
        return (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>{escape(self.title)}</title><link>https://www.aalborg.dk/</link>"
            f"<description>Nyheder</description>{''.join(items)}</channel></rss>"
        )

    def atom(self) -> str:
        entries = []
        for item in self.items:
            entries.append(
                f"<entry><title>{escape(item.title)}</title><id>{escape(item.guid)}</id>"
                f'<link rel="alternate" href="{escape(item.link)}"/>'
                f"<published>{item.published.isoformat()}</published>"
                f"<updated>{item.published.isoformat()}</updated>"
                f'<summary type="html">{escape(item.summary_html)}</summary></entry>'
            )
        return (
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{escape(self.title)}</title><id>urn:aalborg:nyheder</id>"
            f"<updated>{datetime.now(UTC).isoformat()}</updated>{''.join(entries)}</feed>"
        )

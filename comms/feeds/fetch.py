"""Fetch a feed's bytes over HTTP: conditional GET, a size cap, one deadline, http(s) only.

We do the HTTP ourselves and hand feedparser only the bytes, so every request has a timeout and
a limit, and a feed can never make comms read a local file or an endless body. The validators
the server sent (ETag, Last-Modified) are sent back on the next poll; a 304 answer means
"nothing new" and costs the server nothing.

Error messages name the feed's host and path only: a feed address may carry a key in its
query or user part, which must not reach a log line or the database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from comms.errors import FeedError

TIMEOUT = (5.0, 15.0)  # (connect, read) seconds for each network wait
DEADLINE_SECONDS = 30.0  # the whole fetch, however slowly the body trickles in
MAX_BYTES = 5 * 1024 * 1024  # no news feed is larger; a bigger body is not one
MAX_REDIRECTS = 5
USER_AGENT = "comms/0.1 news feed reader (+https://github.com/tryg-aalborg/comms)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)


@dataclass(frozen=True)
class Fetched:
    """What the server answered: the body (None for 304 Not Modified) and its validators."""

    body: bytes | None
    etag: str | None
    last_modified: str | None
    url: str  # after redirects, for resolving relative links
    content_type: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.body is None


def safe_url(url: str) -> str:
    """The address without its user part, query or fragment: fit for logs and errors."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an invalid address)"
    return f"{parts.scheme}://{host}{port}{parts.path}"


def fetch(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    timeout: tuple[float, float] = TIMEOUT,
    deadline_seconds: float = DEADLINE_SECONDS,
    max_bytes: int = MAX_BYTES,
) -> Fetched:
    """GET the feed, conditionally when validators are given; FeedError on any failure."""
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise FeedError(f"{safe_url(url)}: only http and https addresses can be polled")
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    started = time.monotonic()
    with requests.Session() as session:
        session.max_redirects = MAX_REDIRECTS
        try:
            response = session.get(url, headers=headers, timeout=timeout, stream=True)
        except requests.Timeout:
            raise FeedError(f"{safe_url(url)}: no answer within {timeout[1]:g} s") from None
        except requests.TooManyRedirects:
            raise FeedError(f"{safe_url(url)}: more than {MAX_REDIRECTS} redirects") from None
        except requests.RequestException as exc:
            raise FeedError(f"{safe_url(url)}: cannot connect ({type(exc).__name__})") from None
        with response:
            final = response.url or url
            if urlsplit(final).scheme.lower() not in ("http", "https"):
                raise FeedError(f"{safe_url(url)}: redirected to a non-http address")
            if response.status_code == 304:
                return Fetched(None, _header(response, "ETag") or etag, last_modified, final)
            if response.status_code != 200:
                reason = response.reason or ""
                raise FeedError(f"{safe_url(url)}: HTTP {response.status_code} {reason}".rstrip())
            body = _read(response, url, started, deadline_seconds, max_bytes)
            return Fetched(
                body,
                _header(response, "ETag"),
                _header(response, "Last-Modified"),
                final,
                _header(response, "Content-Type"),
            )


def _header(response: requests.Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.strip()[:500] if value and value.strip() else None


def _read(
    response: requests.Response, url: str, started: float, deadline: float, max_bytes: int
) -> bytes:
    """The body, refused when larger than `max_bytes` or slower than the deadline."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FeedError(f"{safe_url(url)}: the feed is larger than {max_bytes // 1024} KiB")
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise FeedError(f"{safe_url(url)}: the feed is larger than {max_bytes // 1024} KiB")
            if time.monotonic() - started > deadline:
                raise FeedError(f"{safe_url(url)}: not read within {deadline:g} s")
            chunks.append(chunk)
    except requests.RequestException as exc:
        raise FeedError(f"{safe_url(url)}: the answer broke off ({type(exc).__name__})") from None
    return b"".join(chunks)

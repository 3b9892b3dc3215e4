"""`comms serve`: a read-only local web view of the queue, the calendar, each post and the report.

The standard library's threading HTTP server is enough for a handful of officers on one machine,
so no web framework is added. It binds 127.0.0.1 by default (the pages show unpublished posts;
there is no login), answers GET and HEAD only (anything else is 405: the view changes nothing),
and every page is self-contained HTML under a Content-Security-Policy that allows no scripts.

Pages: `/` (posts waiting and posts that need a person), `/calendar/YEAR` (and `.ics`),
`/posts/ID` (the post as it will look on its channel, its length against the channel's limit,
image with alt text, lint findings, publish attempts and audit log), `/posts/ID/image`, and
`/report?from=&to=&compare=` with its charts. `WebView.respond` is plain (path, query) ->
response, so the routing is tested without a socket; `make_server` wires it to HTTP.

This module routes, reads the database and serves; the HTML of the queue and post pages (layout,
templates, the channel preview) is web_pages.py, so a template change never touches the server.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from markupsafe import Markup
from sqlmodel import select

from comms.config import Settings
from comms.report.calendar import calendar_entries, to_html, to_ics
from comms.store.db import session_scope
from comms.store.models import Attempt, AuditEvent, Post, PostState, utcnow
from comms.web_pages import render_index, render_page, render_post

IMAGE_TYPES = {".png", ".jpg", ".jpeg", ".gif", ".webp"}
CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
WAITING = (PostState.DRAFT, PostState.QUEUED, PostState.PUBLISHING)
ATTENTION = (PostState.FAILED, PostState.UNKNOWN, PostState.MISSED)
LIST_LIMIT = 300


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


class WebView:
    """The pages, as a function of the database and the settings (read-only)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = settings.database_url
        self.zone = settings.zone

    def nav(self) -> list[tuple[str, str]]:
        year = utcnow().astimezone(self.zone).year
        return [("/", "Kø"), (f"/calendar/{year}", "Kalender"), ("/report", "Rapport")]

    def respond(self, path: str, query: dict[str, list[str]]) -> Response:
        """Route one GET request."""
        routes: Sequence[tuple[str, Any]] = (
            (r"/", self.index),
            (r"/calendar/?", self.calendar_now),
            (r"/calendar/(\d{4})", self.calendar),
            (r"/calendar/(\d{4})\.ics", self.calendar_ics),
            (r"/posts/(\d+)", self.post),
            (r"/posts/(\d+)/image", self.image),
            (r"/report", self.report),
            (r"/favicon\.ico", lambda query: Response(HTTPStatus.NO_CONTENT, b"")),
        )
        for pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if match:
                try:
                    return handler(query, *match.groups())
                except ValueError as exc:
                    return self.page(HTTPStatus.BAD_REQUEST, "Forkert forespørgsel", str(exc))
        return self.page(HTTPStatus.NOT_FOUND, "Ikke fundet", f"Der er ingen side {path}.")

    def page(self, status: int, title: str, body: str | Markup) -> Response:
        html = render_page(title, body, self.nav())
        return Response(int(status), html.encode("utf-8"))

    # --- pages ------------------------------------------------------------------------------

    def index(self, query: dict[str, list[str]]) -> Response:
        today = utcnow().astimezone(self.zone).date()
        since = datetime.combine(today, datetime.min.time(), self.zone)
        with session_scope(self.url) as session:
            waiting = session.exec(
                select(Post)
                .where(Post.state.in_(WAITING), Post.scheduled_at >= since)
                .order_by(Post.scheduled_at, Post.id)
                .limit(LIST_LIMIT)
            ).all()
            attention = session.exec(
                select(Post)
                .where(Post.state.in_(ATTENTION))
                .order_by(Post.scheduled_at.desc())
                .limit(LIST_LIMIT)
            ).all()
        body = render_index(waiting, attention, today, self.zone)
        return self.page(HTTPStatus.OK, "Kø", body)

    def calendar_now(self, query: dict[str, list[str]]) -> Response:
        year = utcnow().astimezone(self.zone).year
        return Response(HTTPStatus.FOUND, b"", headers={"Location": f"/calendar/{year}"})

    def calendar(self, query: dict[str, list[str]], year: str) -> Response:
        entries = calendar_entries(self.url, year=int(year), zone=self.zone)
        nav = [*self.nav(), (f"/calendar/{year}.ics", "iCalendar-fil")]
        html = to_html(
            entries,
            year=int(year),
            zone=self.zone,
            post_href=lambda entry: f"/posts/{entry.id}",
            nav=nav,
        )
        return Response(HTTPStatus.OK, html.encode("utf-8"))

    def calendar_ics(self, query: dict[str, list[str]], year: str) -> Response:
        entries = calendar_entries(self.url, year=int(year), zone=self.zone)
        return Response(
            HTTPStatus.OK,
            to_ics(entries, year=int(year), zone=self.zone),
            content_type="text/calendar; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="opslag-{year}.ics"'},
        )

    def post(self, query: dict[str, list[str]], post_id: str) -> Response:
        with session_scope(self.url) as session:
            post = session.get(Post, int(post_id))
            if post is None:
                return self.page(HTTPStatus.NOT_FOUND, "Ikke fundet", f"Intet opslag {post_id}.")
            attempts = session.exec(
                select(Attempt).where(Attempt.post_id == post.id).order_by(Attempt.started_at)
            ).all()
            events = session.exec(
                select(AuditEvent).where(AuditEvent.post_id == post.id).order_by(AuditEvent.at)
            ).all()
        has_image = _image_file(post) is not None
        body = render_post(self.settings, post, attempts, events, has_image=has_image)
        return self.page(HTTPStatus.OK, post.title or f"Opslag {post_id}", body)

    def image(self, query: dict[str, list[str]], post_id: str) -> Response:
        with session_scope(self.url) as session:
            post = session.get(Post, int(post_id))
        path = _image_file(post) if post else None
        if path is None:
            return self.page(HTTPStatus.NOT_FOUND, "Ikke fundet", "Opslaget har intet billede.")
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return Response(HTTPStatus.OK, path.read_bytes(), content_type=kind)

    def report(self, query: dict[str, list[str]]) -> Response:
        from comms.report import figures as reports
        from comms.report.charts import build_charts
        from comms.report.compare import compare, parse_period
        from comms.report.html import render_html

        today = utcnow().astimezone(self.zone).date()
        start = _date(query, "from", date(today.year, 1, 1))
        end = _date(query, "to", today)
        if end < start:
            raise ValueError(f"perioden slutter ({end}) før den begynder ({start})")
        types = {name: channel.type for name, channel in self.settings.channels.items()}
        result = reports.build_report(
            self.url, start=start, end=end, zone=self.zone, channel_types=types
        )
        comparison = None
        if query.get("compare", [""])[0]:
            first, last = parse_period(query["compare"][0])
            earlier = reports.build_report(
                self.url, start=first, end=last, zone=self.zone, channel_types=types
            )
            comparison = compare(result, earlier)
        points = reports.post_points(self.url, start=start, end=end, zone=self.zone)
        html = render_html(
            result, build_charts(result, points), comparison, nav=self.nav(), generated=utcnow()
        )
        return Response(HTTPStatus.OK, html.encode("utf-8"))


def _date(query: dict[str, list[str]], key: str, default: date) -> date:
    value = query.get(key, [""])[0].strip()
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{key}={value!r} er ikke en dato som 2027-05-29") from None


def _image_file(post: Post | None) -> Path | None:
    """The post's image when it is a local image file (never any other path)."""
    if post is None or not post.image_path or "://" in post.image_path:
        return None
    path = Path(post.image_path)
    if path.suffix.lower() not in IMAGE_TYPES or not path.is_file():
        return None
    return path


class _Handler(BaseHTTPRequestHandler):
    server_version = "comms"
    sys_version = ""
    view: WebView  # set on the subclass made by make_server

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _refuse(self) -> None:
        body = b"comms serve is read-only\n"
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_PATCH = do_DELETE = _refuse

    def _answer(self, *, send_body: bool) -> None:
        parts = urlsplit(self.path)
        try:
            response = self.view.respond(parts.path, parse_qs(parts.query))
        except Exception as exc:  # one broken page must not stop the server
            self.log_error("error on %s: %r", self.path, exc)
            response = self.view.page(HTTPStatus.INTERNAL_SERVER_ERROR, "Fejl", f"{exc}")
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if send_body:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        if getattr(self.server, "quiet", False):
            return
        super().log_message(format, *args)


def make_server(
    settings: Settings, host: str = "127.0.0.1", port: int = 8000, *, quiet: bool = False
) -> ThreadingHTTPServer:
    """An HTTP server for the view; port 0 picks a free port (see `server.server_address`)."""
    handler = type("Handler", (_Handler,), {"view": WebView(settings)})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    server.quiet = quiet  # type: ignore[attr-defined]
    return server

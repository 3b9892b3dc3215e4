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

from jinja2 import Environment
from markupsafe import Markup, escape
from sqlmodel import select

from comms.calendar_export import STATES, calendar_entries, to_html, to_ics
from comms.config import Settings
from comms.danish import format_date, format_datetime, format_number
from comms.db import session_scope
from comms.lint import find_urls, lint_post, text_length, text_limit
from comms.models import Attempt, AuditEvent, Post, PostState, utcnow
from comms.report import TYPE_NAMES
from comms.report_html import BASE_CSS

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
        html = _layout.render(css=BASE_CSS + _CSS, title=title, body=body, nav=self.nav())
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
        body = _index.render(
            waiting=[self._row(p) for p in waiting],
            attention=[self._row(p) for p in attention],
            today=format_date(today),
            start=date(today.year, 1, 1).isoformat(),
            end=today.isoformat(),
        )
        return self.page(HTTPStatus.OK, "Kø", Markup(body))

    def _row(self, post: Post) -> dict[str, Any]:
        return {
            "id": post.id,
            "when": format_datetime(post.scheduled_at, self.zone),
            "channel": post.channel,
            "title": post.title or post.text[:60],
            "state": post.state,
            "state_name": STATES.get(post.state, (post.state, ""))[0],
            "campaign": post.campaign or "",
        }

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
        return self.page(
            HTTPStatus.OK, post.title or f"Opslag {post_id}", self._post(post, attempts, events)
        )

    def _post(
        self, post: Post, attempts: Sequence[Attempt], events: Sequence[AuditEvent]
    ) -> Markup:
        kind = (
            self.settings.channels[post.channel].type
            if post.channel in self.settings.channels
            else ""
        )
        length, limit = text_length(post.text, kind), text_limit(kind)
        problems = lint_post(
            text=post.text,
            title=post.title,
            channel_type=kind,
            image=post.image_path,
            alt=post.image_alt,
            brand=self.settings.brand,
        )
        when = (
            post.published_at
            if post.state == PostState.PUBLISHED and post.published_at
            else post.scheduled_at
        )
        body = _post.render(
            post=post,
            kind=kind or "ukendt",
            kind_name=TYPE_NAMES.get(kind, kind or "ukendt kanaltype"),
            card=_card_class(kind),
            when=format_datetime(when, self.zone),
            state_name=STATES.get(post.state, (post.state, ""))[0],
            text=_linkify(post.text),
            domain=urlsplit(post.link).hostname if post.link else None,
            has_image=_image_file(post) is not None,
            length=format_number(length),
            limit=format_number(limit) if limit else None,
            percent=max(1, min(100, round(100 * length / limit))) if limit else None,
            too_long=bool(limit and length > limit),
            problems=problems,
            attempts=[
                {
                    "started": format_datetime(a.started_at, self.zone),
                    "finished": format_datetime(a.finished_at, self.zone) if a.finished_at else "–",
                    "outcome": a.outcome or "i gang",
                    "status": a.http_status or "–",
                    "error": a.error or "",
                    "worker": a.worker or "",
                }
                for a in attempts
            ],
            events=[
                {
                    "at": format_datetime(e.at, self.zone),
                    "actor": e.actor,
                    "action": e.action,
                    "detail": e.detail or "",
                }
                for e in events
            ],
        )
        return Markup(body)

    def image(self, query: dict[str, list[str]], post_id: str) -> Response:
        with session_scope(self.url) as session:
            post = session.get(Post, int(post_id))
        path = _image_file(post) if post else None
        if path is None:
            return self.page(HTTPStatus.NOT_FOUND, "Ikke fundet", "Opslaget har intet billede.")
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return Response(HTTPStatus.OK, path.read_bytes(), content_type=kind)

    def report(self, query: dict[str, list[str]]) -> Response:
        from comms import report as reports
        from comms.report_charts import build_charts
        from comms.report_compare import compare, parse_period
        from comms.report_html import render_html

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


def _linkify(text: str) -> Markup:
    """Escaped text with its URLs as links (line breaks kept by CSS)."""
    pieces, rest = [], text
    for url in find_urls(text):
        before, _, rest = rest.partition(url)
        pieces.append(escape(before))
        pieces.append(Markup('<a href="{0}" rel="noreferrer">{0}</a>').format(url))
    pieces.append(escape(rest))
    return Markup("").join(pieces)


def _card_class(kind: str) -> str:
    if kind in ("site", "wordpress"):
        return "article"
    if kind == "email":
        return "email"
    if kind in ("x", "mastodon", "bluesky"):
        return "short"
    if kind == "instagram":
        return "instagram"
    return "social"


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


# --- templates ------------------------------------------------------------------------------

_CSS = """
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
  background: #eef1f5; border: 1px solid var(--line); }
.badge.state-queued { background: #eaf1fa; border-color: #1f5fa8; }
.badge.state-published { background: #ebf6ee; border-color: #2e9a4b; }
.badge.state-failed, .badge.state-missed { background: #fbecec; border-color: #c23b3b; }
.badge.state-unknown { background: #fdf2e6; border-color: #e07b18; }
.cols { display: flex; gap: 32px; flex-wrap: wrap; align-items: flex-start; }
.cols > div { flex: 1 1 420px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 14px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
.card { max-width: 500px; border: 1px solid #dadde1; border-radius: 10px; background: #fff;
  box-shadow: 0 1px 3px rgba(0,0,0,.12); overflow: hidden; font-family: Helvetica, Arial,
  sans-serif; }
.card .head { display: flex; gap: 10px; align-items: center; padding: 12px 14px 6px; }
.card .avatar { width: 40px; height: 40px; border-radius: 50%; background: #1f5fa8; color: #fff;
  display: flex; align-items: center; justify-content: center; font-weight: bold; }
.card .who { font-weight: bold; font-size: 15px; }
.card .when { color: #65676b; font-size: 12.5px; }
.card .text { white-space: pre-wrap; padding: 4px 14px 12px; font-size: 15px; }
.card img { display: block; width: 100%; }
.card .linkbox { background: #f0f2f5; padding: 8px 14px; border-top: 1px solid #dadde1; }
.card .linkbox .domain { text-transform: uppercase; font-size: 12px; color: #65676b; }
.card .actions { display: flex; justify-content: space-around; border-top: 1px solid #dadde1;
  color: #65676b; font-size: 14px; padding: 8px 0; }
.card.short { border-radius: 0; box-shadow: none; border-width: 0 0 1px; }
.card.short .text { padding-left: 64px; }
.card.short img { margin-left: 64px; width: calc(100% - 78px); border-radius: 14px; }
.card.article { border-radius: 0; box-shadow: none; font-family: Georgia, serif; }
.card.article h2 { border: 0; margin: 14px; font-size: 24px; }
.card.email .subject { padding: 10px 14px; border-bottom: 1px solid #dadde1; }
.alt { font-size: 13px; background: var(--bg); padding: 6px 10px; border-left: 3px solid #999; }
.meter { height: 10px; background: #e6e9ed; border-radius: 5px; overflow: hidden; width: 100%;
  max-width: 420px; }
.meter > span { display: block; height: 100%; background: #2e9a4b; }
.meter.over > span { background: #c23b3b; }
.problem { color: #b3261e; }
.ok { color: #1c7a36; }
form.period input { font: inherit; padding: 3px 6px; }
"""

_env = Environment(autoescape=True)

_layout = _env.from_string("""<!DOCTYPE html>
<html lang="da">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} – comms</title>
<style>{{ css | safe }}</style>
</head>
<body>
<nav class="top">{% for href, label in nav %}<a href="{{ href }}">{{ label }}</a>{% endfor %}</nav>
<main>
<h1>{{ title }}</h1>
{{ body }}
</main>
</body>
</html>
""")

_index = _env.from_string("""
<form class="period" action="/report" method="get">
<b>Rapport:</b> fra <input type="date" name="from" value="{{ start }}">
til <input type="date" name="to" value="{{ end }}">
<button type="submit">Vis rapport</button>
</form>
<h2>Kommende opslag fra {{ today }}</h2>
{% if waiting %}<table>
<thead><tr><th>Tid</th><th>Kanal</th><th>Opslag</th><th>Kampagne</th><th>Status</th></tr></thead>
<tbody>{% for p in waiting %}<tr><td>{{ p.when }}</td><td>{{ p.channel }}</td>
<td><a href="/posts/{{ p.id }}">{{ p.title }}</a></td><td>{{ p.campaign }}</td>
<td><span class="badge state-{{ p.state }}">{{ p.state_name }}</span></td></tr>
{% endfor %}</tbody></table>
{% else %}<p class="muted">Ingen opslag venter.</p>{% endif %}
<h2>Kræver opmærksomhed</h2>
{% if attention %}<table>
<thead><tr><th>Tid</th><th>Kanal</th><th>Opslag</th><th>Kampagne</th><th>Status</th></tr></thead>
<tbody>{% for p in attention %}<tr><td>{{ p.when }}</td><td>{{ p.channel }}</td>
<td><a href="/posts/{{ p.id }}">{{ p.title }}</a></td><td>{{ p.campaign }}</td>
<td><span class="badge state-{{ p.state }}">{{ p.state_name }}</span></td></tr>
{% endfor %}</tbody></table>
{% else %}<p class="ok">Ingen fejlede, uvisse eller forpassede opslag.</p>{% endif %}
""")

_post = _env.from_string("""
<p><span class="badge state-{{ post.state }}">{{ state_name }}</span>
{{ when }} på <b>{{ post.channel }}</b> ({{ kind_name }})</p>
<div class="cols">
<div>
<h2>Sådan ser det ud</h2>
<div class="card {{ card }}" id="preview">
{% if card == "article" %}
<h2>{{ post.title or "" }}</h2>
<div class="head"><div class="when">{{ when }}</div></div>
{% if has_image %}<img src="/posts/{{ post.id }}/image" alt="{{ post.image_alt or '' }}">{% endif %}
<div class="text">{{ text }}</div>
{% elif card == "email" %}
<div class="subject"><b>Emne:</b> {{ post.title or "" }}</div>
{% if has_image %}<img src="/posts/{{ post.id }}/image" alt="{{ post.image_alt or '' }}">{% endif %}
<div class="text">{{ text }}</div>
{% else %}
<div class="head"><div class="avatar">TA</div><div><div class="who">{{ post.channel }}</div>
<div class="when">{{ when }}</div></div></div>
{% if card == "instagram" and has_image %}<img src="/posts/{{ post.id }}/image"
 alt="{{ post.image_alt or '' }}">{% endif %}
<div class="text">{{ text }}</div>
{% if card != "instagram" and has_image %}<img src="/posts/{{ post.id }}/image"
 alt="{{ post.image_alt or '' }}">{% endif %}
{% if card == "social" and post.link %}<div class="linkbox"><div class="domain">{{ domain }}</div>
<b>{{ post.title or post.link }}</b></div>{% endif %}
<div class="actions"><span>Synes godt om</span><span>Kommenter</span><span>Del</span></div>
{% endif %}
</div>
{% if post.image_path %}<p class="alt"><b>Alt-tekst:</b>
{{ post.image_alt or "mangler!" }}</p>{% endif %}
</div>
<div>
<h2>Længde</h2>
{% if limit %}<p id="length">{{ length }} af {{ limit }} tegn, som {{ kind_name }} tæller
{% if too_long %}<b class="problem">– for langt</b>{% endif %}</p>
<div class="meter{% if too_long %} over{% endif %}">
<span style="width: {{ percent }}%"></span></div>
{% else %}<p id="length">{{ length }} tegn ({{ kind_name }} har ingen grænse)</p>{% endif %}
<h2>Kontrol</h2>
{% if problems %}<ul>{% for p in problems %}<li class="problem">{{ p.message }}</li>
{% endfor %}</ul>
{% else %}<p class="ok">Ingen fund: længde, alt-tekst og stavning af navne er i orden.</p>
{% endif %}
<h2>Fakta</h2>
<dl class="facts">
<dt>Kampagne</dt><dd>{{ post.campaign or "–" }}{% if post.step %} / {{ post.step }}{% endif %}</dd>
<dt>Målgruppe</dt><dd>{{ post.audience or "–" }}</dd>
<dt>Link</dt><dd>{% if post.link %}<a href="{{ post.link }}">{{ post.link }}</a>
{% else %}–{% endif %}</dd>
<dt>Godkendt</dt><dd>{{ post.approved_by or "–" }}</dd>
<dt>Forsøg</dt><dd>{{ post.attempts }}</dd>
{% if post.external_url %}<dt>På kanalen</dt>
<dd><a href="{{ post.external_url }}">{{ post.external_url }}</a></dd>{% endif %}
{% if post.last_error %}<dt>Sidste fejl</dt>
<dd class="problem">{{ post.last_error }}</dd>{% endif %}
</dl>
</div>
</div>
<h2>Forsøg på at udgive</h2>
{% if attempts %}<table id="attempts">
<thead><tr><th>Start</th><th>Slut</th><th>Udfald</th><th class="n">HTTP</th><th>Fejl</th>
<th>Af</th></tr></thead>
<tbody>{% for a in attempts %}<tr><td>{{ a.started }}</td><td>{{ a.finished }}</td>
<td>{{ a.outcome }}</td><td class="n">{{ a.status }}</td><td>{{ a.error }}</td>
<td>{{ a.worker }}</td></tr>{% endfor %}</tbody>
</table>{% else %}<p class="muted">Ingen forsøg endnu.</p>{% endif %}
<h2>Historik</h2>
{% if events %}<table id="audit">
<thead><tr><th>Tid</th><th>Hvem</th><th>Handling</th><th>Detaljer</th></tr></thead>
<tbody>{% for e in events %}<tr><td>{{ e.at }}</td><td>{{ e.actor }}</td><td>{{ e.action }}</td>
<td>{{ e.detail }}</td></tr>{% endfor %}</tbody>
</table>{% else %}<p class="muted">Ingen hændelser.</p>{% endif %}
""")

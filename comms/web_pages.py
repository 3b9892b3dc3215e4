"""The pages of `comms serve` as HTML: the layout, the queue, and a post with its preview.

Rendering only: these functions take what web.py read from the database and return markup, so
the routing and serving stay apart from the templates. Every page is self-contained (inline CSS,
no scripts), as the Content-Security-Policy web.py sends allows nothing else. The calendar and
report pages are rendered by calendar_export.py and report_html.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment
from markupsafe import Markup, escape

from comms.config import Settings
from comms.content.danish import format_date, format_datetime, format_number
from comms.content.lint import find_urls, lint_post, text_length, text_limit
from comms.report.calendar import STATES
from comms.report.html import BASE_CSS
from comms.report.render import TYPE_NAMES
from comms.store.models import Attempt, AuditEvent, Post, PostState


def render_page(title: str, body: str | Markup, nav: Sequence[tuple[str, str]]) -> str:
    """A whole page: the shared layout and navigation around `body` (escaped unless Markup)."""
    return _layout.render(css=BASE_CSS + _CSS, title=title, body=body, nav=nav)


def render_index(
    waiting: Sequence[Post], attention: Sequence[Post], today: date, zone: ZoneInfo
) -> Markup:
    """The queue: posts waiting from today, posts that need a person, and the report form."""
    body = _index.render(
        waiting=[_row(p, zone) for p in waiting],
        attention=[_row(p, zone) for p in attention],
        today=format_date(today),
        start=date(today.year, 1, 1).isoformat(),
        end=today.isoformat(),
    )
    return Markup(body)


def _row(post: Post, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "id": post.id,
        "when": format_datetime(post.scheduled_at, zone),
        "channel": post.channel,
        "title": post.title or post.text[:60],
        "state": post.state,
        "state_name": STATES.get(post.state, (post.state, ""))[0],
        "campaign": post.campaign or "",
    }


def render_post(
    settings: Settings,
    post: Post,
    attempts: Sequence[Attempt],
    events: Sequence[AuditEvent],
    *,
    has_image: bool,
) -> Markup:
    """A post as it will look on its channel, its length and lint findings, attempts and log."""
    zone = settings.zone
    kind = settings.channels[post.channel].type if post.channel in settings.channels else ""
    length, limit = text_length(post.text, kind), text_limit(kind)
    problems = lint_post(
        text=post.text,
        title=post.title,
        channel_type=kind,
        image=post.image_path,
        alt=post.image_alt,
        brand=settings.brand,
    )
    when = (
        post.published_at
        if post.state == PostState.PUBLISHED and post.published_at
        else post.scheduled_at
    )
    body = _post_template.render(
        post=post,
        kind=kind or "ukendt",
        kind_name=TYPE_NAMES.get(kind, kind or "ukendt kanaltype"),
        card=_card_class(kind),
        when=format_datetime(when, zone),
        state_name=STATES.get(post.state, (post.state, ""))[0],
        text=_linkify(post.text),
        domain=urlsplit(post.link).hostname if post.link else None,
        has_image=has_image,
        length=format_number(length),
        limit=format_number(limit) if limit else None,
        percent=max(1, min(100, round(100 * length / limit))) if limit else None,
        too_long=bool(limit and length > limit),
        problems=problems,
        attempts=[
            {
                "started": format_datetime(a.started_at, zone),
                "finished": format_datetime(a.finished_at, zone) if a.finished_at else "–",
                "outcome": a.outcome or "i gang",
                "status": a.http_status or "–",
                "error": a.error or "",
                "worker": a.worker or "",
            }
            for a in attempts
        ],
        events=[
            {
                "at": format_datetime(e.at, zone),
                "actor": e.actor,
                "action": e.action,
                "detail": e.detail or "",
            }
            for e in events
        ],
    )
    return Markup(body)


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

_post_template = _env.from_string("""
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

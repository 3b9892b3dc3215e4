"""Templates: one Jinja2 environment for every page, with Danish formats as filters.

Autoescape is on for everything, so a post's text (or a user's name) is always shown as text.
`page()` renders a template inside the layout with what every page needs: the signed-in user,
the navigation they may use, and the CSRF token for the forms.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape
from starlette.responses import HTMLResponse

from comms.content.danish import format_date, format_datetime, format_number
from comms.content.link_from import describe
from comms.content.links import safe_link
from comms.web.security import SECURITY_HEADERS
from comms.web.words import ROLE_NAMES, STATE_NAMES

_env = Environment(
    loader=PackageLoader("comms.web", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["number"] = lambda value: format_number(value) if value is not None else "–"
_env.filters["day"] = lambda value: format_date(value) if value else "–"
_env.filters["web_url"] = lambda value: web_url(value)
# a page address not out yet (a step's link_from) in words, as people are shown it
_env.filters["said"] = lambda value: describe(value) if value else value
_env.filters["headline"] = lambda post: headline(post)
_env.filters["badge"] = lambda state: badge(state)
_env.globals["STATE_NAMES"] = STATE_NAMES
_env.globals["ROLE_NAMES"] = ROLE_NAMES


def web_url(value: str | None) -> str | None:
    """`value` when it may be a link (content.links.safe_link), else None: shown as text."""
    return safe_link(value.strip() if value else None)


def headline(post: Any) -> str:
    """What a list calls a post: its title, else its first 70 characters as people see them
    (a page address not out yet in words), else "Opslag N"."""
    if post.title:
        return str(post.title)
    said = describe(post.text) if post.text else ""
    if said:
        return said[:70] + ("…" if len(said) > 70 else "")
    return f"Opslag {post.id}"


def badge(state: str) -> Markup:
    """A post's state as the badge every list shows: its class and its Danish name."""
    return Markup(
        f'<span class="badge state-{escape(state)}">{escape(STATE_NAMES.get(state, state))}</span>'
    )


def set_zone(zone: ZoneInfo) -> None:
    """Times are shown in the configured zone (Europe/Copenhagen unless the config says so)."""
    _env.filters["when"] = lambda value: format_datetime(value, zone) if value else "–"
    _env.filters["local_date"] = lambda value: (
        value.astimezone(zone).date().isoformat() if isinstance(value, datetime) else ""
    )
    _env.filters["local_time"] = lambda value: (
        value.astimezone(zone).strftime("%H:%M") if isinstance(value, datetime) else ""
    )


def render(
    template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    """A template as an HTML response (the layout expects `user`, `nav`, `csrf` and `title`)."""
    context.setdefault("user", None)
    context.setdefault("nav", [])
    context.setdefault("csrf", "")
    context.setdefault("current", "")
    context.setdefault("notice", None)
    context.setdefault("crisis", None)  # the crisis banner's facts (comms/web/banner.py)
    context.setdefault("may_pause", False)
    html = _env.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=headers)


def error_page(status: int, message: str, headers: dict[str, str] | None = None) -> HTMLResponse:
    """A plain error page: a Danish title and message, never an exception's text."""
    title = ERROR_TITLES.get(status, "Fejl")
    all_headers = {**SECURITY_HEADERS, "cache-control": "no-store", **(headers or {})}
    return render("error.html", status, all_headers, title=title, message=message, code=status)


ERROR_TITLES = {
    400: "Forkert forespørgsel",
    403: "Ikke tilladt",
    404: "Ikke fundet",
    405: "Ikke tilladt her",
    409: "Kunne ikke gennemføres",
    413: "For stor",
    429: "For mange forsøg",
    500: "Der skete en fejl",
}
ERROR_MESSAGES = {
    400: "Forespørgslen kunne ikke forstås.",
    403: "Du har ikke adgang til dette.",
    404: "Siden findes ikke, eller du har ikke adgang til den.",
    405: "Den handling kan ikke bruges på denne adresse.",
    500: "Der skete en fejl på serveren. Den er skrevet i loggen; prøv igen om lidt.",
}


def today_in(zone: ZoneInfo, now: datetime) -> date:
    """The local date of `now` in the configured zone."""
    return now.astimezone(zone).date()

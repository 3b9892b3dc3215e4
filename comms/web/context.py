"""One request's context for a page: the database session, the signed-in user and their rights.

`page` wraps a plain function `fn(ctx, **path_params) -> Response` into a Starlette endpoint: it
reads the form (for POST), then in a worker thread opens one database session, resumes the
signed-in session from the cookie (else redirects to /login?next=…), checks the form's CSRF
token against the session's, and calls `fn`. Every page therefore signs in and checks CSRF the
same way; what a user may do is asked of `comms.access.decide` through `ctx.require`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from comms.access import Action, Actor, PostFacts, Role, Verdict, decide
from comms.config import Settings
from comms.content.clean import has_nul, strip_controls
from comms.store.db import session_scope
from comms.store.models import Post, User, WebSession, utcnow
from comms.web.banner import crisis_banner
from comms.web.render import ERROR_TITLES, render
from comms.web.security import tokens_match

SESSION_COOKIE = "comms_session"
MAX_FORM_FIELDS = 200


class Refused(Exception):
    """A request that ends in an error page with this status and Danish message."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class Ctx:
    """What a page function gets: the request, the settings, the database and the user."""

    request: Request
    settings: Settings
    db: Session
    user: User
    websession: WebSession
    form: FormData | None
    now: datetime = field(default_factory=utcnow)

    @property
    def actor(self) -> Actor:
        return Actor(
            username=self.user.username,
            role=Role(self.user.role),
            organisation=self.user.organisation,
        )

    @property
    def four_eyes(self) -> bool:
        return self.settings.web.four_eyes

    def may(self, action: Action, post: Post | None = None) -> Verdict:
        """May the signed-in user do `action` (on `post`)? Asked on the server, every time."""
        facts = post_facts(self.settings, post) if post is not None else None
        return decide(self.actor, action, facts, four_eyes=self.four_eyes)

    def require(self, action: Action, post: Post | None = None) -> None:
        """Refuse with 403 and the rule's reason when the user may not do `action`."""
        verdict = self.may(action, post)
        if not verdict:
            raise Refused(403, verdict.reason)

    def field(self, name: str, default: str = "") -> str:
        """A form field as text (empty when missing; uploads are not text).

        A NUL is refused (400) and the other control characters but tab and newlines are
        taken out (content.clean); a password is left as it was typed.
        """
        value = self.form.get(name) if self.form is not None else None
        if not isinstance(value, str):
            return default
        if has_nul(value):
            raise Refused(400, NUL_MESSAGE)
        return value if "password" in name else strip_controls(value)

    def query(self, name: str, default: str = "") -> str:
        return self.request.query_params.get(name, default)

    def page(self, template: str, status: int = 200, **context: Any) -> Response:
        """Render a page inside the layout for this user."""
        return render(
            template,
            status,
            user=self.user,
            nav=navigation(self),
            csrf=self.websession.csrf_token,
            current=self.request.url.path,
            notice=context.pop("notice", None) or NOTICES.get(self.query("ok")),
            crisis=crisis_banner(self.db),
            may_pause=bool(self.may(Action.PAUSE)),
            **context,
        )


def post_facts(settings: Settings, post: Post) -> PostFacts:
    """What the access rules need to know of a post: its channel's organisation, its people."""
    return PostFacts(
        organisation=channel_organisation(settings, post.channel),
        author=post.author,
        last_editor=post.last_editor,
        state=post.state,
    )


def channel_organisation(settings: Settings, channel: str) -> str | None:
    found = settings.channels.get(channel)
    return found.organisation if found is not None else None


def navigation(ctx: Ctx) -> list[tuple[str, str]]:
    """The menu: only what this user may open."""
    items = [("/", "Overblik")]
    if ctx.may(Action.COMPOSE):
        items.append(("/compose", "Nyt opslag"))
    items += [("/queue", "Kø"), ("/calendar", "Kalender"), ("/campaigns", "Kampagner")]
    items.append(("/report", "Rapport"))
    if ctx.may(Action.MANAGE_CHANNELS):
        items.append(("/channels", "Kanaler"))
    if ctx.may(Action.MANAGE_USERS):
        items.append(("/users", "Brugere"))
    if ctx.may(Action.VIEW_AUDIT):
        items.append(("/audit", "Log"))
    items.append(("/crisis", "Krisestop"))  # everyone sees what is stopped and held
    return items


NOTICES = {
    "approved": "Opslaget er godkendt og står i køen.",
    "submitted": "Opslaget er sendt til godkendelse.",
    "composed": "Opslagene er gemt som kladder.",
    "composed-submitted": "Opslagene er sendt til godkendelse.",
    "rejected": "Opslaget er afvist og sendt tilbage til forfatteren med din kommentar.",
    "edited": "Ændringen er gemt som en ny udgave.",
    "rescheduled": "Opslaget er flyttet.",
    "cancelled": "Opslaget er annulleret.",
    "settled": "Opslaget er afgjort.",
    "user-added": "Brugeren er oprettet.",
    "user-disabled": "Brugeren er spærret, og alle brugerens sessioner er afsluttet.",
    "user-enabled": "Brugeren kan logge ind igen.",
    "password-reset": "Adgangskoden er skiftet, og brugerens sessioner er afsluttet.",
    "role-set": "Rollen er ændret.",
    "feed-revoked": "Din kalenderadresse er trukket tilbage; den virker ikke længere.",
}


def page(fn: Callable[..., Response]) -> Callable[[Request], Any]:
    """A Starlette endpoint for a signed-in page function."""

    async def endpoint(request: Request) -> Response:
        form = None
        if request.method == "POST":
            form = await request.form(max_fields=MAX_FORM_FIELDS)
        try:
            return await run_in_threadpool(_run, request, form, fn)
        finally:
            if form is not None:
                await form.close()

    endpoint.__name__ = fn.__name__
    endpoint.__doc__ = fn.__doc__
    return endpoint


def _run(request: Request, form: FormData | None, fn: Callable[..., Response]) -> Response:

    settings: Settings = request.app.state.settings
    token = request.cookies.get(SESSION_COOKIE, "")
    idle = timedelta(minutes=settings.web.session_idle_minutes)
    now = utcnow()
    found = _resumed(settings.database_url, token, now=now, idle=idle) if token else None
    if found is None:
        return sign_in_first(request)
    user, websession = found
    if form is not None and not tokens_match(_text(form.get("csrf_token")), websession.csrf_token):
        raise Refused(403, "Formularen var forældet eller manglede sit sikkerhedsfelt. Prøv igen.")
    # the page's own session begins at its first query; pages that read through functions
    # with their own session (calendar, report) do so before touching ctx.db. A page shown
    # (GET) only reads, so many are shown at once; an action (POST) takes its turn to write.
    with session_scope(settings.database_url, read_only=request.method == "GET") as db:
        ctx = Ctx(request, settings, db, user, websession, form, now)
        try:
            _check_ids(request.path_params)
            return fn(ctx, **request.path_params)
        except Refused as exc:  # nothing of a refused request is kept; the menu stays
            db.rollback()
            title = ERROR_TITLES.get(exc.status, "Fejl")
            return ctx.page("error.html", exc.status, title=title, message=exc.message)


def _resumed(url: str, token: str, *, now: datetime, idle: timedelta) -> Any:
    """The signed-in user and session, read without the write lock unless a change is due
    (the last-seen time, once a minute; an ended session), committed before the page runs."""
    from comms import accounts

    try:
        with session_scope(url, read_only=True) as db:
            return accounts.resume_session(
                db, token, now=now, idle=idle, touch_every=TOUCH_EVERY, write=False
            )
    except accounts.MustWrite:
        with session_scope(url) as db:
            return accounts.resume_session(db, token, now=now, idle=idle, touch_every=TOUCH_EVERY)


TOUCH_EVERY = timedelta(minutes=1)  # how often a session's last-seen time is written
NUL_MESSAGE = (
    "Teksten indeholder et NUL-tegn (\\x00), som ikke kan gemmes. Fjern det, og prøv igen."
)
MAX_ID = 2**63 - 1  # the largest row id either database stores


def _check_ids(params: dict[str, Any]) -> None:
    """A number in the path that no row can have is a page that does not exist (not a 500 from
    the database driver, which cannot even send it)."""
    if any(isinstance(v, int) and not 0 <= v <= MAX_ID for v in params.values()):
        raise Refused(404, "Siden findes ikke.")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def sign_in_first(request: Request) -> Response:
    """To the sign-in page, coming back here afterwards; a stale cookie is dropped."""
    target = request.url.path
    if request.url.query and request.method == "GET":
        target += "?" + request.url.query
    if request.method != "GET":
        target = "/"
    response = RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
    if SESSION_COOKIE in request.cookies:
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response

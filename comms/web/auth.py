"""Signing in and out: the /login form, the session cookie, and /logout.

The login form carries a pre-session CSRF token: a random value in a short-lived HttpOnly cookie
that the form must repeat (the Origin check in security.Guard comes first). A right password
starts a server-side session (comms.accounts); its cookie is an opaque random id, HttpOnly,
SameSite=Lax and Secure when the request came over https. Throttled sign-ins get 429 with
Retry-After. `next` is followed only to a path on this site.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from comms.config import Settings
from comms.store.db import session_scope
from comms.store.models import User, utcnow
from comms.web.context import SESSION_COOKIE, Refused
from comms.web.render import render
from comms.web.security import new_token, tokens_match

PRE_COOKIE = "comms_login"


def safe_next(value: str | None) -> str:
    """A same-site path to go to after sign-in; anything else (other hosts, schemes) is `/`."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(char) < 32 for char in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path.startswith("/login"):
        return "/"
    return value


def secure_cookie(request: Request, settings: Settings) -> bool:
    """Secure when configured so, or ("auto") when this request came over https."""
    mode = settings.web.secure_cookies
    if isinstance(mode, bool):
        return mode
    if str(mode).lower() in ("true", "always", "yes"):
        return True
    if str(mode).lower() in ("false", "never", "no"):
        return False
    return request.url.scheme == "https"


def _login_page(
    request: Request,
    *,
    status: int = 200,
    error: str | None = None,
    username: str = "",
    headers: dict[str, str] | None = None,
) -> Response:
    token = request.cookies.get(PRE_COOKIE) or new_token()
    response = render(
        "login.html",
        status,
        headers,
        title="Log ind",
        csrf=token,
        next=safe_next(request.query_params.get("next")),
        error=error,
        username=username,
        sso=request.app.state.settings.web.oidc is not None,
    )
    response.set_cookie(
        PRE_COOKIE,
        token,
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=secure_cookie(request, request.app.state.settings),
    )
    return response


async def login_form(request: Request) -> Response:
    """GET /login: the sign-in form."""
    return _login_page(request)


async def login(request: Request) -> Response:
    """POST /login: check the token and the password, start a session, go on to `next`."""
    form = await request.form(max_fields=10)
    username = form.get("username")
    password = form.get("password")
    given = form.get("csrf_token")
    if not tokens_match(given if isinstance(given, str) else None, request.cookies.get(PRE_COOKIE)):
        raise Refused(403, "Formularen var forældet. Hent siden igen og log ind.")
    if not isinstance(username, str) or not isinstance(password, str) or not username.strip():
        return _login_page(request, status=400, error="Skriv dit brugernavn og din adgangskode.")
    target = safe_next(_text(form.get("next")))
    return await run_in_threadpool(_sign_in, request, username.strip(), password, target)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _sign_in(request: Request, username: str, password: str, target: str) -> Response:
    from comms import accounts

    settings: Settings = request.app.state.settings
    address = request.client.host if request.client else "?"
    with session_scope(settings.database_url) as db:
        now = utcnow()
        try:
            user = accounts.authenticate(db, username, password, address=address, now=now)
        except accounts.LoginThrottled as exc:
            wait = max(1, int(exc.retry_after))
            return _login_page(
                request,
                status=429,
                username=username,
                error=f"For mange forkerte forsøg. Vent {wait} sekunder, og prøv igen.",
                headers={"Retry-After": str(wait)},
            )
        if user is None:
            return _login_page(
                request,
                status=400,
                username=username,
                error="Forkert brugernavn eller adgangskode.",
            )
        previous = request.cookies.get(SESSION_COOKIE)
        if previous:  # a sign-in replaces the browser's old session; it does not linger
            accounts.end_session(db, previous)
        token = start_session(db, user, settings, now)
    return signed_in(request, settings, token, target, spent=(PRE_COOKIE, "/login"))


def start_session(db: Session, user: User, settings: Settings, now: datetime) -> str:
    """A server-side session for `user` that lasts the configured hours at most; its token."""
    from comms import accounts

    hours = timedelta(hours=settings.web.session_hours)
    token, _ = accounts.start_session(db, user, now=now, absolute=hours)
    return token


def signed_in(
    request: Request, settings: Settings, token: str, target: str, *, spent: tuple[str, str]
) -> Response:
    """A redirect to `target` that sets the session cookie and drops the sign-in's own cookie
    (`spent`: its name and path), for a password and a single sign-on alike."""
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.web.session_hours * 3600),
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookie(request, settings),
    )
    name, path = spent
    response.delete_cookie(name, path=path)
    return response


async def logout(request: Request) -> Response:
    """POST /logout: end the session at once (the Origin check and the session's token apply)."""
    form = await request.form(max_fields=10)
    token = request.cookies.get(SESSION_COOKIE, "")
    settings: Settings = request.app.state.settings
    if token:
        await run_in_threadpool(_end, settings, token, _text(form.get("csrf_token")))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _end(settings: Settings, token: str, given: str | None) -> None:
    from comms import accounts

    idle = timedelta(minutes=settings.web.session_idle_minutes)
    with session_scope(settings.database_url) as db:
        found = accounts.resume_session(db, token, now=utcnow(), idle=idle)
        if found is None:
            return
        if not tokens_match(given, found[1].csrf_token):
            raise Refused(403, "Formularen var forældet. Prøv igen.")
        accounts.end_session(db, token)

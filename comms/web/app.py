"""The Starlette application: routes, the guard middleware, error pages and static files."""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from comms.config import Settings
from comms.errors import InputError
from comms.web import (
    admin,
    auth,
    calendar_feed,
    calendar_page,
    campaigns_page,
    channels_page,
    compose,
    connect_page,
    crisis_page,
    oidc,
    overview,
    posts,
    queue_page,
    report_page,
)
from comms.web.context import NUL_MESSAGE, Refused
from comms.web.render import ERROR_MESSAGES, error_page, set_zone
from comms.web.security import BodyTooLarge, Guard, allowed_hosts

log = logging.getLogger("comms.web")
STATIC = Path(__file__).resolve().parent / "static"


def create_app(settings: Settings, *, bound_host: str | None = None) -> Starlette:
    """The workspace for these settings; `bound_host` joins localhost on the default host list."""
    set_zone(settings.zone)
    routes = [
        Route("/login", auth.login_form, methods=["GET"]),
        Route("/login", auth.login, methods=["POST"]),
        Route("/logout", auth.logout, methods=["POST"]),
        *oidc.routes(settings),  # /login/oidc and its callback, when [web.oidc] is set
        Route("/", overview.overview, methods=["GET"]),
        Route("/queue", queue_page.queue, methods=["GET"]),
        *posts.routes(),
        *compose.routes(),
        *calendar_feed.routes(),
        *calendar_page.routes(),
        *campaigns_page.routes(),
        *channels_page.routes(),
        *connect_page.routes(),
        *report_page.routes(),
        *admin.routes(),
        *crisis_page.routes(),
        Route("/favicon.ico", lambda request: Response(status_code=204), methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            Refused: _refused,
            InputError: _bad_input,
            BodyTooLarge: _too_large,
            HTTPException: _http_error,
            Exception: _server_error,
        },
    )
    app.state.settings = settings
    hosts = allowed_hosts(settings.web.allowed_hosts, bound_host, base_url=settings.web.base_url)
    app.add_middleware(
        Guard,
        hosts=hosts,
        trusted_proxies=settings.web.trusted_proxies,
        refuse=lambda status, message: error_page(status, message),
    )
    return app


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return error_page(exc.status, exc.message, exc.headers)


async def _bad_input(request: Request, exc: Exception) -> Response:
    """Text the store refused (a NUL in a field no page checks itself): the sender's mistake."""
    return error_page(400, NUL_MESSAGE)


async def _too_large(request: Request, exc: Exception) -> Response:
    return error_page(413, "Forespørgslen er for stor.")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = ERROR_MESSAGES.get(exc.status_code, "Forespørgslen kunne ikke gennemføres.")
    return error_page(exc.status_code, message, dict(exc.headers or {}))


async def _server_error(request: Request, exc: Exception) -> Response:
    """Log the error for the operator; the page says only that something went wrong."""
    log.error(
        "error on %s %s: %s", request.method, request.url.path, type(exc).__name__, exc_info=exc
    )
    return error_page(500, ERROR_MESSAGES[500])

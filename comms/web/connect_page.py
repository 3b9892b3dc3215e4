"""Connecting a channel from the workspace: the same flow as `comms channels connect`, with the
service's redirect landing on the workspace (`/channels/NAME/callback`) instead of a listener.

An authorisation under way (its state and PKCE verifier) is kept in this process for ten
minutes, tied to the admin who started it: the callback is accepted only for that state, that
channel and that admin, and only once. A workspace run as several processes behind one address
must send a channel's callback to the process that started it (or use the command).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from comms.access import Action
from comms.channels.registry import channel_class
from comms.errors import CommsError
from comms.publishing import connect
from comms.web.context import Ctx, Refused, page

LIFETIME = 600.0  # seconds an authorisation may take
_lock = threading.Lock()


@dataclass(frozen=True)
class _Started:
    pending: connect.PendingConnect
    username: str
    started: float


_pending: dict[str, _Started] = {}  # state -> the authorisation it belongs to


def routes() -> list[Route]:
    return [
        Route("/channels/{name:str}/connect", start, methods=["POST"]),
        Route("/channels/{name:str}/callback", callback, methods=["GET"]),
    ]


def connects_with(ctx: Ctx, name: str) -> str:
    channel = ctx.settings.channels[name]
    return channel_class(channel.type).connects_with


def redirect_uri(ctx: Ctx, name: str) -> str:
    base = ctx.settings.web.base_url or str(ctx.request.base_url).rstrip("/")
    return f"{base}/channels/{name}/callback"


def _channel(ctx: Ctx, name: str) -> None:
    ctx.require(Action.MANAGE_CHANNELS)
    if name not in ctx.settings.channels:
        raise Refused(404, "Kanalen findes ikke.")


@page
def start(ctx: Ctx, name: str) -> Response:
    """POST /channels/NAME/connect: to the service's consent page (or, for Bluesky, the app
    password traded for a session at once)."""
    _channel(ctx, name)
    try:
        if connects_with(ctx, name) == "password":
            password = ctx.field("password")
            if not password:
                raise Refused(400, "Skriv app-adgangskoden.")
            connect.connect_with_password(ctx.settings, name, password, actor=ctx.user.username)
            return RedirectResponse("/channels?ok=connected", status_code=303)
        pending = connect.begin(ctx.settings, name, redirect_uri=redirect_uri(ctx, name))
    except CommsError as exc:
        raise Refused(400, f"Kanalen kunne ikke forbindes: {exc}") from None
    now = time.monotonic()
    with _lock:
        for state in [s for s, item in _pending.items() if now - item.started > LIFETIME]:
            del _pending[state]
        _pending[pending.state] = _Started(pending, ctx.user.username, now)
    return RedirectResponse(pending.url, status_code=303)


@page
def callback(ctx: Ctx, name: str) -> Response:
    """GET /channels/NAME/callback: the service's redirect; the tokens are stored sealed."""
    _channel(ctx, name)
    state = ctx.query("state")
    with _lock:
        started = _pending.pop(state, None) if state else None
    if (
        started is None
        or started.pending.channel != name
        or started.username != ctx.user.username
        or time.monotonic() - started.started > LIFETIME
    ):
        raise Refused(400, "Tilladelsen passer ikke til en forbindelse, du har startet. Prøv igen.")
    params = dict(ctx.request.query_params.items())
    try:
        code = connect.code_from(started.pending, params)
        connect.finish(ctx.settings, started.pending, code, actor=ctx.user.username)
    except CommsError as exc:
        raise Refused(400, f"Kanalen kunne ikke forbindes: {exc}") from None
    return RedirectResponse("/channels?ok=connected", status_code=303)

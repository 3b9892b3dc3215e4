"""Connecting a channel from the workspace: the same flow as `comms channels connect`, with the
service's redirect landing on the workspace (`/channels/NAME/callback`) instead of a listener.

An authorisation under way (its state, PKCE verifier and the service's client, which for
Mastodon was registered on the spot) is kept for ten minutes in the database, sealed with
COMMS_SECRET_KEY (which connecting needs anyway) under a hash of its state, and tied to the
admin who started it: the callback is accepted only for that state, that channel and that admin,
and only once, by whichever workspace process or server it reaches.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from comms.access import Action
from comms.channels.oauth import OAuthApp, Pkce
from comms.channels.registry import channel_class
from comms.errors import CommsError
from comms.publishing import connect
from comms.store import pending as store
from comms.store.db import session_scope
from comms.store.sealed import sealer_from_env
from comms.web.context import Ctx, Refused, page

KIND = "channel"
LIFETIME = 600.0  # seconds an authorisation may take
MAX_PENDING = 100  # authorisations under way kept at most (admins only; the oldest go first)
NOT_YOURS = "Tilladelsen passer ikke til en forbindelse, du har startet. Prøv igen."


def _dumped(pending: connect.PendingConnect) -> str:
    """The whole authorisation as sealed into its row (the client too: Mastodon's was made for
    this authorisation and exists nowhere else)."""
    return json.dumps(asdict(pending))


def _loaded(text: str) -> connect.PendingConnect:
    data: dict[str, Any] = json.loads(text)
    app, pkce = data["app"], data["pkce"]
    return connect.PendingConnect(
        **{
            **data,
            "app": OAuthApp(**{**app, "scopes": tuple(app.get("scopes") or ())}),
            "pkce": Pkce(**pkce) if pkce else None,
        }
    )


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
        sealer = sealer_from_env()
    except CommsError as exc:
        raise Refused(400, f"Kanalen kunne ikke forbindes: {exc}") from None
    with session_scope(ctx.settings.database_url) as db:
        store.put(
            db,
            sealer,
            kind=KIND,
            key=pending.state,
            payload=_dumped(pending),
            lifetime=LIFETIME,
            limit=MAX_PENDING,
            channel=name,
            username=ctx.user.username,
        )
    return RedirectResponse(pending.url, status_code=303)


@page
def callback(ctx: Ctx, name: str) -> Response:
    """GET /channels/NAME/callback: the service's redirect; the tokens are stored sealed."""
    _channel(ctx, name)
    try:
        sealer = sealer_from_env()
    except CommsError as exc:
        raise Refused(400, f"Kanalen kunne ikke forbindes: {exc}") from None
    with session_scope(ctx.settings.database_url) as db:
        taken = store.take(db, sealer, kind=KIND, key=ctx.query("state"))
    if taken is None or taken.channel != name or taken.username != ctx.user.username:
        raise Refused(400, NOT_YOURS)
    started = _loaded(taken.payload)
    params = dict(ctx.request.query_params.items())
    try:
        code = connect.code_from(started, params)
        connect.finish(ctx.settings, started, code, actor=ctx.user.username)
    except CommsError as exc:
        raise Refused(400, f"Kanalen kunne ikke forbindes: {exc}") from None
    return RedirectResponse("/channels?ok=connected", status_code=303)

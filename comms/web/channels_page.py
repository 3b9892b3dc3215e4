"""Channels (admins): type, organisation, paused or not (resume), secrets set or not, last publish,
and the adapter's own check with the token's expiry on demand.

Only whether a channel's secret variable is set is shown, never its value; a check's message is
the adapter's (as `comms channels check` prints it), with any secret value in it blanked out, a
webhook's relay URL included: at most `https://host/…` of it is ever on the page.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from comms.access import Action
from comms.channels.base import CheckResult
from comms.channels.registry import channel_class, create_channel
from comms.channels.scrub import Scrubber, channel_secrets
from comms.channels.settings import ChannelSettings
from comms.errors import CommsError
from comms.publishing.credentials import StoredTokens
from comms.queue import transitions as queue
from comms.report.render import TYPE_NAMES
from comms.store import tokens
from comms.store.models import ChannelState, Post, PostState
from comms.store.sealed import sealer_if_set
from comms.web.context import Ctx, Refused, page

NOTICES = {
    "resumed": "Kanalen er genoptaget; dens opslag sendes igen.",
    "connected": "Kanalen er forbundet; comms gemmer adgangen krypteret og fornyer den selv.",
}
KIND_NAMES = {
    "oauth2": "OAuth 2.0",
    "oauth1": "OAuth 1.0a",
    "session": "session",
}


@dataclass(frozen=True)
class Connection:
    """What the token store holds for a channel, in the clear columns only (never a token)."""

    kind: str
    expires_at: datetime | None
    refreshed_at: datetime | None
    connected_at: datetime
    connected_by: str
    last_error: str | None
    refresh_expires_at: datetime | None = None  # the refresh token runs out (LinkedIn)


def routes() -> list[Route]:
    return [
        Route("/channels", channels, methods=["GET"]),
        Route("/channels/{name:str}/resume", resume, methods=["POST"]),
        Route("/channels/{name:str}/check", check, methods=["POST"]),
    ]


@dataclass(frozen=True)
class Secret:
    """A secret's environment variable and whether it is set here (never its value)."""

    variable: str
    present: bool


@dataclass(frozen=True)
class Checked:
    """The adapter's check in the page's words, with the token's expiry where the service tells."""

    ok: bool
    message: str
    expires_at: datetime | None
    days_left: int | None


@dataclass(frozen=True)
class Row:
    name: str
    kind_name: str
    organisation: str | None
    paused: bool
    paused_reason: str | None
    paused_at: datetime | None
    secrets: list[Secret]
    last_published: datetime | None
    checked: Checked | None = None
    connection: Connection | None = None
    connects_with: str | None = None  # "oauth", "password", or None: no flow configured


def secrets_of(channel: ChannelSettings) -> list[Secret]:
    return [Secret(var, bool(os.environ.get(var))) for var in channel.secret_env_names()]


def blank_secrets(channel: ChannelSettings, text: str) -> str:
    """`text` with every form of the channel's secrets masked (errors can echo them): its
    variables' values and, for a type that declares `secret_urls` (a webhook's relay URL may
    carry a token), the URL's path, query and long segments, so only `https://host/…` is left.
    The same scrubber as the publisher's, so the page can show no more than a log line."""
    secrets = channel_secrets(channel, channel_class(channel.type).secret_urls)
    return Scrubber(secrets)(text)


def run_check(ctx: Ctx, channel: ChannelSettings) -> Checked:
    """The adapter's check(), as `comms channels check` runs it; an unreachable service fails."""
    stored = StoredTokens(ctx.settings)  # a connected channel is checked with its stored token
    try:
        result = create_channel(channel.with_tokens(stored)).check()
    except CommsError as exc:
        result = CheckResult(False, str(exc))
    except Exception as exc:  # an adapter's bug must not show its text (it may hold a secret)
        result = CheckResult(False, f"Tjekket fejlede ({type(exc).__name__}).")
    days = (result.expires_at - ctx.now).days if result.expires_at is not None else None
    return Checked(result.ok, blank_secrets(channel, result.message), result.expires_at, days)


def rows(ctx: Ctx, checked: dict[str, Checked] | None = None) -> list[Row]:
    """Every configured channel with its runtime state and last publish."""
    states = {s.name: s for s in ctx.db.exec(select(ChannelState)).all()}
    last = dict(
        ctx.db.execute(
            sa.select(col(Post.channel), sa.func.max(col(Post.published_at)))
            .where(col(Post.state) == PostState.PUBLISHED)
            .group_by(col(Post.channel))
        ).all()
    )
    try:
        refresh_ends = tokens.refresh_expiries(ctx.db, sealer_if_set())
    except CommsError:  # a key that is no key: the page shows what lies in the clear
        refresh_ends = {}
    stored = {
        t.channel: Connection(
            KIND_NAMES.get(t.kind, t.kind),
            t.expires_at,
            t.refreshed_at,
            t.connected_at,
            t.connected_by,
            t.last_error,
            refresh_ends.get(t.channel),
        )
        for t in tokens.rows(ctx.db)
    }
    found = []
    for name, channel in sorted(ctx.settings.channels.items()):
        state = states.get(name)
        paused = bool(state and state.paused)
        found.append(
            Row(
                name=name,
                kind_name=TYPE_NAMES.get(channel.type, channel.type),
                organisation=channel.organisation,
                paused=paused,
                paused_reason=state.paused_reason if state and paused else None,
                paused_at=state.paused_at if state and paused else None,
                secrets=secrets_of(channel),
                last_published=last.get(name),
                checked=(checked or {}).get(name),
                connection=stored.get(name),
                connects_with=_connects_with(channel),
            )
        )
    return found


def _connects_with(channel: ChannelSettings) -> str | None:
    """How the page can connect this channel: a consent page, an app password, or not at all
    (a type without a flow, or an OAuth flow without its client id in the config)."""
    kind = channel_class(channel.type).connects_with
    if kind == "oauth" and not channel.get("client_id") and channel.type != "mastodon":
        return None
    return kind if channel.type in CONNECTABLE else None


CONNECTABLE = frozenset({"x", "linkedin", "facebook", "instagram", "mastodon", "bluesky"})


def _channel(ctx: Ctx, name: str) -> ChannelSettings:
    ctx.require(Action.MANAGE_CHANNELS)
    channel = ctx.settings.channels.get(name)
    if channel is None:
        raise Refused(404, "Kanalen findes ikke.")
    return channel


@page
def channels(ctx: Ctx) -> Response:
    """GET /channels: every channel's state, for admins."""
    ctx.require(Action.MANAGE_CHANNELS)
    return ctx.page(
        "channels.html",
        title="Kanaler",
        rows=rows(ctx),
        notice=NOTICES.get(ctx.query("ok")),
    )


@page
def check(ctx: Ctx, name: str) -> Response:
    """POST /channels/NAME/check: ask the service whether the credentials work, and until when."""
    channel = _channel(ctx, name)
    return ctx.page(
        "channels.html",
        title="Kanaler",
        rows=rows(ctx, {name: run_check(ctx, channel)}),
    )


@page
def resume(ctx: Ctx, name: str) -> Response:
    """POST /channels/NAME/resume: publish to a paused channel again (audited)."""
    _channel(ctx, name)
    queue.resume_channel(ctx.db, name, actor=ctx.user.username)
    return RedirectResponse("/channels?ok=resumed", status_code=303)

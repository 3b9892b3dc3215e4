"""Commands that connect channels and keep their stored tokens: connect, tokens, new-key,
rotate-key, disconnect (docs/credentials.md)."""

from __future__ import annotations

import os
import sys
import webbrowser
from datetime import datetime

import click

from comms.cli.common import AppContext, current_actor, pass_app
from comms.cli.output import print_table
from comms.content.danish import format_date_short, format_number, format_time


@click.command("connect")
@click.argument("name")
@click.option(
    "--port",
    type=int,
    default=8765,
    show_default=True,
    help="Port of the one-shot listener on 127.0.0.1 (the redirect registered "
    "with the service); 0: any free port.",
)
@click.option(
    "--paste",
    is_flag=True,
    help="No listener: paste the address the browser ends on (or the code).",
)
@click.option("--no-browser", is_flag=True, help="Print the address; do not open a browser.")
@click.option(
    "--oauth1",
    is_flag=True,
    help="X only: OAuth 1.0a user context (a token that does not expire) instead of OAuth 2.0.",
)
@click.option(
    "--timeout",
    type=float,
    default=300,
    show_default=True,
    help="Seconds to wait for the redirect.",
)
@pass_app
def channels_connect(
    app: AppContext,
    name: str,
    port: int,
    paste: bool,
    no_browser: bool,
    oauth1: bool,
    timeout: float,
) -> None:
    """Run the service's authorisation flow for a channel and store its tokens, encrypted.

    \b
    Example:
      comms channels connect x-politi
      comms channels connect x-politi --paste     # the browser is on another machine
    """
    from comms.channels.callback import CALLBACK_PATH, CallbackListener
    from comms.publishing import connect

    settings = app.settings
    app.ready_database()
    channel = settings.channel(name)
    from comms.channels.registry import channel_class

    if channel_class(channel.type).connects_with == "password":
        _connect_with_password(app, name)
        return
    if paste:
        listener = None
        redirect_uri = f"http://127.0.0.1:{port}{CALLBACK_PATH}"
    else:
        listener = CallbackListener(port)
        redirect_uri = listener.redirect_uri
    pending: connect.PendingConnect | connect.PendingOAuth1
    try:
        if oauth1:
            pending = connect.begin_oauth1(settings, name, redirect_uri=redirect_uri)
        else:
            pending = connect.begin(settings, name, redirect_uri=redirect_uri)
        click.echo("Åbn denne adresse, og giv comms adgang:")
        click.echo(pending.url)
        sys.stdout.flush()
        if not no_browser and not paste:
            webbrowser.open(pending.url)
        if listener is None:
            pasted = click.prompt("Indsæt adressen, browseren endte på (eller koden)")
            params = connect.params_of_paste(pending, pasted)
        else:
            params = listener.wait(timeout).params
            listener = None
    finally:
        if listener is not None:
            listener.close()
    if isinstance(pending, connect.PendingOAuth1):
        done = connect.finish_oauth1(settings, pending, params, actor=current_actor())
        click.echo(f"Kanalen {name} er forbundet med OAuth 1.0a; tokenet udløber ikke.")
        _resumed(name, done.resumed)
        return
    code = connect.code_from(pending, params)
    done = connect.finish(settings, pending, code, actor=current_actor())
    click.echo(
        f"Kanalen {name} er forbundet; tokenet gælder til {done.expires_at_text}"
        + ("; comms fornyer det selv." if done.refreshable else "; det kan ikke fornyes.")
    )
    if done.refresh_expires_at_text:
        click.echo(
            f"Fornyelsen gælder til {done.refresh_expires_at_text}; derefter skal kanalen "
            f"forbindes igen: comms channels connect {name}"
        )
    _resumed(name, done.resumed)


def _resumed(name: str, resumed: bool) -> None:
    if resumed:
        click.echo(f"Kanalen {name} var sat på pause og kører nu igen.")


def _connect_with_password(app: AppContext, name: str) -> None:
    """An app password, from the channel's password_env if set, else asked for (not shown)."""
    from comms.publishing import connect

    var = app.settings.channel(name).get("password_env")
    password = os.environ.get(str(var)) if var else None
    if not password:
        password = click.prompt("App-adgangskode", hide_input=True)
    done = connect.connect_with_password(app.settings, name, password, actor=current_actor())
    click.echo(
        f"Kanalen {name} er forbundet; sessionen gælder til {done.expires_at_text}; comms "
        "fornyer den selv (app-adgangskoden gemmes ikke)."
    )
    _resumed(name, done.resumed)


@click.command("tokens")
@pass_app
def channels_tokens(app: AppContext) -> None:
    """List connected channels: kind, expiry, last refresh (never a token).

    \b
    Example:
      comms channels tokens
    """
    from comms.store import tokens
    from comms.store.db import session_scope
    from comms.store.sealed import sealer_if_set

    zone = app.settings.zone
    with session_scope(app.ready_database()) as session:
        rows = tokens.rows(session)
        refresh_ends = tokens.refresh_expiries(session, sealer_if_set())
    if not rows:
        click.echo(
            "Ingen kanal er forbundet endnu: comms channels connect NAVN "
            "(kanaler med et token i en miljøvariabel står ikke her)."
        )
        return

    def when(value: datetime | None) -> str:
        if value is None:
            return "-"
        local = value.astimezone(zone)
        return f"{format_date_short(local)} {format_time(local)}"

    print_table(
        [
            "kanal",
            "slags",
            "udløber",
            "fornyelse udløber",
            "fornyet",
            "forbundet",
            "af",
            "seneste fejl",
        ],
        [
            [
                r.channel,
                r.kind,
                when(r.expires_at) if r.expires_at else "aldrig",
                when(refresh_ends.get(r.channel)),
                when(r.refreshed_at),
                when(r.connected_at),
                r.connected_by,
                r.last_error or "",
            ]
            for r in rows
        ],
    )


@click.command("new-key")
def channels_new_key() -> None:
    """Print a new key for COMMS_SECRET_KEY (32 random bytes, URL-safe base64).

    \b
    Example:
      export COMMS_SECRET_KEY=$(comms channels new-key)
    """
    from comms.store.sealed import new_key

    click.echo(new_key())


@click.command("rotate-key")
@pass_app
def channels_rotate_key(app: AppContext) -> None:
    """Re-encrypt every stored token from $COMMS_SECRET_KEY to $COMMS_NEW_SECRET_KEY, in one
    transaction.

    \b
    Example:
      COMMS_NEW_SECRET_KEY=$(comms channels new-key) comms channels rotate-key
    """
    from comms.store import tokens
    from comms.store.db import session_scope
    from comms.store.sealed import KEY_ENV, NEW_KEY_ENV, sealer_from_env

    old, new = sealer_from_env(KEY_ENV), sealer_from_env(NEW_KEY_ENV)
    with session_scope(app.ready_database()) as session:
        done, already = tokens.rotate(session, old, new, actor=current_actor())
    click.echo(
        f"{format_number(done)} {'token' if done == 1 else 'tokens'} krypteret igen med den "
        "nye nøgle" + (f"; {format_number(already)} var allerede det" if already else "") + "."
    )
    click.echo(
        f"Sæt nu {KEY_ENV} til værdien af {NEW_KEY_ENV} overalt, hvor comms kører "
        f"(også dæmonerne), og fjern {NEW_KEY_ENV}."
    )


@click.command("disconnect")
@click.argument("name")
@pass_app
def channels_disconnect(app: AppContext, name: str) -> None:
    """Forget a channel's stored token (it falls back to its token_env, if any).

    \b
    Example:
      comms channels disconnect x-politi
    """
    from comms.store import tokens
    from comms.store.db import session_scope

    with session_scope(app.ready_database()) as session:
        gone = tokens.forget(session, name, actor=current_actor())
    click.echo(
        f"Kanalen {name}: det gemte token er slettet."
        if gone
        else f"Kanalen {name} har intet gemt token."
    )


def register(group: click.Group) -> None:
    for command in (
        channels_connect,
        channels_tokens,
        channels_new_key,
        channels_rotate_key,
        channels_disconnect,
    ):
        group.add_command(command)

"""Commands that show the plan to people: the calendar (iCalendar or HTML) and the workspace."""

from __future__ import annotations

import ipaddress

import click

from comms.cli.common import AppContext, output_format_option, pass_app
from comms.errors import CommsError


def register(group: click.Group) -> None:
    """Add this module's commands to the main group."""
    group.add_command(calendar_command)
    group.add_command(serve_command)


@click.command("calendar")
@click.option("--year", type=click.IntRange(1900, 9998), required=True, help="The calendar year.")
@output_format_option("ics", "html", default="ics")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to this file instead of the screen.",
)
@pass_app
def calendar_command(app: AppContext, year: int, fmt: str, out: str | None) -> None:
    """Every planned and published post of a year as calendar events.

    Each post is an event at its publishing time with its title, channel, audience, state and
    link; cancelled posts are left out. ics is an iCalendar file that Outlook and Google
    Calendar import (importing a newer file updates the events: each has a fixed UID); html is
    a month view to print or share.

    \b
    Example:
      comms calendar --year 2027 --out opslag-2027.ics
      comms calendar --year 2027 --format html --out kalender-2027.html
    """
    from comms.report.calendar import calendar_entries, to_html, to_ics

    try:
        url = app.ready_database()
        zone = app.settings.zone
        entries = calendar_entries(url, year=year, zone=zone)
    except CommsError as exc:
        raise click.ClickException(str(exc)) from None
    if fmt == "ics":
        data = to_ics(entries, year=year, zone=zone)
    else:
        data = to_html(entries, year=year, zone=zone).encode("utf-8")
    if out is None:
        click.echo(data, nl=False)  # bytes go to the binary stream
    else:
        with open(out, "wb") as handle:
            handle.write(data)
        click.echo(f"Wrote {len(entries)} posts to {out}", err=True)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@pass_app
def serve_command(app: AppContext, host: str, port: int) -> None:
    """The team's workspace in the browser: sign in, the queue, posts, calendar, report.

    It listens on 127.0.0.1 (this machine only) unless --host says otherwise. Create an account
    first (comms users add NAME --role admin). Requests are answered only for the hosts in
    [web] allowed_hosts (by default this host, localhost and base_url's host); behind a TLS
    reverse proxy, set allowed_hosts to the public name. Stop it with Ctrl-C.

    \b
    Example:
      comms users add anna --role admin
      comms serve
      comms serve --host 0.0.0.0 --port 8080
    """
    import uvicorn

    from comms.web import create_app

    try:
        app.ready_database()
        web = create_app(app.settings, bound_host=host)
    except CommsError as exc:
        raise click.ClickException(str(exc)) from None
    if not _is_loopback(host):
        click.echo(
            f"Warning: {host} is reachable from other machines; serve it behind TLS.", err=True
        )
        if not app.settings.web.allowed_hosts:
            click.echo(
                "Only localhost, the bound address and base_url are answered: "
                "set [web] allowed_hosts to the names people use.",
                err=True,
            )
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"Serving the workspace on http://{shown}:{port}/ (Ctrl-C to stop)", err=True)
    config = uvicorn.Config(
        web,
        host=host,
        port=port,
        proxy_headers=False,  # the app itself decides whose X-Forwarded-Proto to believe
        server_header=False,
        log_level="warning",
    )
    from comms.store.in_use import held_while_running

    try:
        with held_while_running(app.settings.database_url):  # a restore must wait for us
            uvicorn.Server(config).run()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

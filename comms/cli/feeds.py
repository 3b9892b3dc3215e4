"""The news feeds' commands: poll now, and what each feed has given (for officers: Danish)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import click

from comms.cli.common import AppContext, output_format_option, pass_app
from comms.cli.output import print_json, print_table

if TYPE_CHECKING:
    from comms.feeds.poll import PollResult


@click.group("feeds")
def feeds_group() -> None:
    """News feeds ([feeds.NAME] in the config) that become drafts.

    \b
    Example:
      comms feeds poll
      comms feeds list
    """


@feeds_group.command("poll")
@click.argument("name", required=False)
@click.option(
    "--backfill",
    is_flag=True,
    help="Also make posts of the entries already in the feed (on its first poll, or that an "
    "earlier first poll only recorded).",
)
@pass_app
def feeds_poll(app: AppContext, name: str | None, backfill: bool) -> None:
    """Poll the feeds once (or the one named) and make drafts of their new entries.

    \b
    Example:
      comms feeds poll
      comms feeds poll nyheder --backfill
    """
    from comms.feeds.poll import poll_feeds

    settings = app.settings
    names = [_known_feed(app, name)] if name else sorted(settings.feeds)
    if not names:
        click.echo("Der er ingen nyhedsfeeds i konfigurationen (tilføj [feeds.NAVN]).")
        return
    app.ready_database()
    failed = 0
    for result in poll_feeds(settings, names, backfill=backfill):
        failed += not result.ok
        click.echo(f"{result.feed}: {_said(result)}")
    if failed:
        raise click.ClickException(f"{failed} feed(s) kunne ikke hentes; de prøves igen")


def _said(result: PollResult) -> str:
    """One feed's poll in a line."""
    if not result.ok:
        return f"fejlede: {result.error}"
    if result.first:
        return (
            f"første hentning: {result.seen} nyhed(er) noteret som set, ingen opslag "
            "(brug --backfill for at lave opslag af dem)"
        )
    if result.not_modified:
        return "intet nyt (uændret siden sidst)"
    if not result.made:
        taken = f"; {result.taken} blev lavet af en anden proces" if result.taken else ""
        return f"intet nyt{taken}"
    ids = ", ".join(map(str, result.post_ids))
    return f"{result.made} ny(e) nyhed(er) blev til opslag {ids}"


def _known_feed(app: AppContext, name: str) -> str:
    from comms.errors import ConfigError
    from comms.feeds.settings import did_you_mean

    feeds = app.settings.feeds
    if name not in feeds:
        known = ", ".join(sorted(feeds)) or "(ingen)"
        raise ConfigError(
            f"intet nyhedsfeed ved navn {name!r}",
            path=app.settings.path,
            hint=did_you_mean(name, feeds) or f"konfigurerede feeds: {known}",
        )
    return name


@feeds_group.command("list")
@output_format_option("table", "json")
@pass_app
def feeds_list(app: AppContext, fmt: str) -> None:
    """What each feed has given: last poll, ok or failing since when, entries and posts.

    \b
    Example:
      comms feeds list
    """
    from comms.content.danish import format_datetime
    from comms.feeds.fetch import safe_url
    from comms.feeds.status import feed_statuses

    settings = app.settings
    if not settings.feeds:
        click.echo("Der er ingen nyhedsfeeds i konfigurationen (tilføj [feeds.NAVN]).")
        return
    app.ready_database()
    statuses = feed_statuses(settings)
    if fmt == "json":
        print_json(
            [
                {
                    "name": s.name,
                    "url": safe_url(s.url),
                    "channels": list(s.channels),
                    "last_polled_at": s.last_polled_at,
                    "last_ok_at": s.last_ok_at,
                    "failing_since": s.failing_since,
                    "last_error": s.last_error,
                    "entries_seen": s.entries_seen,
                    "entries_posted": s.entries_posted,
                    "posts": s.posts,
                }
                for s in statuses
            ]
        )
        return
    zone = settings.zone

    def when(instant: datetime | None) -> str:
        return format_datetime(instant, zone) if instant is not None else "aldrig"

    rows = []
    for s in statuses:
        if s.last_polled_at is None:
            status = "ikke hentet endnu"
        elif s.failing_since is not None:
            status = f"fejler siden {when(s.failing_since)}: {s.last_error or 'ukendt fejl'}"
        else:
            status = f"ok ({when(s.last_ok_at)})"
        rows.append(
            [
                s.name,
                safe_url(s.url),
                ", ".join(s.channels),
                when(s.last_polled_at),
                status,
                str(s.entries_seen),
                f"{s.posts} ({s.entries_posted} nyheder)",
            ]
        )
    print_table(
        ["Feed", "Adresse", "Kanaler", "Senest hentet", "Status", "Nyheder set", "Opslag"], rows
    )


def register(cli: click.Group) -> None:
    cli.add_command(feeds_group)

"""Warnings for posts whose time has passed when a person approves, plans or reschedules them.

The daemon publishes a queued post that is overdue by at most the grace window at once, and
marks one overdue by more `missed` (comms.queue.mark_missed). A person acting on
such a post is
told which of the two will happen, instead of finding out later.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import click

from comms.config import Settings
from comms.content.danish import format_datetime

SHOWN = 10  # posts named one by one in a warning, then a count


def grace_text(settings: Settings) -> str:
    """'60-minute' for the configured grace window."""
    minutes = settings.daemon.grace_minutes
    return f"{minutes:g}-minute"


def warn_overdue(
    settings: Settings,
    posts: Sequence[tuple[str, datetime]],
    *,
    now: datetime,
    queued: bool,
) -> None:
    """Warn on stderr about `posts` (label, scheduled_at UTC) whose time is before `now`.

    `queued` says they are in the queue now (approved, or planned without approval); else they
    are drafts, and the warning says what approving them would do.
    """
    grace = timedelta(minutes=settings.daemon.grace_minutes)
    late = [(label, when) for label, when in posts if when < now]
    if not late:
        return
    soon = [(label, when) for label, when in late if now - when <= grace]
    gone = [(label, when) for label, when in late if now - when > grace]
    zone = settings.zone
    window = f"the {grace_text(settings)} grace window"
    for label, when in soon[:SHOWN]:
        due, deadline = format_datetime(when, zone), format_datetime(when + grace, zone)
        if queued:
            then = f"a running daemon publishes it at once if it runs before {deadline}"
        else:
            then = f"approved before {deadline}, a running daemon publishes it at once"
        click.echo(
            f"warning: {label} was due {due}: {then} ({window}); after that it becomes missed",
            err=True,
        )
    for label, when in gone[:SHOWN]:
        then = "the daemon marks it missed" if queued else "if approved, the daemon marks it missed"
        click.echo(
            f"warning: {label} was due {format_datetime(when, zone)}, longer ago than {window}: "
            f"{then} instead of publishing it; reschedule it to a coming time to publish it",
            err=True,
        )
    more = max(len(soon) - SHOWN, 0) + max(len(gone) - SHOWN, 0)
    if more:
        click.echo(f"warning: and {more} more post(s) whose time has passed", err=True)

"""The crisis pause from the command line: stop everything scheduled at once (`comms pause`),
see it (`comms status`), lift it with care (`comms resume`) and settle held posts one by one
(`comms release-held`, or `comms reschedule` / `comms cancel`).

The CLI is a trusted local operator: whoever runs it may pause any scope; the audit log records
the acting user ($COMMS_USER, else the login name) as for every other command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from comms.cli.common import FC, AppContext, current_actor, pass_app
from comms.cli.output import print_table

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from comms.queue.links import LinkWait
    from comms.queue.transitions import InFlight


def _scope_options(command: FC) -> FC:
    command = click.option(
        "--channel",
        "channels",
        multiple=True,
        metavar="NAME",
        help="Only this channel (repeatable).",
    )(command)
    return click.option(
        "--organisation",
        metavar="ORG",
        help="Only the channels of this organisation (their `organisation` in the config).",
    )(command)


@click.command("pause")
@_scope_options
@click.option("--reason", required=True, help="Why, for the audit log and the team's notice.")
@pass_app
def pause_command(
    app: AppContext, organisation: str | None, channels: tuple[str, ...], reason: str
) -> None:
    """Stop every scheduled post at once (all channels, or an organisation's, or some).

    Nothing is sent on the paused channels after this command returns; a call already under
    way cannot be recalled and is listed. Posts that fall due meanwhile are held for a person.

    \b
    Example:
      comms pause --reason "Alvorlig ulykke i Aalborg centrum"
      comms pause --organisation politi --reason "Igangværende efterforskning"
    """
    from comms.content.danish import format_datetime
    from comms.queue import transitions as queue
    from comms.store.db import session_scope

    settings = app.settings
    scope = settings.pause_scope(organisation=organisation, channels=channels)
    with session_scope(app.ready_database()) as session:
        done = queue.pause(
            session,
            actor=current_actor(),
            reason=reason,
            channels=scope,
            organisation=organisation,
        )
    _notify(app)
    row = done.pause
    click.secho(
        f"KRISESTOP {row.id}: alle udgivelser på {queue.scope_text(row)} er stoppet "
        f"fra {format_datetime(row.paused_at, settings.zone)}.",
        bold=True,
    )
    click.echo(f"Årsag: {row.reason}")
    click.echo(f"{done.held} opslag, der allerede var forfaldne, er tilbageholdt.")
    _print_in_flight(done.in_flight, settings.zone)
    click.echo("Ophæv med `comms resume`; tilbageholdte opslag udgives ikke af sig selv.")


def _notify(app: AppContext) -> None:
    """The team's notice at once, after the commit (the daemon sends it too, once)."""
    from comms.publishing.notify import send_now

    send_now(app.settings)


def _print_in_flight(flying: list[InFlight], zone: ZoneInfo) -> None:
    from comms.timeutil import zoned_text

    if not flying:
        click.echo("Ingen opslag var ved at blive sendt.")
        return
    click.echo(
        f"{len(flying)} opslag var allerede sendt af sted og kan ikke kaldes tilbage "
        "(se dem med `comms queue show ID`):"
    )
    print_table(
        ["id", "kanal", "sendt"],
        [[str(f.post_id), f.channel, zoned_text(f.sending_at, zone, seconds=True)] for f in flying],
    )


@click.command("resume")
@_scope_options
@click.option("--publish-held", is_flag=True, help="Queue every held post to go out now.")
@click.option("--cancel-held", is_flag=True, help="Cancel every held post.")
@pass_app
def resume_command(
    app: AppContext,
    organisation: str | None,
    channels: tuple[str, ...],
    publish_held: bool,
    cancel_held: bool,
) -> None:
    """Lift a crisis pause (all in force, or an organisation's, or some channels').

    Held posts stay held until a person publishes them late (`comms release-held ID`), moves
    them (`comms reschedule`) or cancels them (`comms cancel`), or all at once with
    --publish-held or --cancel-held. Posts due later go out as planned.

    \b
    Example:
      comms resume
      comms resume --organisation politi --cancel-held
    """
    from comms.queue import transitions as queue
    from comms.store.db import session_scope

    if publish_held and cancel_held:
        raise click.UsageError("give --publish-held or --cancel-held, not both")
    with session_scope(app.ready_database()) as session:
        done = queue.resume(
            session,
            actor=current_actor(),
            organisation=organisation,
            channels=list(channels) or None,
            publish_held=publish_held,
            cancel_held=cancel_held,
        )
    _notify(app)
    for row in done.lifted:
        click.echo(f"Krisestop {row.id} af {queue.scope_text(row)} er ophævet.")
    if done.released:
        click.echo(f"{len(done.released)} tilbageholdt(e) opslag udgives nu.")
    if done.cancelled:
        click.echo(f"{len(done.cancelled)} tilbageholdt(e) opslag er annulleret.")
    if done.waiting:
        click.echo(
            f"{len(done.waiting)} opslag er stadig tilbageholdt og venter på en person: "
            "`comms queue list --state held`."
        )


@click.command("release-held")
@click.argument("post_ids", nargs=-1, type=int, required=True)
@pass_app
def release_held_command(app: AppContext, post_ids: tuple[int, ...]) -> None:
    """Publish held posts late: they go out as soon as the daemon looks.

    \b
    Example:
      comms release-held 12 13
    """
    from comms.queue import transitions as queue
    from comms.store.db import session_scope

    with session_scope(app.ready_database()) as session:
        released = queue.release_held(session, list(post_ids), actor=current_actor())
    click.echo(f"{len(released)} opslag udgives nu, for sent.")


@click.command("status")
@pass_app
def status_command(app: AppContext) -> None:
    """Is anything stopped? The crisis pauses in force, held posts, calls under way.

    \b
    Example:
      comms status
    """
    from sqlmodel import col, func, select

    from comms.access import STATE_NAMES
    from comms.content.danish import format_datetime
    from comms.queue import links, pauses
    from comms.queue import transitions as queue
    from comms.store.db import session_scope
    from comms.store.models import ChannelState, Post, PostState

    settings = app.settings
    with session_scope(app.ready_database()) as session:
        in_force = pauses.active(session)
        counts = dict(
            session.exec(select(Post.state, func.count()).group_by(col(Post.state))).all()
        )
        flying = queue.in_flight(session, in_force)
        stopped = session.exec(select(ChannelState).where(ChannelState.paused)).all()
        dependants = session.exec(
            select(Post).where(
                col(Post.link_from_post_id).is_not(None),
                col(Post.state).in_([PostState.DRAFT, PostState.QUEUED]),
            )
        ).all()
        waiting = list(links.waits(session, dependants).values())
    if in_force:
        for row in in_force:
            click.secho(
                f"KRISESTOP {row.id}: {queue.scope_text(row)} stoppet siden "
                f"{format_datetime(row.paused_at, settings.zone)} af {row.paused_by}.",
                fg="red",
                bold=True,
            )
            click.echo(f"  Årsag: {row.reason}")
    else:
        click.echo("Ingen krisestop: udgivelserne kører som planlagt.")
    held = counts.get("held", 0)
    if held or in_force:
        click.echo(f"{held} opslag tilbageholdt (`comms queue list --state held`).")
    if flying:
        _print_in_flight(flying, settings.zone)
    for state in stopped:
        click.echo(f"Kanalen {state.name} er sat på pause: {state.paused_reason}")
    if waiting:
        _print_waiting(waiting)
    words = [f"{STATE_NAMES.get(state, state)} {count}" for state, count in sorted(counts.items())]
    click.echo("Køen: " + ", ".join(words) if words else "Køen er tom.")


def _print_waiting(waiting: list[LinkWait]) -> None:
    """'3 opslag venter på den side, de linker til: 2 på nyhed.hjemmeside (opslag 12), …'."""
    by_source: dict[tuple[str, int], int] = {}
    for wait in waiting:
        key = (wait.source, wait.source_id)
        by_source[key] = by_source.get(key, 0) + 1
    parts = [
        f"{n} på {source} (opslag {source_id})" for (source, source_id), n in by_source.items()
    ]
    click.echo(
        f"{len(waiting)} opslag venter på den side, de linker til: " + ", ".join(parts) + "."
    )
    for_good = sum(1 for wait in waiting if wait.for_good)
    if for_good:
        click.echo(
            f"  {for_good} af dem sendes ikke, før en person flytter siden eller annullerer "
            "opslaget (`comms queue list`)."
        )


def register(cli: click.Group) -> None:
    for command in (pause_command, resume_command, release_held_command, status_command):
        cli.add_command(command)

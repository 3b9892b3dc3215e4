"""`comms db backup` and `comms db restore`: a copy of the queue that can be trusted later.

Restoring never lets a post go out twice: what may have been sent after the backup was made is
`unknown` in the restored queue, for `comms reconcile` or a person to settle.
"""

from __future__ import annotations

from pathlib import Path

import click

from comms.cli.common import AppContext, pass_app
from comms.cli.operators import db_group


def _states(posts: dict[str, int]) -> str:
    return ", ".join(f"{count} {state}" for state, count in sorted(posts.items())) or "no posts"


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Overwrite FILE if it exists.")
@pass_app
def db_backup(app: AppContext, file: Path, replace: bool) -> None:
    """Copy the database to FILE, consistently, while the daemon runs.

    On SQLite the copy is made here (SQLite's online backup API). On PostgreSQL, the command
    that does it (pg_dump) is printed, to run where the server's tools are.

    \b
    Example:
      comms db backup /var/backups/comms/comms-$(date +%F).db
    """
    from comms.store import backup
    from comms.store.db import sqlite_path

    url = app.settings.database_url
    if sqlite_path(url) is None:
        click.echo("PostgreSQL is backed up with its own tool; run:")
        click.echo(f"  {backup.postgres_backup_command(url, file)}")
        return
    snapshot = backup.backup_sqlite(url, file, replace=replace)
    click.echo(
        f"backup written: {snapshot.path} ({snapshot.size_bytes / 1e6:.1f} MB, schema "
        f"{snapshot.revision}, {_states(snapshot.posts)})"
    )


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def db_restore(app: AppContext, file: Path) -> None:
    """Put the backup FILE in place of the database (stop the daemons and the workspace first).

    The backup is checked and brought to this comms's schema first. Posts that may have gone
    out after the backup was made (being published, or queued and due) come back `unknown`:
    run `comms reconcile` to settle them. The replaced database is kept beside it, renamed.

    \b
    Example:
      comms db restore /var/backups/comms/comms-2027-01-14.db
    """
    from datetime import UTC, datetime

    from comms.queue.transitions import settle_restored
    from comms.store import backup
    from comms.store.db import session_scope, sqlite_path
    from comms.store.in_use import held_alone

    url = app.settings.database_url
    database = sqlite_path(url)
    if database is None:
        click.echo("PostgreSQL is restored with its own tool; stop the daemons, then run:")
        click.echo(f"  {backup.postgres_restore_command(url, file)}")
        click.echo("  comms db settle-restored")
        return
    with held_alone(database):
        prepared = backup.prepare_restore(url, file)
        try:
            now = datetime.now(UTC)
            with session_scope(prepared.url) as session:
                unknown = settle_restored(session, now=now)
            kept = backup.swap_in(prepared, now=now)
        except BaseException:
            backup.discard(prepared)
            raise
    click.echo(f"restored {file} (schema {prepared.from_revision}) into {database}")
    if kept is not None:
        click.echo(f"the database it replaced is kept as {kept}")
    if unknown:
        click.echo(
            f"{unknown} post(s) may have gone out after the backup was made and are unknown: "
            "run `comms reconcile`"
        )


@click.command("settle-restored")
@pass_app
def db_settle_restored(app: AppContext) -> None:
    """After restoring a PostgreSQL dump: mark what may have gone out since as `unknown`.

    \b
    Example:
      comms db settle-restored
    """
    from datetime import UTC, datetime

    from comms.queue.transitions import settle_restored
    from comms.store.db import session_scope

    with session_scope(app.ready_database()) as session:
        unknown = settle_restored(session, now=datetime.now(UTC))
    click.echo(f"{unknown} post(s) marked unknown: run `comms reconcile`")


def register(_cli: click.Group) -> None:
    """The commands join the `db` group of the operators' commands."""
    for command in (db_backup, db_restore, db_settle_restored):
        db_group.add_command(command)

"""Commands for operators: init, db upgrade, channels check/resume, reconcile, metrics collect."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from comms.cli.common import AppContext, current_actor, pass_app
from comms.cli.output import print_table, progress_bar

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable


@click.command("init")
@click.option(
    "--path",
    type=click.Path(path_type=Path),
    default=Path("comms.toml"),
    show_default=True,
    help="Where to write the config.",
)
@pass_app
def init_command(app: AppContext, path: Path) -> None:
    """Write a starter config, an example campaign with its template, and the database schema.

    The campaign and template folders are written only when they do not exist yet.

    \b
    Example:
      comms init && comms campaigns validate
    """
    from importlib import resources

    starter = resources.files("comms")
    if path.exists():
        click.echo(f"{path} exists; left as it is")
    else:
        example = starter.joinpath("starter.toml").read_text(encoding="utf-8")
        path.write_text(example, encoding="utf-8")
        click.echo(f"wrote {path}")
    from comms.config import load_settings
    from comms.store.db import upgrade

    settings = load_settings(path)
    for folder, name in (
        (settings.campaigns_dir, "campaigns"),
        (settings.templates_dir, "templates"),
    ):
        if folder.exists():
            click.echo(f"{folder} exists; left as it is")
        else:
            _copy_tree(starter.joinpath("starter", name), folder)
            click.echo(f"wrote {folder} (an example to edit)")
    upgrade(settings.database_url)
    click.echo(f"database ready: {settings.database_url}")


def _copy_tree(source: Traversable, target: Path) -> None:
    """Copy a folder of package data (an importlib Traversable) to `target`."""
    target.mkdir(parents=True)
    for item in source.iterdir():
        if item.is_dir():
            _copy_tree(item, target / item.name)
        else:
            (target / item.name).write_bytes(item.read_bytes())


@click.group("db")
def db_group() -> None:
    """The database schema (alembic migrations).

    \b
    Example:
      comms db upgrade
    """


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@pass_app
def db_upgrade(app: AppContext, revision: str) -> None:
    """Migrate the schema to the newest revision (safe to run again).

    \b
    Example:
      comms --config /etc/comms/comms.toml db upgrade
    """
    from comms.store.db import current_revision, upgrade

    url = app.settings.database_url
    before = current_revision(url)
    upgrade(url, revision)
    click.echo(f"schema {before or 'empty'} -> {current_revision(url)}")


@db_group.command("current")
@pass_app
def db_current(app: AppContext) -> None:
    """Show the schema revision of the database and the one this comms needs.

    \b
    Example:
      comms db current
    """
    from comms.store.db import current_revision, head_revision

    click.echo(
        f"database: {current_revision(app.settings.database_url) or 'empty'}; "
        f"needed: {head_revision()}"
    )


@click.group("channels")
def channels_group() -> None:
    """Configured channels.

    \b
    Example:
      comms channels check
    """


@channels_group.command("check")
@click.argument("names", nargs=-1)
@pass_app
def channels_check(app: AppContext, names: tuple[str, ...]) -> None:
    """Check each channel's settings and credentials without posting.

    \b
    Example:
      comms channels check hjemmeside
    """
    from comms.channels.base import CheckResult
    from comms.channels.registry import create_channel
    from comms.content.danish import format_date_short
    from comms.errors import CommsError
    from comms.publishing.credentials import StoredTokens
    from comms.store.models import utcnow

    settings = app.settings
    app.ready_database()
    stored = StoredTokens(settings)  # a connected channel is checked with its stored token
    selected = [settings.channel(n) for n in names] or list(settings.channels.values())
    rows, failed = [], 0
    for channel in selected:
        try:
            result = create_channel(channel.with_tokens(stored)).check()
        except CommsError as exc:
            result = CheckResult(False, str(exc))
        failed += not result.ok
        expires = ""
        if result.expires_at is not None:
            days = (result.expires_at - utcnow()).days
            local = result.expires_at.astimezone(settings.zone)
            expires = f"{format_date_short(local)} (om {days} dage)"
        rows.append(
            [channel.name, channel.type, "ok" if result.ok else "FEJL", result.message, expires]
        )
    print_table(["kanal", "type", "status", "detaljer", "tokenet udløber"], rows)
    if failed:
        raise click.ClickException(f"{failed} kanal(er) bestod ikke tjekket")


@channels_group.command("resume")
@click.argument("name")
@pass_app
def channels_resume(app: AppContext, name: str) -> None:
    """Resume a channel paused after an auth error (once its token is renewed).

    \b
    Example:
      comms channels resume facebook
    """
    from comms.queue import transitions as queue
    from comms.store.db import session_scope

    app.settings.channel(name)
    with session_scope(app.ready_database()) as session:
        queue.resume_channel(session, name, actor=current_actor())
    click.echo(f"Kanalen {name} kører igen.")


@click.command("reconcile")
@click.argument("post_id", type=int, required=False)
@click.option("--published", "mark", flag_value="published", help="A person saw it is online.")
@click.option("--failed", "mark", flag_value="failed", help="A person saw it is not; give up.")
@click.option("--resend", "mark", flag_value="queued", help="A person saw it is not; send it.")
@click.option("--url", help="With --published: where it is.")
@pass_app
def reconcile_command(
    app: AppContext, post_id: int | None, mark: str | None, url: str | None
) -> None:
    """Settle posts left `unknown`: ask the channel where it can, else a person decides.

    \b
    Example:
      comms reconcile             # ask the channels about every unknown post
      comms reconcile 12 --published --url https://…
    """
    from comms.queue.reconcile import reconcile_all
    from comms.store.db import session_scope

    db_url = app.ready_database()
    if post_id is not None and mark:
        from comms.queue import transitions as queue

        with session_scope(db_url) as session:
            queue.resolve_unknown(session, post_id, mark, actor=current_actor(), url=url)
        click.echo(f"post {post_id}: {mark}")
        return
    from comms.publishing.credentials import StoredTokens

    results = reconcile_all(app.settings, only=post_id, tokens=StoredTokens(app.settings))
    for line in results:
        click.echo(line)
    if not results:
        click.echo("no unknown posts")


@click.group("metrics")
def metrics_group() -> None:
    """Reach and engagement figures from the channels.

    \b
    Example:
      comms metrics collect
    """


@metrics_group.command("collect")
@click.option(
    "--all",
    "collect_all",
    is_flag=True,
    help="Every published post now, not only those due by the schedule.",
)
@pass_app
def metrics_collect(app: AppContext, collect_all: bool) -> None:
    """Read figures for published posts on the schedule (+1h, +1d, +7d, +28d by default).

    \b
    Example:
      comms metrics collect
    """
    from comms.metrics import collect_due

    with progress_bar() as progress:
        summary = collect_due(app.settings, force=collect_all, progress=progress)
    click.echo(summary.line())


def register(cli: click.Group) -> None:
    from comms.cli import credentials

    credentials.register(channels_group)
    for command in (init_command, db_group, channels_group, reconcile_command, metrics_group):
        cli.add_command(command)

"""The `comms` command line: a flat click group, split into modules by who uses each command.

Imports of the heavy modules happen inside the commands, so `comms --help` starts fast.
Domain errors (`CommsError`) become one clear line on stderr and exit status 1, never a traceback.
Exit statuses: 0 done, 1 an error in a file, the data, the queue or a channel, 2 a usage error
(unknown command or option, missing or malformed argument: click's own status), 3 a bug in comms.
"""

from __future__ import annotations

import os
import sys

import click

from comms.cli.common import CONTEXT_SETTINGS, AppContext

EXIT_BUG = 3  # not 2, which is click's status for a usage error


@click.group(context_settings=CONTEXT_SETTINGS)
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    envvar="COMMS_CONFIG",
    help="Config file (default: $COMMS_CONFIG, else ./comms.toml, else built-in).",
)
@click.version_option(package_name="comms")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """comms: plan, schedule, publish and report on social-media campaigns.

    \b
    Example:
      comms campaigns validate
      comms plan --year 2027
      comms daemon
    """
    ctx.obj = AppContext(config_path)


def _register() -> None:
    from comms.cli import (
        backups,
        crisis,
        daemon,
        feeds,
        officers,
        operators,
        posts,
        staff,
        users,
        views,
    )

    for module in (officers, posts, crisis, daemon, staff, views, operators, backups, users, feeds):
        module.register(cli)
    _add_config_option(cli)


def _set_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.ensure_object(AppContext).config_path = value


def _add_config_option(group: click.Group) -> None:
    """`--config PATH` on every command too, so `comms plan --config x.toml` works."""
    for command in group.commands.values():
        if not any(p.name == "config_path" for p in command.params):
            command.params.append(
                click.Option(
                    ["--config", "config_path"],
                    metavar="PATH",
                    expose_value=False,
                    callback=_set_config,
                    help="Config file (overrides the one given before).",
                )
            )
        if isinstance(command, click.Group):
            _add_config_option(command)


def main() -> None:
    """Entry point: run the CLI, turning comms errors into one line and exit 1."""
    from comms.errors import CommsError

    _register()
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except CommsError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as exc:
        click.echo(f"Error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True)
        sys.exit(1)
    except Exception as exc:
        if os.environ.get("COMMS_DEBUG"):
            raise
        click.echo(
            f"Error: unexpected {type(exc).__name__}: {exc} (this is a bug in comms; "
            "run again with COMMS_DEBUG=1 for the details and report them)",
            err=True,
        )
        sys.exit(EXIT_BUG)

"""The `comms` command line: a flat click group, split into modules by who uses each command.

A command's module is imported only when that command runs (comms/cli/lazy.py); heavy modules
are imported inside the commands. So `comms --help` starts fast.
Domain errors (`CommsError`) become one clear line on stderr and exit status 1, never a traceback.
Exit statuses: 0 done, 1 an error in a file, the data, the queue or a channel, 2 a usage error
(unknown command or option, missing or malformed argument: click's own status), 3 a bug in comms.
"""

from __future__ import annotations

import os
import sys

import click

from comms.cli.common import CONTEXT_SETTINGS, AppContext
from comms.cli.lazy import Entry, LazyGroup

EXIT_BUG = 3  # not 2, which is click's status for a usage error

_OFFICERS = ("comms.cli.officers",)
_OPERATORS = ("comms.cli.operators",)
_CRISIS = ("comms.cli.crisis",)
_STAFF = ("comms.cli.staff",)
_VIEWS = ("comms.cli.views",)

# every command: the modules that register it, and its one-line help as `comms --help` shows it
COMMANDS = {
    "approve": Entry(
        _OFFICERS, "Approve drafts so the daemon publishes them: by id, or a whole campaign year."
    ),
    "calendar": Entry(_VIEWS, "Every planned and published post of a year as calendar events."),
    "campaigns": Entry(_OFFICERS, "Campaign files: list, validate and preview them."),
    "cancel": Entry(_OFFICERS, "Cancel posts that have not started publishing (held ones too)."),
    "channels": Entry(_OPERATORS, "Configured channels."),
    "daemon": Entry(
        ("comms.cli.daemon",),
        "Publish due, approved posts on time through each channel; stop with SIGTERM or Ctrl-C.",
    ),
    "db": Entry((*_OPERATORS, "comms.cli.backups"), "The database schema (alembic migrations)."),
    "feeds": Entry(
        ("comms.cli.feeds",), "News feeds ([feeds.NAME] in the config) that become drafts."
    ),
    "import": Entry(
        _STAFF,
        "Add posts made outside comms, and their figures, from FILE as the service exported it.",
    ),
    "init": Entry(
        _OPERATORS,
        "Write a starter config, an example campaign with its template, and the database schema.",
    ),
    "metrics": Entry(_OPERATORS, "Reach and engagement figures from the channels."),
    "pause": Entry(
        _CRISIS, "Stop every scheduled post at once (all channels, or an organisation's, or some)."
    ),
    "plan": Entry(
        _OFFICERS,
        "Put a year's posts in the queue; re-running after an edit changes only unpublished posts.",
    ),
    "post": Entry(
        ("comms.cli.posts",),
        "Write a one-off post to one or more channels: drafts that need approval, one a channel.",
    ),
    "queue": Entry(_OFFICERS, "The queue of posts."),
    "reconcile": Entry(
        _OPERATORS,
        "Settle posts left `unknown`: ask the channel where it can, else a person decides.",
    ),
    "release-held": Entry(
        _CRISIS, "Publish held posts late: they go out as soon as the daemon looks."
    ),
    "report": Entry(
        _STAFF,
        "Posts and reach per channel, channel type, campaign and focus area, "
        "with a Danish summary.",
    ),
    "reschedule": Entry(
        _OFFICERS,
        "Move a draft, queued or held post to another local time (in the configured timezone).",
    ),
    "resume": Entry(
        _CRISIS, "Lift a crisis pause (all in force, or an organisation's, or some channels')."
    ),
    "serve": Entry(
        _VIEWS, "The team's workspace in the browser: sign in, the queue, posts, calendar, report."
    ),
    "status": Entry(
        _CRISIS, "Is anything stopped? The crisis pauses in force, held posts, calls under way."
    ),
    "users": Entry(
        ("comms.cli.users",), "Accounts for the web workspace: add, list, disable, reset passwords."
    ),
}


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


@click.group(
    cls=LazyGroup, table=COMMANDS, on_load=_add_config_option, context_settings=CONTEXT_SETTINGS
)
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
    """Every command module imported now (tests walk the commands as `cli.commands`)."""
    assert isinstance(cli, LazyGroup)
    cli.load_all()


def main() -> None:
    """Entry point: run the CLI, turning comms errors into one line and exit 1."""
    from comms.errors import CommsError

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

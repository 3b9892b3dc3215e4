"""The daemon's command: publish due posts until stopped, or once with --once."""

from __future__ import annotations

import click

from comms.cli.common import AppContext, pass_app


@click.command("daemon")
@click.option("--once", is_flag=True, help="Process what is due now, then exit.")
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
@click.option(
    "--log-format",
    default="text",
    show_default=True,
    type=click.Choice(["text", "json"]),
    help="json: one object a line, for log collectors.",
)
@pass_app
def daemon_command(app: AppContext, once: bool, log_level: str, log_format: str) -> None:
    """Publish due, approved posts on time through each channel; stop with SIGTERM or Ctrl-C.

    \b
    Example:
      comms daemon
      comms daemon --once --log-format json
    """
    from comms.publishing.signals import note_stop_signals

    asked_to_stop = None if once else note_stop_signals()  # before the daemon's slow imports
    from comms.logs import setup_logging
    from comms.publishing import daemon

    settings = app.settings
    setup_logging(settings, level=log_level, fmt=log_format)
    result = daemon.start(settings, once=once, asked_to_stop=asked_to_stop)
    if once and result is not None:
        click.echo(
            f"published {result.published}, retrying {result.retrying}, failed "
            f"{result.failed}, unknown {result.unknown}, missed {result.missed}",
            err=True,
        )


def register(cli: click.Group) -> None:
    cli.add_command(daemon_command)

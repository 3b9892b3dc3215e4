"""What every command shares: the settings loaded once, the acting user, output helpers."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from datetime import date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from comms.config import Settings

# what a click option decorates: a command's function, or a command already made
FC = TypeVar("FC", bound=Callable[..., Any] | click.Command)

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class AppContext:
    """Lazily loaded settings, so `--help` never reads the config or the database."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path

    @cached_property
    def settings(self) -> Settings:
        from comms.config import load_settings

        return load_settings(self.config_path)

    @property
    def url(self) -> str:
        return self.settings.database_url

    def ready_database(self) -> str:
        """The database URL, after checking the schema is current (creating a new one)."""
        from comms.store.db import ensure_schema

        ensure_schema(self.url)
        return self.url


def current_actor() -> str:
    """Who is acting, for the audit log: $COMMS_USER, else the login name."""
    return os.environ.get("COMMS_USER") or getpass.getuser()


pass_app = click.make_pass_decorator(AppContext)

T = TypeVar("T")


def parse_date(value: str, option: str) -> date:
    """A YYYY-MM-DD option value, or a clear usage error."""
    return _parsed(date.fromisoformat, value, option, "a date like 2027-05-29")


def parse_local_datetime(value: str, option: str) -> datetime:
    """A 'YYYY-MM-DD HH:MM' option value (local wall time, naive)."""
    return _parsed(datetime.fromisoformat, value, option, "a time like '2027-05-29 08:00'")


def _parsed(parse: Callable[[str], T], value: str, option: str, example: str) -> T:
    """`parse(value)`, or a usage error saying the option's value is not `example`."""
    try:
        return parse(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not {example}", param_hint=option) from None


def output_format_option(*choices: str, default: str = "table") -> Callable[[FC], FC]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(choices)),
        default=default,
        show_default=True,
        help="Output format.",
    )

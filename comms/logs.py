"""Logging for the daemon and CLI: levels to stderr, plain or JSON lines, secrets scrubbed.

Plain lines are stamped in the configured zone, labelled (CET/CEST); JSON lines in UTC with the
offset (+00:00), as collectors expect. Every record passes a filter that replaces the values of
the secret environment variables named in the config with `***`, so a token that ends up in an
exception message from a library still never reaches a log line.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime, tzinfo

from comms.channels import registry
from comms.channels.scrub import Scrubber, channel_secrets
from comms.config import Settings


class SecretScrubber(logging.Filter):
    """Replace known secret values, in every form (percent-encoded, JSON-escaped), in the
    rendered message, its arguments and the traceback of an exception it carries."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._scrubber = Scrubber(secrets)
        self.secrets = self._scrubber.secrets

    def scrub(self, text: str) -> str:
        return self._scrubber(text)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = self.scrub(record.getMessage())
            record.args = None
            if record.exc_info:
                # a traceback quotes the exception's message and the source lines around it
                record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("post_id", "channel", "campaign", "state", "worker"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:  # already rendered (and scrubbed) by SecretScrubber
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


class ZonedFormatter(logging.Formatter):
    """Plain lines stamped in the configured zone with its label: '2027-05-28 09:30:00 CEST'.

    logging's own asctime is the machine's local time without a zone (UTC on most servers),
    which a reader takes for Danish time; the CLI shows the configured zone, so the log does too.
    """

    def __init__(self, zone: tzinfo) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(message)s")
        self.zone = zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, self.zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def secret_values(settings: Settings) -> list[str]:
    """The current values of every secret env var the config names, and the secret parts of
    the URLs a channel type declares secret (a webhook URL may carry a token in its path)."""
    values = []
    for channel in settings.channels.values():
        values += channel_secrets(channel, registry.channel_class(channel.type).secret_urls)
    return values


def setup_logging(settings: Settings, *, level: str = "INFO", fmt: str = "text") -> None:
    """Send comms' and APScheduler's logs to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(ZonedFormatter(settings.zone))
    handler.addFilter(SecretScrubber(secret_values(settings)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # a pass longer than the tick makes APScheduler skip ticks, one warning each: that is the
    # design (max_instances=1, the next tick catches up), not a problem worth a log line
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    # a new database logs its migrations ("Running upgrade 0001 -> 0002, ..."): worth a line;
    # alembic's plugin set-up and dialect notes around them are not
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    migration = logging.getLogger("alembic.runtime.migration")
    if not any(isinstance(f, _OnlyUpgrades) for f in migration.filters):
        migration.addFilter(_OnlyUpgrades())


class _OnlyUpgrades(logging.Filter):
    """Lets through alembic's warnings and its "Running upgrade/downgrade" lines only."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or str(record.msg).startswith("Running ")

"""Read the TOML config into typed settings, and resolve secrets from environment variables.

The file is found by `--config PATH`, else `$COMMS_CONFIG`, else `./comms.toml`. When none
exists the embedded default is used (SQLite `comms.db`, one `site` channel), so the main job runs
on a fresh machine with no credentials. Relative paths in the file are relative to the file's
folder, so a daemon started from any directory finds the same database and campaigns.

Secrets are never values in the file: a channel names the variable (`token_env = "COMMS_FB_TOKEN"`)
and `ChannelSettings.secret()` reads it when a call needs it.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from comms.channels import registry
from comms.channels.settings import ChannelSettings
from comms.errors import ConfigError

DEFAULT_CONFIG_NAME = "comms.toml"
CONFIG_ENV = "COMMS_CONFIG"

_TOP_KEYS = {
    "notifications",
    "timezone",
    "campaigns_dir",
    "templates_dir",
    "require_approval",
    "database",
    "channels",
    "daemon",
    "lint",
    "utm",
    "metrics",
    "report",
}
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class DaemonSettings:
    """How the daemon looks for work and how it retries."""

    tick_seconds: float = 15.0
    grace_minutes: float = 60.0
    lease_seconds: float = 300.0
    max_attempts: int = 8
    backoff_base_seconds: float = 30.0
    backoff_cap_seconds: float = 3600.0
    max_age_hours: float = 24.0


@dataclass(frozen=True)
class UtmSettings:
    """Which links get UTM tags, and the medium to tag them with."""

    domains: tuple[str, ...] = ("aalborg.dk",)
    medium: str = "social"


@dataclass(frozen=True)
class Settings:
    """The whole configuration, with every path made absolute."""

    path: Path | None
    timezone: str
    database_url: str
    campaigns_dir: Path
    templates_dir: Path
    require_approval: bool
    channels: dict[str, ChannelSettings]
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    brand: dict[str, str] = field(default_factory=dict)
    utm: UtmSettings = field(default_factory=UtmSettings)
    metrics_schedule: tuple[str, ...] = ("1h", "1d", "7d", "28d")
    focus_areas: dict[str, str] = field(default_factory=dict)
    notify_channel: str | None = None  # where notices to the team go (email or webhook)
    token_warning_days: int = 14

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def channel(self, name: str) -> ChannelSettings:
        """The named channel, or a clear error listing the configured ones."""
        try:
            return self.channels[name]
        except KeyError:
            known = ", ".join(sorted(self.channels)) or "(none)"
            raise ConfigError(
                f"unknown channel {name!r}; configured channels: {known}", path=self.path
            ) from None


def find_config_path(explicit: str | Path | None) -> Path | None:
    """`--config`, else $COMMS_CONFIG, else ./comms.toml if present, else None (defaults)."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(
                "config file not found",
                path=path,
                hint="check --config, or copy config.example.toml",
            )
        return path
    env = os.environ.get(CONFIG_ENV)
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(f"config file named by ${CONFIG_ENV} not found", path=path)
        return path
    local = Path(DEFAULT_CONFIG_NAME)
    return local if local.is_file() else None


def load_settings(explicit: str | Path | None = None) -> Settings:
    """Find and read the config; without a file, the embedded default."""
    path = find_config_path(explicit)
    if path is None:
        from importlib import resources

        text = resources.files("comms").joinpath("starter.toml").read_text(encoding="utf-8")
        return _build(tomllib.loads(text), None, Path.cwd())
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        line = _line_of(str(exc))
        raise ConfigError(
            f"not valid TOML: {exc}",
            path=path,
            line=line,
            hint="fix the syntax; config.example.toml shows every key",
        ) from None
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", path=path) from None
    return _build(data, path.resolve(), path.resolve().parent)


def _line_of(message: str) -> int | None:
    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else None


def _key_line(path: Path | None, needle: str) -> int | None:
    """The first line of the file containing `needle`, so errors point where to look."""
    if path is None:
        return None
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in text:
            return number
    return None


def _option_line(path: Path | None, channel: str, key: str) -> int | None:
    """The line of `key` in the channel's table, else the table's header line."""
    if path is None:
        return None
    lines = path.read_text(encoding="utf-8").splitlines()
    header = re.compile(rf"^\s*\[\s*channels\.{re.escape(channel)}\s*\]")
    start = next((n for n, text in enumerate(lines) if header.match(text)), None)
    if start is None:
        return _key_line(path, f"channels.{channel}")
    assignment = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
    for number in range(start + 1, len(lines)):
        if lines[number].lstrip().startswith("["):
            break
        if assignment.match(lines[number]):
            return number + 1
    return start + 1


def _build(data: dict[str, Any], path: Path | None, base: Path) -> Settings:
    def fail(message: str, needle: str, hint: str | None = None) -> ConfigError:
        return ConfigError(message, path=path, line=_key_line(path, needle), hint=hint)

    unknown = set(data) - _TOP_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise fail(f"unknown key {key!r}", key, "see config.example.toml for every key")

    timezone = data.get("timezone", "Europe/Copenhagen")
    try:
        ZoneInfo(str(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        raise fail(
            f"unknown timezone {timezone!r}",
            "timezone",
            "use an IANA name such as Europe/Copenhagen",
        ) from None

    database = _table(data, "database", fail)
    url = str(database.get("url", "sqlite:///comms.db"))
    url = _absolute_sqlite_url(url, base)

    channels_data = _table(data, "channels", fail)
    channels: dict[str, ChannelSettings] = {}
    for name, options in channels_data.items():
        if not isinstance(options, dict):
            raise fail(f"[channels.{name}] must be a table", f"channels.{name}")
        if not _NAME_RE.match(name):
            raise fail(
                f"channel name {name!r} must be lower-case letters, digits, - or _",
                f"channels.{name}",
            )
        kind = options.get("type")
        if not isinstance(kind, str) or not kind:
            raise fail(
                f"channel {name!r} has no type",
                f"channels.{name}",
                'add type = "site" (or facebook, instagram, …)',
            )
        if not registry.known(kind):
            raise fail(
                f"channel {name!r} has unknown type {kind!r}",
                f"channels.{name}",
                "known types: " + ", ".join(registry.CHANNEL_TYPES),
            )
        for key, value in options.items():
            if _looks_like_secret(key, value):
                raise fail(
                    f"channel {name!r} has a secret value in {key!r}",
                    key,
                    f'put it in an environment variable and write {key}_env = "VAR"',
                )
        for problem in registry.check_options(name, kind, options):
            line = _option_line(path, name, problem.key)
            raise ConfigError(problem.message, path=path, line=line, hint=problem.hint)
        opts = {k: v for k, v in options.items() if k != "type"}
        if kind == "site":
            for key in ("path", "state_path"):
                if key in opts:
                    opts[key] = str((base / str(opts[key])).resolve())
        channels[name] = ChannelSettings(name=name, type=kind, options=opts)

    daemon_data = _table(data, "daemon", fail)
    allowed = set(DaemonSettings.__dataclass_fields__)
    for key in daemon_data:
        if key not in allowed:
            raise fail(
                f"unknown key {key!r} in [daemon]", key, "known: " + ", ".join(sorted(allowed))
            )
    try:
        daemon = DaemonSettings(
            **{k: type(getattr(DaemonSettings, k))(v) for k, v in daemon_data.items()}
        )
    except (TypeError, ValueError) as exc:
        raise fail(f"bad value in [daemon]: {exc}", "[daemon]") from None

    lint = _table(data, "lint", fail)
    brand = {str(k): str(v) for k, v in dict(lint.get("brand", {})).items()}
    utm_data = _table(data, "utm", fail)
    utm = UtmSettings(
        domains=tuple(utm_data.get("domains", UtmSettings.domains)),
        medium=str(utm_data.get("medium", UtmSettings.medium)),
    )
    metrics = _table(data, "metrics", fail)
    schedule = tuple(str(s) for s in metrics.get("schedule", ("1h", "1d", "7d", "28d")))
    report = _table(data, "report", fail)
    notifications = _table(data, "notifications", fail)
    notify_channel = notifications.get("channel")
    if notify_channel is not None and notify_channel not in channels:
        raise fail(
            f"[notifications] channel {notify_channel!r} is not a configured channel",
            "channel =",
            "known: " + ", ".join(sorted(channels)),
        )

    return Settings(
        path=path,
        timezone=str(timezone),
        database_url=url,
        campaigns_dir=(base / str(data.get("campaigns_dir", "campaigns"))).resolve(),
        templates_dir=(base / str(data.get("templates_dir", "templates"))).resolve(),
        require_approval=bool(data.get("require_approval", True)),
        channels=channels,
        daemon=daemon,
        brand=brand,
        utm=utm,
        metrics_schedule=schedule,
        focus_areas={str(k): str(v) for k, v in dict(report.get("focus_areas", {})).items()},
        notify_channel=notify_channel,
        token_warning_days=int(notifications.get("token_warning_days", 14)),
    )


def _table(data: dict[str, Any], key: str, fail: Any) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise fail(f"{key!r} must be a table ([{key}])", key)
    return value


def _looks_like_secret(key: str, value: object) -> bool:
    """Keys such as `token` or `password` with a literal value: a secret pasted into the file."""
    lowered = key.lower()
    return (
        not lowered.endswith("_env")
        and isinstance(value, str)
        and any(word in lowered for word in ("token", "password", "secret"))
    )


def _absolute_sqlite_url(url: str, base: Path) -> str:
    """Make `sqlite:///relative.db` relative to the config's folder rather than the cwd."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str((base / url[len(prefix) :]).resolve())
    return url

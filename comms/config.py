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
from comms.feeds.settings import FeedSettings, read_feeds

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
    "feeds",
    "daemon",
    "lint",
    "utm",
    "metrics",
    "report",
    "web",
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


READABILITY_CHECKS = ("lix", "hashtags", "emoji", "alt-text")  # what `[lint] errors` may name


@dataclass(frozen=True)
class ReadabilitySettings:
    """When text is hard for citizens to read (comms.content.readability); warnings unless
    `errors` names the check."""

    lix_warn: float = 45.0
    lix_min_words: int = 10
    max_emoji: int = 3
    hashtag_min_letters: int = 8
    errors: frozenset[str] = frozenset()


@dataclass(frozen=True)
class OidcSettings:
    """Single sign-on through an OpenID Connect provider (e.g. Entra ID)."""

    issuer: str
    client_id: str
    client_secret_env: str | None = None
    roles_claim: str = "roles"
    organisation_claim: str = "organisation"
    username_claim: str = "preferred_username"
    role_map: dict[str, str] = field(default_factory=dict)  # a claim value -> a comms role
    scopes: tuple[str, ...] = ("openid", "profile", "email")

    def client_secret(self) -> str | None:
        """The client secret from its environment variable (None for a public client)."""
        if not self.client_secret_env:
            return None
        value = os.environ.get(self.client_secret_env)
        if not value:
            raise ConfigError(
                f"environment variable {self.client_secret_env} for [web.oidc] is not set",
                hint=f"export {self.client_secret_env}=... before starting comms serve",
            )
        return value


@dataclass(frozen=True)
class WebSettings:
    """The workspace in the browser: hosts it answers to, sessions, four eyes, sign-on."""

    allowed_hosts: tuple[str, ...] = ()  # empty: the bound host and localhost
    four_eyes: bool = True
    session_idle_minutes: float = 60.0
    session_hours: float = 12.0
    secure_cookies: str | bool = "auto"  # "auto": Secure when the request came over https
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")  # whose X-Forwarded-* to believe
    base_url: str | None = None  # how people reach it, for links in notices
    uploads_dir: Path | None = None  # uploaded images, outside any public folder
    oidc: OidcSettings | None = None


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
    readability: ReadabilitySettings = field(default_factory=ReadabilitySettings)
    utm: UtmSettings = field(default_factory=UtmSettings)
    metrics_schedule: tuple[str, ...] = ("1h", "1d", "7d", "28d")
    focus_areas: dict[str, str] = field(default_factory=dict)
    notify_channel: str | None = None  # where notices to the team go (email or webhook)
    token_warning_days: int = 14
    web: WebSettings = field(default_factory=WebSettings)
    feeds: dict[str, FeedSettings] = field(default_factory=dict)  # news feeds -> drafts

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

    def pause_scope(
        self, *, organisation: str | None = None, channels: tuple[str, ...] | list[str] = ()
    ) -> list[str] | None:
        """The channels a crisis pause of this scope covers: an organisation's, the named ones
        (each checked), or None for every channel."""
        if organisation is not None and channels:
            raise ConfigError("a pause covers an organisation or named channels, not both")
        if organisation is not None:
            owned = sorted(n for n, c in self.channels.items() if c.organisation == organisation)
            if not owned:
                known = sorted({c.organisation for c in self.channels.values() if c.organisation})
                raise ConfigError(
                    f"no channel belongs to organisation {organisation!r}; "
                    f"organisations: {', '.join(known) or '(none)'}",
                    path=self.path,
                )
            return owned
        if channels:
            return sorted({self.channel(name).name for name in channels})
        return None


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
                    f'put it in an environment variable and write {_env_key(key)} = "VAR"',
                )
            if key.endswith("_env") and isinstance(value, str) and not _ENV_NAME.match(value):
                # the value is not shown: it is most likely the secret itself
                raise fail(
                    f"channel {name!r}: {key} must be the NAME of an environment variable, "
                    "not the secret",
                    key,
                    f'write {key} = "COMMS_{name.upper().replace("-", "_")}_TOKEN" and put the '
                    "secret itself in that variable",
                )
        for problem in registry.check_options(name, kind, options):
            table = f"channels.{name}"
            line = _line_in_section(path, table, problem.key, otherwise=table)
            raise ConfigError(problem.message, path=path, line=line, hint=problem.hint)
        organisation = options.get("organisation")
        if organisation is not None and (
            not isinstance(organisation, str) or not _NAME_RE.match(organisation)
        ):
            raise ConfigError(
                f"channel {name!r}: organisation must be a short lower-case name",
                path=path,
                line=_line_in_section(path, f"channels.{name}", "organisation"),
                hint='e.g. organisation = "politi"',
            )
        opts = {k: v for k, v in options.items() if k not in ("type", "organisation")}
        if kind == "site":
            for key in ("path", "state_path"):
                if key in opts:
                    opts[key] = str((base / str(opts[key])).resolve())
        channels[name] = ChannelSettings(
            name=name, type=kind, options=opts, organisation=organisation
        )

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
    readability = _readability(lint, fail)
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

    require_approval = bool(data.get("require_approval", True))
    feeds, feed_problems = read_feeds(
        _table(data, "feeds", fail),
        channel_types={name: channel.type for name, channel in channels.items()},
        require_approval=require_approval,
    )
    for feed_problem in feed_problems:  # the first, where it is
        table = f"feeds.{feed_problem.feed}"
        line = _line_in_section(path, table, feed_problem.key or table, otherwise=table)
        raise ConfigError(feed_problem.message, path=path, line=line, hint=feed_problem.hint)

    return Settings(
        path=path,
        timezone=str(timezone),
        database_url=url,
        campaigns_dir=(base / str(data.get("campaigns_dir", "campaigns"))).resolve(),
        templates_dir=(base / str(data.get("templates_dir", "templates"))).resolve(),
        require_approval=require_approval,
        channels=channels,
        daemon=daemon,
        brand=brand,
        readability=readability,
        utm=utm,
        metrics_schedule=schedule,
        focus_areas={str(k): str(v) for k, v in dict(report.get("focus_areas", {})).items()},
        notify_channel=notify_channel,
        token_warning_days=int(notifications.get("token_warning_days", 14)),
        web=_web(_table(data, "web", fail), path, base),
        feeds=feeds,
    )


_LINT_KEYS = ("brand", "lix_warn", "lix_min_words", "max_emoji", "hashtag_min_letters", "errors")


def _readability(lint: dict[str, Any], fail: Any) -> ReadabilitySettings:
    """[lint]'s readability knobs, each checked: a typo or a wrong type is refused at its line."""
    import difflib

    for key in lint:
        if key not in _LINT_KEYS:
            close = difflib.get_close_matches(key, _LINT_KEYS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "known: " + ", ".join(_LINT_KEYS)
            raise fail(f"unknown key {key!r} in [lint]", key, hint)
    values: dict[str, Any] = {}
    for key in ("lix_warn", "lix_min_words", "max_emoji", "hashtag_min_letters"):
        if key not in lint:
            continue
        value = lint[key]
        whole = key != "lix_warn"
        if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
            kind = "a whole number" if whole else "a number"
            raise fail(f"[lint] {key} = {value!r} must be {kind}", key)
        if value < 0:
            raise fail(f"[lint] {key} = {value!r} must not be negative", key)
        values[key] = float(value) if not whole else value
    errors = lint.get("errors", [])
    if not isinstance(errors, list) or not all(isinstance(e, str) for e in errors):
        raise fail("[lint] errors must be a list of check names", "errors", _checks_hint())
    for name in errors:
        if name not in READABILITY_CHECKS:
            close = difflib.get_close_matches(name, READABILITY_CHECKS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else _checks_hint()
            raise fail(f"[lint] errors: unknown check {name!r}", "errors", hint)
    return ReadabilitySettings(**values, errors=frozenset(errors))


def _checks_hint() -> str:
    return "the checks: " + ", ".join(READABILITY_CHECKS)


_WEB_KEYS = {
    "allowed_hosts",
    "four_eyes",
    "session_idle_minutes",
    "session_hours",
    "secure_cookies",
    "trusted_proxies",
    "base_url",
    "uploads_dir",
    "oidc",
}
_OIDC_TEXTS = (  # the [web.oidc] keys whose value is one non-empty string
    "issuer",
    "client_id",
    "client_secret_env",
    "roles_claim",
    "organisation_claim",
    "username_claim",
)
_OIDC_KEYS = {*_OIDC_TEXTS, "role_map", "scopes"}


def _web(data: dict[str, Any], path: Path | None, base: Path) -> WebSettings:
    """The [web] table, every value checked; errors point at the key's line in [web]."""

    def fail(message: str, key: str, hint: str | None = None, section: str = "web") -> ConfigError:
        line = _line_in_section(path, section, key)
        return ConfigError(message, path=path, line=line, hint=hint)

    for key in data:
        if key not in _WEB_KEYS:
            raise fail(
                f"unknown key {key!r} in [web]", key, "known: " + ", ".join(sorted(_WEB_KEYS))
            )
    hosts = _strings(data, "allowed_hosts", fail, "web")
    proxies = _strings(data, "trusted_proxies", fail, "web", WebSettings.trusted_proxies)
    four_eyes = data.get("four_eyes", True)
    if not isinstance(four_eyes, bool):
        raise fail("[web] four_eyes must be true or false", "four_eyes")
    idle = _positive(data, "session_idle_minutes", WebSettings.session_idle_minutes, fail)
    hours = _positive(data, "session_hours", WebSettings.session_hours, fail)
    if idle > hours * 60:
        raise fail(
            "[web] session_idle_minutes is longer than session_hours",
            "session_idle_minutes",
            "the idle timeout must fit inside the absolute lifetime",
        )
    secure = data.get("secure_cookies", "auto")
    if secure != "auto" and not isinstance(secure, bool):
        raise fail('[web] secure_cookies must be "auto", true or false', "secure_cookies")
    base_url = data.get("base_url")
    if base_url is not None and (
        not isinstance(base_url, str) or not re.match(r"^https?://[^\s/]+", base_url)
    ):
        raise fail(
            "[web] base_url must be an http(s) URL", "base_url", "e.g. https://comms.example.dk"
        )
    uploads = data.get("uploads_dir", "uploads")
    if not isinstance(uploads, str) or not uploads:
        raise fail("[web] uploads_dir must be a folder path", "uploads_dir")
    oidc_data = data.get("oidc")
    if oidc_data is not None and not isinstance(oidc_data, dict):
        raise fail("[web.oidc] must be a table", "oidc")
    return WebSettings(
        allowed_hosts=hosts,
        four_eyes=four_eyes,
        session_idle_minutes=idle,
        session_hours=hours,
        secure_cookies=secure,
        trusted_proxies=proxies,
        base_url=base_url.rstrip("/") if base_url else None,
        uploads_dir=(base / uploads).resolve(),
        oidc=_oidc(oidc_data, fail) if oidc_data is not None else None,
    )


def _oidc(data: dict[str, Any], fail: Any) -> OidcSettings:
    from comms.access import Role

    def oops(message: str, key: str, hint: str | None = None) -> ConfigError:
        return fail(message, key, hint, section="web.oidc")

    for key, value in data.items():
        if _looks_like_secret(key, value):  # before "unknown key": say what is wrong with it
            raise oops(
                f"[web.oidc] has a secret value in {key!r}",
                key,
                f'put it in an environment variable and write {key}_env = "VAR"',
            )
        if key not in _OIDC_KEYS:
            raise oops(
                f"unknown key {key!r} in [web.oidc]", key, "known: " + ", ".join(sorted(_OIDC_KEYS))
            )
    texts: dict[str, str] = {}
    for key in _OIDC_TEXTS:
        value = data.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise oops(f"[web.oidc] {key} must be a non-empty string", key)
        if value is not None:
            texts[key] = value.strip()
    for key in ("issuer", "client_id"):
        if key not in texts:
            raise oops(f"[web.oidc] needs {key}", "oidc", f'add {key} = "..." to [web.oidc]')
    issuer = texts["issuer"]
    local = re.match(r"^http://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?(/|$)", issuer)
    if not issuer.startswith("https://") and not local:
        raise oops(
            "[web.oidc] issuer must be an https:// URL", "issuer", "plain http only for localhost"
        )
    if "client_secret_env" in texts and not re.match(
        r"^[A-Z_][A-Z0-9_]*$", texts["client_secret_env"]
    ):
        raise oops(
            "[web.oidc] client_secret_env must name an environment variable",
            "client_secret_env",
            'e.g. client_secret_env = "COMMS_OIDC_SECRET"',
        )
    role_map = data.get("role_map", {})
    if not isinstance(role_map, dict):
        raise oops("[web.oidc] role_map must be a table of claim value = role", "role_map")
    roles = {r.value for r in Role}
    for claim_value, role in role_map.items():
        if role not in roles:
            raise oops(
                f"[web.oidc] role_map maps {claim_value!r} to unknown role {role!r}",
                "role_map",
                "roles: " + ", ".join(sorted(roles)),
            )
    scopes = _strings(data, "scopes", oops_adapter(oops), "web.oidc", OidcSettings.scopes)
    if "openid" not in scopes:
        raise oops('[web.oidc] scopes must include "openid"', "scopes")
    return OidcSettings(
        issuer=issuer.rstrip("/"),
        client_id=texts["client_id"],
        client_secret_env=texts.get("client_secret_env"),
        roles_claim=texts.get("roles_claim", OidcSettings.roles_claim),
        organisation_claim=texts.get("organisation_claim", OidcSettings.organisation_claim),
        username_claim=texts.get("username_claim", OidcSettings.username_claim),
        role_map={str(k): str(v) for k, v in role_map.items()},
        scopes=scopes,
    )


def oops_adapter(oops: Any) -> Any:
    """Give `_strings` the (message, key, hint, section) signature over an oidc `oops`."""
    return lambda message, key, hint=None, section=None: oops(message, key, hint)


def _strings(
    data: dict[str, Any], key: str, fail: Any, section: str, default: tuple[str, ...] = ()
) -> tuple[str, ...]:
    value = data.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise fail(f"[{section}] {key} must be a list of strings", key, section=section)
    return tuple(value)


def _positive(data: dict[str, Any], key: str, default: float, fail: Any) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise fail(f"[web] {key} must be a positive number", key)
    return float(value)


def _line_in_section(
    path: Path | None, section: str, key: str, *, otherwise: str | None = None
) -> int | None:
    """The line of `key = ` inside `[section]` (else the section's header), for error locations.

    Without such a section: the first line naming `otherwise` (by default the key itself).
    """
    if path is None:
        return None
    lines = path.read_text(encoding="utf-8").splitlines()
    header = re.compile(rf"^\s*\[\s*{re.escape(section)}\s*\]")
    start = next((i for i, text in enumerate(lines) if header.match(text)), None)
    if start is None:
        return _key_line(path, otherwise or key)
    assignment = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
    for number in range(start + 1, len(lines)):
        if lines[number].lstrip().startswith("["):
            break
        if assignment.match(lines[number]):
            return number + 1
    return start + 1


def _table(data: dict[str, Any], key: str, fail: Any) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise fail(f"{key!r} must be a table ([{key}])", key)
    return value


# a key holding a secret: any of these inside it (`access_token`, `client_secret`, `api_key`) …
_SECRET_WORDS = ("token", "password", "passwd", "secret", "bearer", "apikey", "credential", "jwt")
# … or one of these as a whole part of it (`pw`, `smtp_pass`), too short to look for inside words
_SECRET_PARTS = frozenset({"pw", "pwd", "pass", "key", "auth", "pin"})
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")  # what an environment variable's name looks like


def _looks_like_secret(key: str, value: object) -> bool:
    """Keys such as `token`, `api_key`, `bearer` or `pw` with a literal value: a secret pasted
    into the file (a key ending in `_env` names a variable instead)."""
    lowered = key.lower()
    if lowered.endswith("_env") or not isinstance(value, str):
        return False
    parts = re.split(r"[_\-.]+", lowered)
    joined = "".join(parts)
    return any(word in joined for word in _SECRET_WORDS) or any(p in _SECRET_PARTS for p in parts)


def _env_key(key: str) -> str:
    """The key that names the variable instead: `token` -> `token_env`, `pw` -> `password_env`."""
    return "password_env" if key.lower() in ("pw", "pwd", "pass", "passwd") else f"{key}_env"


def _absolute_sqlite_url(url: str, base: Path) -> str:
    """Make `sqlite:///relative.db` relative to the config's folder rather than the cwd."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str((base / url[len(prefix) :]).resolve())
    return url

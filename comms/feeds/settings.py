"""The `[feeds.NAME]` tables of the config: each feed's address, channels, template and timing.

Pure: it reads the parsed TOML and names every problem with the key it concerns, so the config
loader can point at the line (as it does for a channel's options). The channels are checked
against the configured ones; a channel type that needs an image file (Instagram) is refused,
as a feed entry brings at most an image address, never a file.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from comms.channels import registry

DEFAULT_POLL_MINUTES = 15.0
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
KEYS = (
    "url",
    "channels",
    "template",
    "audience",
    "delay_minutes",
    "require_approval",
    "poll_minutes",
    "backfill",
)


@dataclass(frozen=True)
class FeedSettings:
    """One news feed: where it is, which channels its entries go to and how.

    `delay_minutes` None: the posts go out when approved (or at once without approval);
    otherwise that long after the entry's published time, or now if that has passed.
    """

    name: str
    url: str
    channels: tuple[str, ...]
    template: str
    require_approval: bool
    audience: str | None = None
    delay_minutes: float | None = None
    poll_minutes: float = DEFAULT_POLL_MINUTES
    backfill: bool = False  # make posts of the entries already there on the first poll


@dataclass(frozen=True)
class FeedProblem:
    """What is wrong with one key of `[feeds.NAME]` (key None: the table itself)."""

    feed: str
    key: str | None
    message: str
    hint: str | None = None


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


def read_feeds(
    data: Mapping[str, Any], *, channel_types: Mapping[str, str], require_approval: bool
) -> tuple[dict[str, FeedSettings], list[FeedProblem]]:
    """The feeds of the `[feeds]` table and every problem found, in file order.

    `channel_types` maps each configured channel to its type; `require_approval` is the global
    setting, each feed's default.
    """
    feeds: dict[str, FeedSettings] = {}
    problems: list[FeedProblem] = []
    for name, table in data.items():
        found = _one(name, table, channel_types, require_approval)
        if isinstance(found, FeedSettings):
            feeds[name] = found
        else:
            problems.extend(found)
    return feeds, problems


def _one(
    name: str, table: Any, channel_types: Mapping[str, str], require_approval: bool
) -> FeedSettings | list[FeedProblem]:
    if not isinstance(table, dict):
        return [FeedProblem(name, None, f"[feeds.{name}] must be a table", 'e.g. url = "..."')]
    problems: list[FeedProblem] = []

    def problem(key: str | None, message: str, hint: str | None = None) -> None:
        problems.append(FeedProblem(name, key, f"feed {name!r}: {message}", hint))

    if not _NAME_RE.match(name):
        problem(None, "a feed name must be lower-case letters, digits, - or _")
    for key in table:
        if key not in KEYS:
            problem(
                key,
                f"unknown key {key!r}",
                did_you_mean(key, KEYS) or "keys of a feed: " + ", ".join(KEYS),
            )
    url = table.get("url")
    if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url.strip()):
        problem(
            "url" if "url" in table else None,
            "url must be the feed's http(s) address" if "url" in table else "needs a url",
            'e.g. url = "https://www.aalborg.dk/nyheder/rss"',
        )
    channels = table.get("channels")
    if (
        not isinstance(channels, list)
        or not channels
        or not all(isinstance(c, str) for c in channels)
    ):
        problem(
            "channels" if "channels" in table else None,
            "channels must be a list of configured channels"
            if "channels" in table
            else "needs channels",
            'e.g. channels = ["facebook"]',
        )
        channels = []
    for channel in channels:
        kind = channel_types.get(channel)
        if kind is None:
            known = ", ".join(sorted(channel_types)) or "(none)"
            problem(
                "channels",
                f"channel {channel!r} is not configured",
                did_you_mean(channel, channel_types) or f"configured channels: {known}",
            )
        elif registry.text_rule(kind).image_required:
            problem(
                "channels",
                f"channel {channel!r} ({registry.label(kind)}) needs an image file in every post, "
                "and a feed entry brings none",
                "choose channels that can post text and a link",
            )
    if len(set(channels)) != len(channels):
        problem("channels", "a channel is listed twice")
    template = table.get("template")
    if not isinstance(template, str) or not template.strip():
        problem(
            "template" if "template" in table else None,
            "template must name a template file" if "template" in table else "needs a template",
            'a path inside the templates folder, e.g. template = "feeds/nyhed"',
        )
    audience = table.get("audience")
    if audience is not None and (not isinstance(audience, str) or not audience.strip()):
        problem("audience", "audience must be a short text", 'e.g. audience = "borgere"')
    delay = _number(table, "delay_minutes", problem, minimum=0.0)
    poll = _number(table, "poll_minutes", problem, minimum=0.0, strict=True)
    flags = {}
    for key, default in (("require_approval", require_approval), ("backfill", False)):
        value = table.get(key, default)
        if not isinstance(value, bool):
            problem(key, f"{key} must be true or false")
        flags[key] = bool(value)
    if problems:
        return problems
    assert isinstance(url, str)
    assert isinstance(template, str)
    return FeedSettings(
        name=name,
        url=url.strip(),
        channels=tuple(channels),
        template=template.strip(),
        require_approval=flags["require_approval"],
        audience=audience.strip() if isinstance(audience, str) else None,
        delay_minutes=delay,
        poll_minutes=DEFAULT_POLL_MINUTES if poll is None else poll,
        backfill=flags["backfill"],
    )


def _number(
    table: Mapping[str, Any], key: str, problem: Any, *, minimum: float, strict: bool = False
) -> float | None:
    """A number of minutes, or None when absent; a problem when not a number above `minimum`."""
    if key not in table:
        return None
    value = table[key]
    number = not isinstance(value, bool) and isinstance(value, int | float)
    if not number or (value <= minimum if strict else value < minimum):
        what = "a positive number" if strict else "a number, 0 or more"
        problem(key, f"{key} must be {what} of minutes, not {value!r}")
        return None
    return float(value)

"""Which adapter type names exist, and building an adapter for a configured channel.

Built-ins are a plain mapping from type name to module, imported only when a channel of that
type is used, so a CLI call never pays for adapters it does not touch. Every type named here has
an adapter; the config refuses any other type when it is read, so the rest of comms never has to
ask whether a configured channel can be built.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable

from comms.channels.base import Channel
from comms.channels.settings import ChannelSettings
from comms.errors import ConfigError

# type name -> "module:Class" of the adapters built so far
BUILT_IN: dict[str, str] = {
    "site": "comms.channels.site:SiteChannel",
    "stub": "comms.channels.stub:StubChannel",
    "facebook": "comms.channels.facebook:FacebookChannel",
    "instagram": "comms.channels.instagram:InstagramChannel",
    "mastodon": "comms.channels.mastodon:MastodonChannel",
    "bluesky": "comms.channels.bluesky:BlueskyChannel",
    "linkedin": "comms.channels.linkedin:LinkedinChannel",
    "x": "comms.channels.x:XChannel",
    "wordpress": "comms.channels.wordpress:WordPressChannel",
    "email": "comms.channels.email:EmailChannel",
    "webhook": "comms.channels.webhook:WebhookChannel",
}
CHANNEL_TYPES = tuple(t for t in BUILT_IN if t != "stub")  # what users configure; stub: tests


def create_channel(settings: ChannelSettings) -> Channel:
    """The adapter for a configured channel (the config refuses unknown types on load)."""
    target = BUILT_IN.get(settings.type)
    if target is None:
        raise ConfigError(
            f"channel {settings.name!r} has unknown type {settings.type!r}",
            hint="known types: " + ", ".join(CHANNEL_TYPES),
        )
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(settings)


def missing_secrets(settings: ChannelSettings) -> list[str]:
    """The environment variables this channel names for its secrets that are not set."""
    return [var for var in settings.secret_env_names() if not os.environ.get(var)]


def build_adapters(
    channels: Iterable[ChannelSettings],
) -> tuple[dict[str, Channel], dict[str, list[str]]]:
    """An adapter for every channel whose secrets are all set, and the others' missing variables.

    The one rule for a channel without its secret, for the daemon, metrics and reconcile alike:
    it gets no adapter (nothing is sent or asked), and the caller says which variable to set.
    """
    adapters: dict[str, Channel] = {}
    missing: dict[str, list[str]] = {}
    for channel in channels:
        unset = missing_secrets(channel)
        if unset:
            missing[channel.name] = unset
        else:
            adapters[channel.name] = create_channel(channel)
    return adapters, missing

"""Which adapter type names exist, and building an adapter for a configured channel.

Built-ins are a plain mapping from type name to module, imported only when a channel of that
type is used, so a CLI call never pays for adapters it does not touch.
"""

from __future__ import annotations

import importlib

from comms.channels.base import Channel
from comms.config import ChannelSettings
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
# adapters written in this change are added here by their authors, e.g.
# "mastodon": "comms.channels.mastodon:MastodonChannel"

# types a channel may be configured with before their adapter exists: posts are planned and
# imported for them, and the daemon leaves them queued
KNOWN_TYPES = (
    "site",
    "wordpress",
    "facebook",
    "instagram",
    "linkedin",
    "x",
    "mastodon",
    "bluesky",
    "email",
    "webhook",
    "stub",
)


def has_adapter(kind: str) -> bool:
    return kind in BUILT_IN


def create_channel(settings: ChannelSettings) -> Channel:
    """The adapter for a configured channel; a clear error for a type without one."""
    target = BUILT_IN.get(settings.type)
    if target is None:
        if settings.type in KNOWN_TYPES:
            raise ConfigError(
                f"channel {settings.name!r}: no adapter for type "
                f"{settings.type!r} in this version of comms"
            )
        raise ConfigError(
            f"channel {settings.name!r} has unknown type {settings.type!r}",
            hint="known types: " + ", ".join(KNOWN_TYPES),
        )
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(settings)

"""Which adapter types exist, the facts each declares, and building one for a channel.

The facts about a type (its text rule, its Danish labels, its options) are class attributes of
its adapter (comms.channels.base.Channel); everyone else asks for them here. Built-ins are a
plain mapping from type name to module, imported only when that type is asked about, so a CLI
call never pays for adapters it does not touch. Every type named here has an adapter; the config
refuses any other type, and any option its schema does not declare, when it is read."""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Iterable
from typing import Any

from comms.channels.base import Channel, PreviewCard
from comms.channels.options import Option, OptionProblem, option_problems
from comms.channels.settings import ChannelSettings
from comms.content.text import NO_RULE, TextRule
from comms.errors import ConfigError

# type name -> "module:Class" of every adapter, in the order people see them listed
BUILT_IN: dict[str, str] = {
    "site": "comms.channels.site:SiteChannel",
    "wordpress": "comms.channels.wordpress:WordPressChannel",
    "email": "comms.channels.email:EmailChannel",
    "facebook": "comms.channels.facebook:FacebookChannel",
    "instagram": "comms.channels.instagram:InstagramChannel",
    "x": "comms.channels.x:XChannel",
    "linkedin": "comms.channels.linkedin:LinkedinChannel",
    "mastodon": "comms.channels.mastodon:MastodonChannel",
    "bluesky": "comms.channels.bluesky:BlueskyChannel",
    "webhook": "comms.channels.webhook:WebhookChannel",
    "stub": "comms.channels.stub:StubChannel",
}
CHANNEL_TYPES = tuple(t for t in BUILT_IN if t != "stub")  # what users configure; stub: tests


def _unknown(kind: str, name: str | None = None) -> ConfigError:
    who = f"channel {name!r} has" if name else "there is no channel"
    return ConfigError(
        f"{who} unknown type {kind!r}", hint="known types: " + ", ".join(CHANNEL_TYPES)
    )


@functools.cache
def channel_class(kind: str) -> type[Channel]:
    """The adapter class of a type, imported the first time it is asked for."""
    target = BUILT_IN.get(kind)
    if target is None:
        raise _unknown(kind)
    module_name, class_name = target.split(":")
    cls: type[Channel] = getattr(importlib.import_module(module_name), class_name)
    return cls


def known(kind: str) -> bool:
    """True for a type name the registry has an adapter for."""
    return kind in BUILT_IN


def preview_card(kind: str) -> PreviewCard:
    """How the workspace shows a post of the type; a plain card for an unknown type."""
    return channel_class(kind).preview if known(kind) else Channel.preview


def text_rule(kind: str) -> TextRule:
    """How channels of the type count text; no rule for an unknown type (lint still runs)."""
    return channel_class(kind).text_rule if known(kind) else NO_RULE


def label(kind: str) -> str:
    """The type's short Danish name; an unknown type is shown as it is."""
    return channel_class(kind).label if known(kind) else kind


def receipt_url_problem(settings: ChannelSettings) -> str | None:
    """Why what this channel publishes has no public address a later step can link to."""
    if not known(settings.type):
        return f"channel {settings.name!r} has unknown type {settings.type!r}"
    return channel_class(settings.type).receipt_url_problem(settings)


def option_schema(kind: str) -> dict[str, Option]:
    """Every option a channel of the type takes (the common ones first)."""
    return channel_class(kind).option_schema()


def check_options(name: str, kind: str, options: dict[str, Any]) -> list[OptionProblem]:
    """What is wrong with a configured channel's options, from its type's schema."""
    return option_problems(name, kind, option_schema(kind), options)


def create_channel(settings: ChannelSettings) -> Channel:
    """The adapter for a configured channel (the config refuses unknown types on load)."""
    if not known(settings.type):
        raise _unknown(settings.type, settings.name)
    return channel_class(settings.type)(settings)


def missing_secrets(settings: ChannelSettings) -> list[str]:
    """The environment variables this channel names for its secrets that are not set; a
    connected channel's stored credentials stand in for its token and secret variables."""
    source = settings.tokens
    connected = bool(source is not None and source.secrets(settings.name))
    stored = ("token_env", "token_secret_env", "password_env") if connected else ()
    return [
        str(var)
        for key, var in settings.options.items()
        if key.endswith("_env") and var and key not in stored and not os.environ.get(str(var))
    ]


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

"""One configured channel as the adapters see it: its name, type, options and secrets.

It lives with the channels, not in config.py, so the adapters and the registry never import the
config module: the config reads the file and builds these, the channels only consume them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

from comms.channels.credentials import TokenSource
from comms.errors import ConfigError


@dataclass(frozen=True)
class ChannelSettings:
    """One named channel: an instance of an adapter type with its own options."""

    name: str
    type: str
    options: dict[str, Any]
    organisation: str | None = None  # whose channel it is: approvers of it approve its posts
    # where a connected channel's stored token comes from: set by the process that runs the
    # adapters (the daemon, a command, the workspace) with `with_tokens`; None: environment only
    tokens: TokenSource | None = field(default=None, compare=False, repr=False)

    def with_tokens(self, source: TokenSource | None) -> ChannelSettings:
        return replace(self, tokens=source)

    def get(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)

    def secret(self, key: str = "token_env") -> str:
        """The secret named by `key` (e.g. token_env): the stored token of a connected channel
        (`comms channels connect`), else the environment variable `key` names, read at call time."""
        source = self.tokens
        if source is not None:
            stored = (
                source.access_token(self.name)
                if key == "token_env"
                else source.secret(self.name, key.removesuffix("_env"))
            )
            if stored:
                return stored
        var = self.options.get(key)
        if not var:
            raise ConfigError(
                f"channel {self.name!r} has no {key} naming its secret",
                hint=f'add {key} = "COMMS_..." to [channels.{self.name}], or connect it: '
                f"comms channels connect {self.name}",
            )
        value = os.environ.get(var)
        if not value:
            raise ConfigError(
                f"environment variable {var} for channel {self.name!r} is not set",
                hint=f"export {var}=... before starting comms",
            )
        return value

    def secret_env_names(self) -> list[str]:
        """Names of the environment variables this channel reads secrets from."""
        return [str(v) for k, v in self.options.items() if k.endswith("_env") and v]

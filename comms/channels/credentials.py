"""Where an adapter's token comes from when it is not in an environment variable.

Adapters never touch the store (docs/architecture.md), yet a connected channel's token lives
there, refreshed by the daemon. So the process that runs adapters (the daemon, a command)
installs a `TokenSource` here, and `ChannelSettings.secret("token_env")` asks it first: a
channel connected with `comms channels connect` uses its stored token, any other channel its
environment variable, as before.
"""

from __future__ import annotations

import threading
from typing import Protocol

_lock = threading.Lock()
_source: TokenSource | None = None


class TokenSource(Protocol):
    """What the adapters need of the token store."""

    def access_token(self, channel: str) -> str | None:
        """The channel's current access token (refreshed first if it is about to run out),
        or None when the channel has no stored token."""

    def secret(self, channel: str, name: str) -> str | None:
        """Another stored secret of the channel (an OAuth 1.0a token secret), or None."""

    def refresh_rejected(self, channel: str) -> bool:
        """The service refused the token this thread was last given for `channel` (a 401):
        refresh once, unless another process already did; True when a new token is there."""

    def secrets(self, channel: str) -> list[str]:
        """Every stored secret of the channel, for scrubbing."""


def install(source: TokenSource | None) -> None:
    global _source
    with _lock:
        _source = source


def installed() -> TokenSource | None:
    return _source

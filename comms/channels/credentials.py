"""Where an adapter's token comes from when it is not in an environment variable.

Adapters never touch the store (docs/architecture.md), yet a connected channel's token lives
there, refreshed by the daemon. So the process that runs adapters (the daemon, a command, the
workspace) hands each channel's settings a `TokenSource` (`ChannelSettings.with_tokens`), and
`ChannelSettings.secret("token_env")` asks it first: a channel connected with `comms channels
connect` uses its stored token, any other channel its environment variable, as before. It is
carried by the settings, not kept in a global, so two databases in one process never mix.
"""

from __future__ import annotations

from typing import Protocol


class TokenSource(Protocol):
    """What the adapters need of the token store."""

    def access_token(self, channel: str) -> str | None:
        """The channel's current access token (refreshed first if it is about to run out),
        or None when the channel has no stored token."""

    def secret(self, channel: str, name: str) -> str | None:
        """Another stored secret of the channel (an OAuth 1.0a token secret), or None."""

    def refresh_rejected(self, channel: str, *, revoked: str | None = None) -> bool:
        """The service refused the token this thread was last given for `channel` (a 401):
        refresh once, unless another process already did; True when a new token is there.
        With `revoked` (the service's words: revoked, invalid, password changed) no refresh
        is tried: unless the token was replaced meanwhile, the channel pauses with a notice
        and RefreshRefused is raised."""

    def secrets(self, channel: str) -> list[str]:
        """Every stored secret of the channel, for scrubbing."""

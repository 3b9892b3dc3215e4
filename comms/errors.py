"""The error hierarchy: raise these, never return flags, so every caller knows *why* it failed.

The CLI turns any `CommsError` into one clear line and a non-zero exit; the daemon acts on the
class of a `ChannelError` (retry, wait, pause, give up), never on its message text.
"""

from __future__ import annotations

from pathlib import Path


class CommsError(Exception):
    """Base of every error comms raises on purpose."""


class LocatedError(CommsError):
    """An error in a file the user wrote: names the file, the line where known, and what to do."""

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.path = Path(path) if path is not None else None
        self.line = line
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line else f"{self.path}: "
        text = f"{where}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class ConfigError(LocatedError):
    """The configuration file is missing, malformed or names something that does not exist."""


class CampaignError(LocatedError):
    """A campaign file is malformed, or its date rule cannot give a date for a year."""


class DateRuleError(CampaignError):
    """A date rule cannot produce a date (e.g. a year not configured for an explicit rule)."""


class PostFileError(LocatedError):
    """A one-off post file for `comms post` is malformed, or names a file that is not there."""


class RenderError(LocatedError):
    """A template failed to render (syntax error, undefined variable, missing template)."""


class LintError(CommsError):
    """A rendered post breaks a channel rule (text limit, alt text, brand spelling)."""


class ImportFileError(LocatedError):
    """A CSV file for `comms import` is malformed: the first bad line, then the others."""

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        hint: str | None = None,
        details: list[str] | None = None,
    ) -> None:
        self.details = list(details or [])  # "linje 12: reach 'x' er ikke et helt tal (...)"
        super().__init__(message, path=path, line=line, hint=hint)

    def __str__(self) -> str:
        return super().__str__() + "".join(f"\n  {detail}" for detail in self.details)


class BackupError(LocatedError):
    """A backup or restore cannot go ahead: the file, the database's use or its revision."""


class InputError(CommsError):
    """Text comms cannot take (a NUL character), refused before it reaches the database."""


class QueueError(CommsError):
    """A queue action is not allowed in the post's current state."""


class SchemaError(CommsError):
    """The database schema is not at the revision this code expects."""


class FeedError(CommsError):
    """A news feed could not be fetched or read (HTTP error, timeout, not a feed); retried."""


class ChannelError(CommsError):
    """A channel call failed; subclasses say what the daemon should do about it."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class TransientError(ChannelError):
    """Try again later with backoff (5xx, timeout, reset connection).

    `maybe_delivered` says the request may have reached the service (a read timeout, a 500 after
    sending): on a channel without idempotency the post then becomes `unknown`, never resent.
    """

    def __init__(
        self, message: str, *, status: int | None = None, maybe_delivered: bool = False
    ) -> None:
        self.maybe_delivered = maybe_delivered
        super().__init__(message, status=status)


class RateLimitedError(ChannelError):
    """The channel asked us to wait `retry_after` seconds before the next call."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, status: int | None = 429
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, status=status)


class AuthError(ChannelError):
    """Credentials expired or revoked: the channel is paused until the named env var is renewed.

    `token` is what the service's answer said of the token, where it said: "expired" (a
    refresh helps) or "revoked" (revoked, invalid, password changed: only connecting the
    channel again does); None when it did not say (comms/channels/token_answer.py)."""

    def __init__(self, message: str, *, status: int | None = None, token: str | None = None):
        self.token = token
        super().__init__(message, status=status)


class RejectedError(ChannelError):
    """The channel refused the content for good (bad content, duplicate): do not retry."""


class MalformedAnswer(TransientError):
    """A service answered a call with something of the wrong shape, size or type (a 2xx whose
    id is missing, a body over the size cap, a count that is no count).

    The request had left and the service may have acted on it, so the post becomes `unknown`
    on a channel without idempotency (reconcile or a person settles it), never a blind resend.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, status=status, maybe_delivered=True)

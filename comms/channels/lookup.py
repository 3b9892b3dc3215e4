"""Finding a post that may already be out, for the adapters that have no idempotency key.

Facebook, Instagram, LinkedIn and X cannot be told "this is the same post as before", so before a
resend, after an ambiguous failure or after a "duplicate" answer they look through the account's
own recent posts for the same text, made no earlier than the post was due (less some clock skew).
The rules for that window and for what a failed look-up means live here, once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from comms.channels.base import OutgoingPost, Receipt
from comms.channels.options import Option
from comms.channels.settings import ChannelSettings
from comms.errors import ChannelError, TransientError

DUE_MARGIN = timedelta(minutes=10)  # clock skew allowed when looking for posts since due time

Finder = Callable[[OutgoingPost], Receipt | None]


def since_due(post: OutgoingPost, margin: timedelta = DUE_MARGIN) -> datetime | None:
    """When the post was due, less `margin`, in UTC; None for a post without a due time."""
    if post.scheduled_at is None:
        return None
    return post.scheduled_at.astimezone(UTC) - margin


def look_since(
    post: OutgoingPost, settings: ChannelSettings, margin: timedelta = DUE_MARGIN
) -> datetime:
    """Since when to look: the due time less `margin`, else the last `lookup_hours` (48)."""
    since = since_due(post, margin)
    if since is not None:
        return since
    hours = float(settings.get("lookup_hours", 48))
    return datetime.now(UTC) - timedelta(hours=hours)


def look_first(settings: ChannelSettings, find: Finder, post: OutgoingPost) -> Receipt | None:
    """With `lookup_before_send` (default on): the copy already out, so a resend cannot double.

    A look-up publishes nothing, so its transient failure is never "maybe delivered".
    """
    if not settings.get("lookup_before_send", True):
        return None
    try:
        return find(post)
    except TransientError as exc:
        raise TransientError(str(exc), status=exc.status, maybe_delivered=False) from None


def found_or_raise(find: Finder, post: OutgoingPost, error: ChannelError) -> Receipt:
    """After an ambiguous failure or a duplicate: the post if it is there, else `error`.

    A look-up that fails itself counts as "not found": the original error says more.
    """
    try:
        found = find(post)
    except ChannelError:
        found = None
    if found is None:
        raise error
    return found


def already_there(find: Finder, post: OutgoingPost, refusal: ChannelError) -> Receipt:
    """The service refused the post as a copy of one it holds: that one, else the refusal.

    Unlike `found_or_raise`, a look-up that fails raises its own error: the refusal says the
    post is there, so a look-up that could not run is the answer to retry.
    """
    found = find(post)
    if found is None:
        raise refusal from None
    return found


def flat(text: str | None) -> str:
    """Text with its whitespace collapsed, as services trim or re-wrap what they were sent."""
    return " ".join((text or "").split())


# the options of the adapters that look for an earlier copy before a resend
LOOKUP_OPTIONS = (
    Option(
        "lookup_before_send",
        bool,
        "before a resend, look for an earlier copy of the post so it cannot appear twice",
        default=True,
    ),
    Option("lookup_hours", float, "how far back to look for a post without a due time", default=48),
)

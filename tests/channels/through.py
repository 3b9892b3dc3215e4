"""One post of a contract's adapter through the real publisher and a real SQLite database.

The contract tests call adapters directly; what a bad answer means for a *post* (published,
failed, queued for a retry, unknown — never stuck in publishing) only shows when the daemon's
publisher claims the row, calls the adapter and records the outcome through the queue. This
does exactly that, once, and hands back the row and what the daemon logged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from comms.channels.base import Channel, OutgoingPost
from comms.config import DaemonSettings
from comms.publishing.publisher import Publisher
from comms.store.db import ensure_schema
from comms.store.models import Post, PostState
from comms.timeutil import system_clock
from tests.channels.contract import Contract
from tests.factories import add_post, get_post

SETTLED = {PostState.PUBLISHED, PostState.FAILED, PostState.QUEUED, PostState.UNKNOWN}


@dataclass
class Outcome:
    """The row after one pass, and the database file's bytes (to look for secrets in)."""

    post: Post
    db_bytes: bytes


def database(folder: Path) -> str:
    """A new SQLite database at the current schema in `folder`."""
    url = f"sqlite:///{folder / 'comms.db'}"
    ensure_schema(url)
    return url


def queue_post(url: str, channel: str, outgoing: OutgoingPost) -> int:
    """A queued, due row with the contract post's content (the publisher sends the row)."""
    return add_post(
        url,
        channel=channel,
        text=outgoing.text,
        title=outgoing.title,
        link=outgoing.link,
        image_path=str(outgoing.image_path) if outgoing.image_path else None,
        image_alt=outgoing.image_alt,
        idempotency_key=outgoing.idempotency_key,
    )


def publish_once(
    contract: Contract,
    fake: Any,
    folder: Path,
    *,
    wrap: Callable[[Channel], Channel] | None = None,
    post_id: int | None = None,
    url: str | None = None,
    outgoing: OutgoingPost | None = None,
) -> Outcome:
    """Queue `outgoing` (the contract's post by default; or take the row `post_id`), run one
    publisher pass, return the row."""
    adapter = contract.build(fake)
    if wrap is not None:
        adapter = wrap(adapter)
    name = adapter.settings.name
    url = url or database(folder)
    if post_id is None:
        post_id = queue_post(url, name, outgoing or contract.post(folder))
    publisher = Publisher(
        {name: adapter},
        threading.Event(),
        url=url,
        worker="answers-test",
        settings=DaemonSettings(backoff_base_seconds=0, backoff_cap_seconds=0),
    )
    try:
        publisher.drain({name}, clock=system_clock)
    finally:
        publisher.close()
    db_file = Path(url.removeprefix("sqlite:///"))
    return Outcome(get_post(url, post_id), db_file.read_bytes())


class RaisesAfterSending(Channel):
    """The adapter's real publish, then an exception of no ChannelError class: a bug, or a
    library failing, after the service took the post."""

    def __init__(self, inner: Channel, error: BaseException) -> None:
        super().__init__(inner.settings)
        self.inner = inner
        self.error = error
        self.idempotent = inner.idempotent  # type: ignore[misc]

    def publish(self, post: OutgoingPost) -> Any:
        self.inner.publish(post)
        raise self.error

    def find(self, post: OutgoingPost) -> Any:
        return self.inner.find(post)

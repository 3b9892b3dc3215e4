"""Which posts wait for the page they link to (a campaign step's `link_from`), and why, in Danish.

"Waiting" is not a state of its own: a post is waiting while it is still to go out (a draft or
approved) and the post whose page it links to is not published with a public address. It is
worked out from the source's state wherever people look (the queue list and a post's page, in
the CLI and the workspace), the same way the daemon's claim decides (transitions.claim_due).
A source that can no longer come out (failed, cancelled, missed, …) leaves its dependants waiting
for good: nothing goes out with a wrong link, and a person decides (reschedule the page, or
cancel the post).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo

from sqlmodel import Session, col, select

from comms.access import STATE_NAMES
from comms.content import link_from
from comms.content.danish import format_datetime
from comms.store.models import Post, PostState

# a dependant of a post in these states is still to go out, so it can wait
_STILL_TO_GO = (PostState.DRAFT, PostState.QUEUED)
# a source in these states may still come out (a person may move an expired or rejected one)
_MAY_COME = (PostState.DRAFT, PostState.QUEUED, PostState.PUBLISHING, PostState.UNKNOWN)


@dataclass(frozen=True)
class LinkWait:
    """One post waiting for its source's page: which source, in what state."""

    post_id: int
    source_id: int
    source: str  # "nyhed.hjemmeside": the source's step and channel, as link_from names it
    source_state: str
    source_at: datetime  # when the source is (or was) to go out
    published_without_address: bool = False

    @property
    def for_good(self) -> bool:
        """The source will not come out as it stands: only a person can change that."""
        return self.published_without_address or self.source_state not in _MAY_COME

    def words(self, zone: tzinfo) -> str:
        """E.g. "venter på nyhed.hjemmeside (opslag 12, planlagt 3. maj 2027 kl. 10.00)"."""
        head = f"venter på {self.source} (opslag {self.source_id}"
        if self.published_without_address:
            return head + "): den er udgivet uden en offentlig adresse, der kan linkes til"
        if not self.for_good:
            state = STATE_NAMES.get(self.source_state, self.source_state)
            when = format_datetime(self.source_at, zone)
            return f"{head}, {state}, planlagt {when})"
        state = STATE_NAMES.get(self.source_state, self.source_state)
        return (
            f"{head}, som er {state}): sendes ikke, før den er udgivet; "
            "flyt den, eller annullér dette opslag"
        )


def source_name(source: Post) -> str:
    """How link_from names a source post: its step and channel."""
    return link_from.source_text(source.step or "?", source.channel)


def waits(session: Session, posts: Iterable[Post]) -> dict[int, LinkWait]:
    """The posts among `posts` that wait for their source's page, by post id (one query)."""
    dependants = [
        p for p in posts if p.link_from_post_id is not None and p.state in _STILL_TO_GO and p.id
    ]
    if not dependants:
        return {}
    ids = sorted({int(p.link_from_post_id or 0) for p in dependants})
    sources = {s.id: s for s in session.exec(select(Post).where(col(Post.id).in_(ids))).all()}
    found: dict[int, LinkWait] = {}
    for post in dependants:
        source = sources.get(post.link_from_post_id)
        if source is None or source.id is None:
            continue
        public = (source.external_url or "").lower().startswith(("http://", "https://"))
        if source.state == PostState.PUBLISHED and public:
            continue
        found[int(post.id or 0)] = LinkWait(
            post_id=int(post.id or 0),
            source_id=source.id,
            source=source_name(source),
            source_state=source.state,
            source_at=source.scheduled_at,
            published_without_address=source.state == PostState.PUBLISHED,
        )
    return found


def wait_of(session: Session, post: Post) -> LinkWait | None:
    """The one post's wait, if it waits."""
    return waits(session, [post]).get(int(post.id or 0))

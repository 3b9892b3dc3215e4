"""The crisis banner every page shows while a pause is in force, or while held posts wait for
a person: since when, by whom, why, and how many posts are held."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, func, select

from comms.queue import pauses
from comms.queue.transitions import scope_text
from comms.store.models import CrisisPause, Post, PostState


@dataclass(frozen=True)
class Banner:
    pauses: list[CrisisPause]
    scopes: dict[int, str]  # pause id -> its scope in words
    held: int


def crisis_banner(db: Session) -> Banner | None:
    """The banner's facts, or None when nothing is paused and nothing is held."""
    in_force = pauses.active(db)
    held = db.exec(select(func.count()).select_from(Post).where(Post.state == PostState.HELD)).one()
    if not in_force and not held:
        return None
    return Banner(in_force, {int(p.id or 0): scope_text(p) for p in in_force}, held)

"""The append-only audit log: every action on a post, with who and when."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from comms.models import AuditEvent, utcnow


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    post_id: int | None = None,
    campaign: str | None = None,
    detail: str | None = None,
    at: datetime | None = None,
) -> None:
    """Append one event in the caller's transaction, so it lands exactly when the change does."""
    session.execute(
        sa.insert(AuditEvent).values(
            at=at or utcnow(),
            actor=actor,
            action=action,
            post_id=post_id,
            campaign=campaign,
            detail=detail,
        )
    )


def record_many(session: Session, rows: list[dict]) -> None:
    """Append several events at once (bulk approve, plan)."""
    if rows:
        now = utcnow()
        session.execute(sa.insert(AuditEvent), [{"at": now, **row} for row in rows])

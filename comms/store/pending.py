"""Begun authorisations (`pending_authorisation`): a sign-in or a channel connection sent to a
service, kept until the browser comes back with its key, and given out once.

They live in the database, not in one process, because the return may reach another workspace
process or server (several behind one address on PostgreSQL) or one restarted in between.

Nothing in a row completes a flow. The row's id is a SHA-256 hash of the key the browser
brings back (the OAuth `state`, the sign-in cookie's id), so reading the table gives no key to
present; what the return must be checked against (nonce, PKCE verifier, a service's client)
is in `payload`, sealed by the caller's Sealer with the row's id bound in as associated data.

Taken once: `take` is one `DELETE … RETURNING`, so of two callbacks racing for one row the
database lets exactly one delete it (on SQLite, whose write transactions queue, and on
PostgreSQL, where the second DELETE waits for the first and then finds nothing). An expired
row is deleted the same way and refused. Bounded: every `put` first deletes the expired rows
and, past `limit` rows of its kind, the oldest, so a flood of begun sign-ins cannot grow the
table without end.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from comms.store.models import PendingAuthorisation, table_of, utcnow
from comms.store.sealed import Sealer, SealError

TABLE = table_of(PendingAuthorisation)


def row_id(key: str) -> str:
    """The row's id for the key the browser holds: a hash, not the key."""
    return hashlib.sha256(b"comms-pending-authorisation:" + key.encode()).hexdigest()


def _context(kind: str, rid: str) -> str:
    return f"pending-{kind}:{rid}"


@dataclass(frozen=True)
class Taken:
    """A begun authorisation as it was put, now removed from the table."""

    kind: str
    channel: str | None
    username: str | None
    created_at: datetime
    payload: str


def put(
    session: Session,
    sealer: Sealer,
    *,
    kind: str,
    key: str,
    payload: str,
    lifetime: float,
    limit: int,
    channel: str | None = None,
    username: str | None = None,
    now: datetime | None = None,
) -> None:
    """Remember a begun authorisation under `key` for `lifetime` seconds."""
    now = now or utcnow()
    purge(session, now=now)
    count = session.exec(
        select(func.count()).select_from(TABLE).where(col(PendingAuthorisation.kind) == kind)
    ).one()
    if count >= limit:
        newest_first = (
            select(PendingAuthorisation.id)
            .where(col(PendingAuthorisation.kind) == kind)
            .order_by(col(PendingAuthorisation.created_at).desc(), col(PendingAuthorisation.id))
            .offset(max(limit - 1, 0))
        )
        session.execute(
            sa.delete(TABLE)
            .where(TABLE.c.id.in_(newest_first.scalar_subquery()))
            .execution_options(synchronize_session=False)
        )
    rid = row_id(key)
    session.execute(
        sa.insert(TABLE).values(
            id=rid,
            kind=kind,
            channel=channel,
            username=username,
            created_at=now,
            expires_at=now + timedelta(seconds=lifetime),
            payload=sealer.seal(payload, context=_context(kind, rid)),
        )
    )


def take(
    session: Session, sealer: Sealer, *, kind: str, key: str | None, now: datetime | None = None
) -> Taken | None:
    """The authorisation begun under `key`, deleted so it can never be taken again; None when
    it is unknown, already taken, of another kind, expired or does not open with `sealer`."""
    if not key:
        return None
    rid = row_id(key)
    found = session.execute(
        sa.delete(TABLE)
        .where(TABLE.c.id == rid, TABLE.c.kind == kind)
        .returning(
            TABLE.c.channel,
            TABLE.c.username,
            TABLE.c.created_at,
            TABLE.c.expires_at,
            TABLE.c.payload,
        )
        .execution_options(synchronize_session=False)
    ).first()
    if found is None or found.expires_at <= (now or utcnow()):
        return None
    try:
        payload = sealer.open(found.payload, context=_context(kind, rid))
    except SealError:  # sealed under another key (COMMS_SECRET_KEY changed since): start again
        return None
    return Taken(kind, found.channel, found.username, found.created_at, payload)


def purge(session: Session, *, now: datetime | None = None) -> int:
    """Delete every begun authorisation whose time is up; how many there were."""
    result = session.execute(
        sa.delete(TABLE)
        .where(TABLE.c.expires_at <= (now or utcnow()))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)

"""The token rows: channels' credentials stored sealed, read, replaced by compare-and-set.

Only this module writes `channel_token`. What a row holds in the clear is what people and the
refresher need without the key (kind, expiry, when it was refreshed, by whom it was connected);
everything a service would accept as a credential is inside `sealed`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from comms.store import audit
from comms.store.models import ChannelToken, utcnow
from comms.store.sealed import Sealer, SealError

# When the refresh token itself runs out (LinkedIn's `refresh_token_expires_in`): kept inside
# the seal as an ISO 8601 instant, beside the credentials it belongs to (the row has no column
# for it); the same name as comms.channels.oauth.REFRESH_EXPIRES, which the store may not import.
REFRESH_EXPIRES = "refresh_expires_at"

NOT_SECRET = frozenset(
    {"did", "handle", "scope", "token_type", "user_id", "screen_name", REFRESH_EXPIRES}
)


def credential_values(secrets: dict[str, Any]) -> list[str]:
    """The values of `secrets` that are credentials (not the facts kept beside them)."""
    return [str(v) for k, v in secrets.items() if isinstance(v, str) and v and k not in NOT_SECRET]


@dataclass(frozen=True)
class StoredToken:
    """One channel's credentials, opened."""

    channel: str
    kind: str
    secrets: dict[str, Any]
    expires_at: datetime | None
    refreshed_at: datetime | None
    connected_at: datetime
    version: int

    @property
    def access_token(self) -> str:
        return str(self.secrets.get("access_token") or "")

    @property
    def refresh_expires_at(self) -> datetime | None:
        """When the refresh token runs out, where the service said so; None: it does not (or
        there is none)."""
        return refresh_expiry(self.secrets)

    def secret_values(self) -> list[str]:
        """Every credential inside the seal: what must never be shown anywhere. Facts kept
        beside them (the account's did or handle, the scope) are not credentials: a receipt
        names the account, and masking it would make every answer look tampered with."""
        return credential_values(self.secrets)


def save(
    session: Session,
    sealer: Sealer,
    channel: str,
    *,
    kind: str,
    secrets: dict[str, Any],
    expires_at: datetime | None,
    actor: str,
) -> None:
    """Store a freshly connected channel's credentials, replacing any before."""
    now = utcnow()
    row = session.get(ChannelToken, channel)
    version = (row.version + 1) if row is not None else 1
    row = row or ChannelToken(channel=channel, kind=kind, sealed="", key_id="", connected_by="")
    row.kind, row.expires_at, row.refreshed_at = kind, expires_at, None
    row.connected_at, row.connected_by, row.version, row.last_error = now, actor, version, None
    row.sealed = sealer.seal(json.dumps(secrets), context=channel)
    row.key_id = sealer.key_id
    session.add(row)
    audit.record(session, actor=actor, action="connect-channel", detail=f"{channel} ({kind})")


def load(
    session: Session, sealer: Sealer, channel: str, *, for_update: bool = False
) -> StoredToken | None:
    """The channel's credentials opened, or None. `for_update` locks the row until the
    transaction ends (PostgreSQL's SELECT … FOR UPDATE; SQLite's BEGIN IMMEDIATE already holds
    the whole database), so one refresher at a time reads and replaces it."""
    query = select(ChannelToken).where(col(ChannelToken.channel) == channel)
    if for_update:
        query = query.with_for_update()
        session.expire_all()  # read the row again under the lock, not a copy from before
    row = session.exec(query).first()
    if row is None:
        return None
    return _opened(row, sealer)


def has_token(session: Session, channel: str) -> bool:
    return session.get(ChannelToken, channel) is not None


def replace(
    session: Session,
    sealer: Sealer,
    token: StoredToken,
    *,
    secrets: dict[str, Any],
    expires_at: datetime | None,
    now: datetime,
) -> bool:
    """Write refreshed credentials if the row is still at `token.version` (compare-and-set);
    False when another writer got there first."""
    result = session.execute(
        sa.update(ChannelToken)
        .where(
            col(ChannelToken.channel) == token.channel,
            col(ChannelToken.version) == token.version,
        )
        .values(
            sealed=sealer.seal(json.dumps(secrets), context=token.channel),
            key_id=sealer.key_id,
            expires_at=expires_at,
            refreshed_at=now,
            version=token.version + 1,
            last_error=None,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def note_failure(session: Session, channel: str, message: str) -> None:
    """Remember why the last refresh failed (a scrubbed message) for the Channels page."""
    session.execute(
        sa.update(ChannelToken)
        .where(col(ChannelToken.channel) == channel)
        .values(last_error=message[:500])
        .execution_options(synchronize_session=False)
    )


def forget(session: Session, channel: str, *, actor: str) -> bool:
    row = session.get(ChannelToken, channel)
    if row is None:
        return False
    session.delete(row)
    audit.record(session, actor=actor, action="disconnect-channel", detail=channel)
    return True


def rows(session: Session) -> list[ChannelToken]:
    """Every row as it is (sealed), for listings that show only the plain columns."""
    return list(session.exec(select(ChannelToken).order_by(col(ChannelToken.channel))).all())


def all_secret_values(session: Session, sealer: Sealer) -> list[str]:
    """Every stored secret, for the scrubbers of logs and errors."""
    values: list[str] = []
    for row in rows(session):
        if row.key_id == sealer.key_id:
            values += _opened(row, sealer).secret_values()
    return values


def rotate(session: Session, old: Sealer, new: Sealer, *, actor: str) -> tuple[int, int]:
    """Re-seal every row sealed with `old` under `new`, in the caller's one transaction;
    (re-sealed, already under the new key). A row under neither key stops it all."""
    done = already = 0
    for row in rows(session):
        if row.key_id == new.key_id:
            already += 1
            continue
        plain = old.open(row.sealed, context=row.channel)  # SealError for a third key
        row.sealed, row.key_id = new.seal(plain, context=row.channel), new.key_id
        row.version += 1
        session.add(row)
        done += 1
    audit.record(session, actor=actor, action="rotate-key", detail=f"{done} token(s)")
    return done, already


def refresh_expiry(secrets: dict[str, Any]) -> datetime | None:
    value = secrets.get(REFRESH_EXPIRES)
    if not isinstance(value, str) or not secrets.get("refresh_token"):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def refresh_expiries(session: Session, sealer: Sealer | None) -> dict[str, datetime]:
    """Each channel's refresh-token expiry, where one is known and the key opens its row."""
    found: dict[str, datetime] = {}
    if sealer is None:
        return found
    for row in rows(session):
        try:
            when = _opened(row, sealer).refresh_expires_at
        except SealError:
            continue  # under another key: the listing says what it can
        if when is not None:
            found[row.channel] = when
    return found


def _opened(row: ChannelToken, sealer: Sealer) -> StoredToken:
    secrets = json.loads(sealer.open(row.sealed, context=row.channel))
    return StoredToken(
        channel=row.channel,
        kind=row.kind,
        secrets=secrets if isinstance(secrets, dict) else {},
        expires_at=row.expires_at,
        refreshed_at=row.refreshed_at,
        connected_at=row.connected_at,
        version=row.version,
    )

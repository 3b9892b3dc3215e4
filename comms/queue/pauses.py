"""The crisis pauses in force, read so that a pause and a daemon about to send cannot cross.

The promise is: once a pause has committed, no request leaves for a channel it covers, on any
daemon; a call whose `sending` mark committed before the pause is in flight (it cannot be
recalled) and the pause lists it. So the pause and the last commit before a request, the
sending mark, must be ordered, one wholly before the other:

- On SQLite every transaction begins with `BEGIN IMMEDIATE`: writers take turns, and each reads
  everything committed before its turn.
- On PostgreSQL (READ COMMITTED) a transaction does not see a pause committed after its
  statement began, and row locks cannot wait for a row not yet inserted. So the table lock does
  it: the sending mark takes `ROW SHARE` on `crisis_pause` before it reads the pauses, a pause
  takes `EXCLUSIVE`, and the two conflict. A sending mark that holds its lock first makes the
  pause wait until it commits (and the pause then sees it as in flight); one that comes second
  waits until the pause has committed, and its next statement, with a new snapshot, sees it.
  `ROW SHARE` does not conflict with itself, so daemons never wait on each other here.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from comms.store.models import CrisisPause

_TABLE = CrisisPause.__tablename__


def _lock(session: Session, mode: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.connection().exec_driver_sql(f"LOCK TABLE {_TABLE} IN {mode} MODE")


def lock_for_sending(session: Session) -> None:
    """Order this transaction with any pause being made (see the module's docstring)."""
    _lock(session, "ROW SHARE")


def lock_for_pausing(session: Session) -> None:
    """Wait for sending marks under way to commit, and make new ones wait for this one."""
    _lock(session, "EXCLUSIVE")


def active(session: Session) -> list[CrisisPause]:
    """The pauses in force, oldest first."""
    return list(
        session.exec(
            select(CrisisPause)
            .where(col(CrisisPause.resumed_at).is_(None))
            .order_by(col(CrisisPause.paused_at), col(CrisisPause.id))
        ).all()
    )


def covering(pauses: list[CrisisPause], channel: str) -> CrisisPause | None:
    """The first of `pauses` that covers `channel`, or None."""
    return next((pause for pause in pauses if pause.covers(channel)), None)


def covered(pauses: list[CrisisPause], channels: set[str]) -> set[str]:
    """Those of `channels` some pause covers."""
    return {name for name in channels if covering(pauses, name) is not None}

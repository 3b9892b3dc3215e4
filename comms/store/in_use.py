"""Who has a SQLite database open for long: a lock file beside it, held by daemons and the web.

A restore must not pull the file from under a running daemon: the daemon would go on with open
pages of the old file and its WAL, and the queue would be a mix of two databases. SQLite's own
locks are taken per transaction, so an idle daemon holds none. Each long-running process
therefore holds a shared `flock` on `<database>.in-use` for its whole life; a restore takes the
exclusive one without waiting, and refuses when it cannot. The kernel drops the lock when the
process dies, however it dies, so a SIGKILLed daemon never leaves the database "in use".
PostgreSQL needs no file: the server knows its connections (see `backup.postgres_sessions`).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from comms.errors import BackupError
from comms.store.db import sqlite_path


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".in-use")


@contextmanager
def held_while_running(url: str) -> Iterator[None]:
    """Mark the database as in use by this process until the block ends (a no-op off SQLite).

    Waits while a restore holds the file, so a daemon started during a restore opens the
    restored database, never the old one half-replaced."""
    path = sqlite_path(url)
    if path is None:
        yield
        return
    fd = os.open(lock_path(path), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing drops the lock


@contextmanager
def held_alone(database: Path) -> Iterator[None]:
    """The database file for this process alone, for a restore; refused while others use it."""
    fd = os.open(lock_path(database), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(
                "the database is in use by a running comms daemon or workspace",
                path=database,
                hint="stop them (systemctl stop comms-daemon comms-web, or Ctrl-C), then restore",
            ) from None
        yield
    finally:
        os.close(fd)

"""Begun authorisations in the database (comms.store.pending), on SQLite and PostgreSQL: taken
once even when callbacks race, refused after their lifetime, purged, capped per kind, and
stored with no key or secret in the clear."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from comms.store import pending
from comms.store.db import dispose_all, session_scope, sqlite_path, upgrade
from comms.store.models import PendingAuthorisation, utcnow
from comms.store.sealed import Sealer, new_key
from tests.pg import BACKENDS, empty_database

SECRET = "PENDMARK-verifier-0123456789"


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with empty_database(request.param, tmp_path) as found:
        upgrade(found)
        yield found


@pytest.fixture
def sealer() -> Sealer:
    return Sealer(new_key())


def put(url: str, sealer: Sealer, key: str, *, kind: str = "oidc", **extra) -> None:  # type: ignore[no-untyped-def]
    values = {"payload": f"{SECRET}:{key}", "lifetime": 600.0, "limit": 100, **extra}
    with session_scope(url) as db:
        pending.put(db, sealer, kind=kind, key=key, **values)


def take(url: str, sealer: Sealer, key: str | None, *, kind: str = "oidc", now=None):  # type: ignore[no-untyped-def]
    with session_scope(url) as db:
        return pending.take(db, sealer, kind=kind, key=key, now=now)


def rows(url: str) -> list[PendingAuthorisation]:
    with session_scope(url) as db:
        return list(db.exec(select(PendingAuthorisation)).all())


def test_a_begun_authorisation_is_taken_once(url: str, sealer: Sealer) -> None:
    put(url, sealer, "state-1", kind="channel", channel="x", username="admin")
    taken = take(url, sealer, "state-1", kind="channel")
    assert taken is not None
    assert (taken.channel, taken.username, taken.payload) == ("x", "admin", f"{SECRET}:state-1")
    assert take(url, sealer, "state-1", kind="channel") is None
    assert rows(url) == []


def test_an_unknown_key_another_kind_or_another_sealer_gets_nothing(
    url: str, sealer: Sealer
) -> None:
    put(url, sealer, "k")
    assert take(url, sealer, "guessed") is None
    assert take(url, sealer, None) is None
    assert take(url, sealer, "k", kind="channel") is None  # a state is not a sign-in cookie
    assert take(url, Sealer(new_key()), "k") is None  # sealed under another key
    assert take(url, sealer, "k") is None  # and that try used it up


def test_of_callbacks_racing_for_one_authorisation_exactly_one_wins(
    url: str, sealer: Sealer
) -> None:
    for round_ in range(5):
        key = f"race-{round_}"
        put(url, sealer, key)
        won = race(url, sealer, key, callbacks=4)
        assert len(won) == 1, f"round {round_}: {len(won)} callbacks took it"


def race(url: str, sealer: Sealer, key: str, *, callbacks: int) -> list[object]:
    """`callbacks` threads, let go at once, each taking `key` in its own transaction."""
    barrier = threading.Barrier(callbacks)
    won: list[object] = []

    def callback() -> None:
        barrier.wait()
        found = take(url, sealer, key)
        if found is not None:
            won.append(found)

    threads = [threading.Thread(target=callback) for _ in range(callbacks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return won


def test_an_expired_authorisation_is_refused_and_gone(url: str, sealer: Sealer) -> None:
    put(url, sealer, "late", lifetime=600)
    assert take(url, sealer, "late", now=utcnow() + timedelta(seconds=601)) is None
    assert rows(url) == []


def test_putting_purges_the_expired_rows_of_every_kind(url: str, sealer: Sealer) -> None:
    past = utcnow() - timedelta(hours=1)
    put(url, sealer, "old-sign-in", now=past)
    put(url, sealer, "old-connect", kind="channel", now=past)
    put(url, sealer, "fresh")
    assert [row.id for row in rows(url)] == [pending.row_id("fresh")]


def test_each_kind_is_capped_and_the_oldest_go_first(url: str, sealer: Sealer) -> None:
    start = utcnow()
    put(url, sealer, "connect", kind="channel")
    for n in range(8):
        put(url, sealer, f"flood-{n}", limit=5, now=start + timedelta(seconds=n))
    kept = {row.id for row in rows(url) if row.kind == "oidc"}
    assert kept == {pending.row_id(f"flood-{n}") for n in range(3, 8)}
    assert take(url, sealer, "flood-0") is None
    assert take(url, sealer, "flood-7") is not None
    assert take(url, sealer, "connect", kind="channel") is not None  # other kinds untouched


def test_the_table_holds_neither_the_key_nor_the_payload_in_the_clear(
    url: str, sealer: Sealer
) -> None:
    put(url, sealer, "STATEMARK-abcdef", kind="channel", channel="x", username="admin")
    with session_scope(url) as db:
        stored = db.execute(sa.text("SELECT id, payload FROM pending_authorisation")).one()
    assert "STATEMARK" not in stored.id
    assert SECRET not in stored.payload
    path = sqlite_path(url)
    if path is not None:
        dispose_all()  # the WAL checkpointed into the file
        data = path.read_bytes() + (
            path.with_name(path.name + "-wal").read_bytes()
            if path.with_name(path.name + "-wal").exists()
            else b""
        )
        assert b"PENDMARK" not in data
        assert b"STATEMARK" not in data

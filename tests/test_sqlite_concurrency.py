"""One SQLite file, one real daemon, and 20 CLI processes writing at the same time.

The promise (docs/reliability.md §9): with WAL, a busy timeout and `BEGIN IMMEDIATE` on
every transaction, a daemon plus CLI writers on one host never lose or corrupt a write: no
"database is locked" escapes to a user, each post ends published or cancelled (never both), a
cancel that said yes is never published, and one that said no was already publishing.

The second half shows why `BEGIN IMMEDIATE` is needed: with SQLite's default deferred BEGIN a
transaction that reads and then writes (comms' cancel does: look the post up, then a guarded
UPDATE) fails at once with "database is locked" if another connection committed in between, and
the busy timeout cannot help, because its snapshot is stale (SQLITE_BUSY_SNAPSHOT). With
`BEGIN IMMEDIATE` the other writer waits instead, and the write goes through.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session, select

from comms.queue import transitions as queue
from comms.store.db import get_engine, session_scope, upgrade
from comms.store.models import Post, PostState, utcnow
from tests.factories import add_post, karneval, write_karneval
from tests.timing import wait_until

LOCKED = "database is locked"
REFUSED = "only draft or queued posts can be"


def _project(folder: Path) -> Path:
    campaign = karneval(optakt=["stub"], dagen=["stub"])
    write_karneval(folder / "campaigns", folder / "templates", campaign)
    config = folder / "comms.toml"
    config.write_text(
        textwrap.dedent(f"""
        timezone = "Europe/Copenhagen"
        require_approval = true
        [database]
        url = "sqlite:///{folder / "comms.db"}"
        [daemon]
        tick_seconds = 0.2
        [channels.stub]
        type = "stub"
        path = "{folder / "stub.jsonl"}"
        delay_seconds = 0.02
        """),
        encoding="utf-8",
    )
    return config


def _comms(config: Path, *args: str, log: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "comms", "--config", str(config), *args],
        stdout=log.open("w") if log else subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COMMS_USER": "anne"},
    )


def _deliveries(path: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            post_id = json.loads(line)["post_id"]
            counts[post_id] = counts.get(post_id, 0) + 1
    return counts


@pytest.mark.slow
def test_daemon_and_twenty_cli_writers_share_one_sqlite_file(tmp_path):
    config = _project(tmp_path)
    url = f"sqlite:///{tmp_path / 'comms.db'}"
    upgrade(url)
    t0 = utcnow()
    # queued posts falling due over the next seconds, while the CLI processes run
    queued = [add_post(url, due=t0 + timedelta(seconds=0.3 * i)) for i in range(40)]
    last_due = t0 + timedelta(seconds=0.3 * 39)
    # "when approved" drafts: due at once when approved, never expired while they wait
    drafts = [add_post(url, state=PostState.DRAFT, due=t0, on_approval=True) for _ in range(8)]

    daemon_log = tmp_path / "daemon.log"
    daemon = _comms(config, "daemon", log=daemon_log)
    cancels = queued[0:36:4]  # 9 single cancels, spread over the due times
    cancel_pair = [queued[37], queued[39]]  # one command, two posts: all or nothing
    moves = [queued[i] for i in (1, 14, 27, 38)]  # 4 reschedules, none of the above
    commands: list[tuple[str, list[int], list[str]]] = []
    commands += [("cancel", [p], ["cancel", str(p), "--reason", "test"]) for p in cancels]
    commands += [("cancel", cancel_pair, ["cancel", *map(str, cancel_pair)])]
    commands += [("reschedule", [p], ["reschedule", str(p), "2031-01-06 10:00"]) for p in moves]
    commands += [
        ("approve", drafts[i : i + 2], ["approve", *map(str, drafts[i : i + 2])])
        for i in range(0, 8, 2)
    ]
    commands += [("plan", [], ["plan", "--year", "2027"]) for _ in range(2)]
    assert len(commands) == 20
    try:
        running = [(kind, ids, _comms(config, *args)) for kind, ids, args in commands]
        results = [
            (kind, ids, proc.communicate(timeout=90)[0], proc.returncode)
            for kind, ids, proc in running
        ]

        def settled() -> bool:
            with session_scope(url) as session:
                busy = session.exec(
                    select(sa.func.count()).where(
                        sa.or_(
                            Post.state == PostState.PUBLISHING,
                            sa.and_(Post.state == PostState.QUEUED, Post.scheduled_at <= utcnow()),
                        )
                    )
                ).one()
            return busy == 0 and utcnow() > last_due  # and none still to fall due

        wait_until(settled, 60, context=daemon_log.read_text)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
    assert daemon.returncode == 0, daemon_log.read_text()

    outputs = "\n".join(out for _, _, out, _ in results) + daemon_log.read_text()
    assert LOCKED not in outputs
    assert "Traceback" not in outputs
    delivered = _deliveries(tmp_path / "stub.jsonl")
    with session_scope(url) as session:
        states = dict(session.exec(select(Post.id, Post.state)).all())
        planned = session.exec(select(Post.plan_key).where(Post.campaign == "karneval")).all()

    assert all(n == 1 for n in delivered.values()), delivered  # never published twice
    for post_id, state in states.items():  # published exactly when delivered, never both
        assert (state == PostState.PUBLISHED) == (post_id in delivered), (post_id, state)

    for kind, ids, out, code in results:
        if kind == "plan":
            assert code == 0, out
            continue
        if code == 0:  # the command said yes: it held
            expected = {
                "cancel": PostState.CANCELLED,
                "reschedule": PostState.QUEUED,
                "approve": PostState.PUBLISHED,  # approved drafts were due: the daemon sent them
            }[kind]
            assert all(states[p] == expected for p in ids), (kind, ids, out)
            if kind == "reschedule":
                assert all(p not in delivered for p in ids)
        else:  # a clean refusal: the post had started publishing before the command came
            assert code == 1, out
            assert kind in ("cancel", "reschedule"), out
            assert REFUSED in out, out
            assert any(states[p] == PostState.PUBLISHED for p in ids), (kind, ids, out)
            if kind == "cancel":  # all or nothing: no half-cancelled command
                assert not any(states[p] == PostState.CANCELLED for p in ids), (ids, out)
    # not vacuous: cancels due late won; those refused lost a real race to the daemon
    assert any(kind == "cancel" and code == 0 for kind, _, _, code in results)
    assert len(planned) == len(set(planned)) == 2  # two plans at once: one added, one no-op
    untouched = set(queued) - set(cancels) - set(cancel_pair) - set(moves)
    assert all(states[p] == PostState.PUBLISHED for p in untouched)


# --- why BEGIN IMMEDIATE ------------------------------------------------------------------------


def _deferred_engine(path: Path) -> sa.Engine:
    """comms' SQLite engine with one change: a plain (deferred) BEGIN."""
    engine = sa.create_engine(
        f"sqlite:///{path}", connect_args={"timeout": 5, "check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA busy_timeout=5000")

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:  # type: ignore[no-untyped-def]
        connection.exec_driver_sql("BEGIN")

    return engine


def _interleave_a_daemon_write(engine: sa.Engine, path: Path, other_post: int) -> dict:
    """Just before the session's first UPDATE, another process-like connection (the daemon)
    tries to commit a write of its own; records whether it got through or had to wait."""
    seen: dict = {}

    @event.listens_for(engine, "before_cursor_execute")
    def _before(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("UPDATE") and "other" not in seen:
            other = sqlite3.connect(path, timeout=0.3, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute(  # a real change: SQLite skips commits that change no byte
                    "UPDATE post SET last_error = 'daemon was here' WHERE id = ?", (other_post,)
                )
                other.execute("COMMIT")
                seen["other"] = "committed"
            except sqlite3.OperationalError as exc:
                seen["other"] = f"waited: {exc}"
            finally:
                other.close()

    seen["remove"] = lambda: event.remove(engine, "before_cursor_execute", _before)
    return seen


def test_deferred_begin_read_then_write_fails_fast_with_database_is_locked(tmp_path):
    path = tmp_path / "comms.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    mine, theirs = add_post(url), add_post(url)
    engine = _deferred_engine(path)
    seen = _interleave_a_daemon_write(engine, path, theirs)
    started = time.monotonic()
    with Session(engine) as session, pytest.raises(sa.exc.OperationalError, match=LOCKED):
        queue.cancel(session, mine, actor="anne")  # reads the post, then the guarded UPDATE
    elapsed = time.monotonic() - started
    seen["remove"]()
    engine.dispose()
    assert seen["other"] == "committed"  # the daemon's write went in between
    assert elapsed < 2.5, elapsed  # no waiting: a 5 s busy timeout cannot help a stale snapshot
    with session_scope(url) as session:
        assert session.get(Post, mine).state == PostState.QUEUED  # the cancel was lost


def test_begin_immediate_makes_the_other_writer_wait_and_the_cancel_holds(tmp_path):
    path = tmp_path / "comms.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    mine, theirs = add_post(url), add_post(url)
    engine = get_engine(url)  # comms' own engine: BEGIN IMMEDIATE
    seen = _interleave_a_daemon_write(engine, path, theirs)
    with session_scope(url) as session:
        queue.cancel(session, mine, actor="anne")
    seen["remove"]()
    assert seen["other"].startswith("waited")
    assert LOCKED in seen["other"]
    with session_scope(url) as session:
        assert session.get(Post, mine).state == PostState.CANCELLED


def test_comms_sessions_hold_the_write_lock_from_their_first_read(tmp_path):
    """The guard on the recipe itself: a comms session that has only read already holds
    SQLite's write lock, so no other writer can slip in before its write."""
    path = tmp_path / "comms.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    post_id = add_post(url)
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with session_scope(url) as session:
            session.get(Post, post_id)  # a read only
            with pytest.raises(sqlite3.OperationalError, match=LOCKED):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free again after commit
        other.execute("ROLLBACK")
    finally:
        other.close()
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_read_only_sessions_take_no_lock_refuse_writes_and_keep_their_statements(tmp_path):
    """A page's session (read_only) reads beside a writer holding the lock, and a write in it
    fails at once, loudly, however many sessions its pooled connection served before; its
    connection keeps its prepared statements between sessions (switching `query_only` per
    session would expire them all), while a normal session still writes."""
    path = tmp_path / "comms.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    post_id = add_post(url)
    writer = sqlite3.connect(path, timeout=0, isolation_level=None)
    prepared_again: list[int] = []
    try:
        writer.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        for _ in range(3):
            with session_scope(url, read_only=True) as session:
                assert session.get(Post, post_id) is not None  # reads do not wait for it
                raw = session.connection().connection.driver_connection
                again = "SELECT total(reprep) FROM sqlite_stmt WHERE sql LIKE 'SELECT post.%'"
                prepared_again.append(raw.execute(again).fetchone()[0])
        writer.execute("ROLLBACK")
        for _ in range(2):
            with session_scope(url, read_only=True) as session:
                session.add(Post(channel="x", text="skal ikke gemmes", scheduled_at=utcnow()))
                with pytest.raises(sa.exc.OperationalError, match="readonly"):
                    session.flush()
                session.rollback()
        with session_scope(url) as session:  # the writers' pool is not read-only
            post = session.get(Post, post_id)
            assert post is not None
            post.text = "rettet"
        with session_scope(url, read_only=True) as session:
            assert session.get(Post, post_id).text == "rettet"
            assert session.exec(select(Post)).all() == [session.get(Post, post_id)]
    finally:
        writer.close()
    assert prepared_again == [0, 0, 0]  # the post's SELECT was prepared once, then reused

"""The database goes away under the daemon: a PostgreSQL restart, SQLite locked or out of space.

The daemons keep running, say so once per outage (not a traceback per attempt), record what the
channels answered once the database is back, and end with every post published or `unknown`,
none twice. The PostgreSQL case restarts a real cluster of its own (`bench/db_restart`).
"""

from __future__ import annotations

import json
import logging
import re
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from comms.store.db import ensure_schema
from comms.store.models import PostState, utcnow
from comms.store.outage import Outage, is_database_unavailable, short_reason
from tests.factories import add_post, channel_table
from tests.timing import wait_until

BENCH = Path(__file__).resolve().parent.parent / "bench" / "db_restart"


def _locked_error(tmp_path: Path) -> sa.exc.DBAPIError:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.05})
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO t VALUES (1)")
    except sa.exc.DBAPIError as exc:
        return exc
    finally:
        holder.close()
        engine.dispose()
    raise AssertionError("the insert did not wait for the lock")


def test_a_locked_sqlite_file_is_an_outage_not_a_bug(tmp_path):
    error = _locked_error(tmp_path)
    assert is_database_unavailable(error)
    assert short_reason(error) == "database is locked"


def test_a_refused_postgresql_connection_is_an_outage(unused_tcp_port):
    engine = sa.create_engine(
        f"postgresql+psycopg://postgres@127.0.0.1:{unused_tcp_port}/x",
        connect_args={"connect_timeout": 2},
    )
    with pytest.raises(sa.exc.OperationalError) as caught:
        engine.connect()
    assert is_database_unavailable(caught.value)
    assert "\n" not in short_reason(caught.value)


def test_a_constraint_violation_is_not_an_outage(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x UNIQUE)")
        connection.exec_driver_sql("INSERT INTO t VALUES (1)")
    with pytest.raises(sa.exc.IntegrityError) as caught, engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO t VALUES (1)")
    assert not is_database_unavailable(caught.value)
    assert not is_database_unavailable(ValueError("database is locked"))


def test_an_outage_is_one_line_when_it_starts_and_one_when_it_ends(tmp_path, caplog):
    outage = Outage(logging.getLogger("test.outage"), base=1, cap=8)
    error = _locked_error(tmp_path)
    with caplog.at_level(logging.WARNING, logger="test.outage"):
        waits = [outage.failed(error) for _ in range(6)]
        outage.succeeded()
        outage.succeeded()  # no outage: nothing to say
    assert waits == [1, 2, 4, 8, 8, 8]
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "database unavailable",
        "database available again after 0 s",
    ]
    assert "6 failed attempt(s)" in caplog.records[1].getMessage()
    assert not outage.ongoing


@pytest.fixture
def unused_tcp_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_two_restarts_of_the_postgresql_cluster_under_two_daemons():
    result = subprocess.run(
        [sys.executable, str(BENCH), "--daemons", "2", "--posts", "1200", "--timeout", "200"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = re.search(r"^RESULT db-restart .*$", result.stdout, re.MULTILINE)
    assert line, result.stderr
    figures = dict(pair.split("=") for pair in line.group(0).split()[2:])
    assert result.returncode == 0, result.stderr
    assert figures["restarts"] == "2"
    assert (figures["duplicates"], figures["lost"], figures["tracebacks"]) == ("0", "0", "0")
    assert int(figures["outage_lines"]) <= 4  # at most one per daemon per restart


@pytest.mark.slow
def test_sqlite_out_of_space_the_daemon_waits_and_the_file_stays_whole(tmp_path):
    """The daemon may not grow its files past a limit (RLIMIT_FSIZE: a disk that is full for
    it); it says so once, keeps running, and once the limit is lifted publishes every post once."""
    deliveries = tmp_path / "deliveries.jsonl"
    config = tmp_path / "comms.toml"
    database = tmp_path / "comms.db"
    config.write_text(
        # a short lease: a claim whose sending mark failed in the outage was not sent, and
        # comes back when its lease runs out
        f'[database]\nurl = "sqlite:///{database}"\n[daemon]\ntick_seconds = 0.2\n'
        "lease_seconds = 3\n" + channel_table("stub", "stub", path=str(deliveries)),
        encoding="utf-8",
    )
    url = f"sqlite:///{database}"
    ensure_schema(url)
    for n in range(60):
        add_post(url, due=utcnow(), text=f"Opslag {n}", approved_by="anna")
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    limit = database.stat().st_size + 16 * 1024  # room for a few commits, not for sixty

    def cap_file_size() -> None:
        # the soft limit only: lifting it later needs no privilege
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    log = tmp_path / "daemon.log"
    with log.open("w") as out:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "comms", "--config", str(config), "daemon"],
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=cap_file_size,
        )
    try:
        wait_until(lambda: "database unavailable" in log.read_text(), timeout=60)
        assert daemon.poll() is None, log.read_text()
        unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
        resource.prlimit(daemon.pid, resource.RLIMIT_FSIZE, unlimited)  # space again
        wait_until(lambda: _open(database) == 0, timeout=90, context=log.read_text)
    finally:
        daemon.send_signal(signal.SIGINT)
        daemon.wait(30)
    text = log.read_text()
    assert "Traceback" not in text, text
    assert text.count("database unavailable") <= 2, text
    keys = [json.loads(line)["key"] for line in deliveries.read_text().splitlines()]
    assert len(keys) == len(set(keys))
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        states = dict(db.execute("SELECT state, count(*) FROM post GROUP BY state"))
    assert set(states) <= {PostState.PUBLISHED, PostState.UNKNOWN}, states
    assert states.get(PostState.PUBLISHED, 0) + states.get(PostState.UNKNOWN, 0) == 60


def _open(database: Path) -> int:
    with sqlite3.connect(database) as db:
        (count,) = db.execute(
            "SELECT count(*) FROM post WHERE state IN ('queued', 'publishing')"
        ).fetchone()
    return int(count)

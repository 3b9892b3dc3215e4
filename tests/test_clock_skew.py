"""Daemons on hosts whose clocks are off by ten minutes, on one PostgreSQL database.

Each daemon takes "now" from the database server (comms.store.clock), so a host 10 minutes fast
neither publishes early nor takes over live leases, and one 10 minutes slow neither publishes
late nor holds on to dead ones. The skewed daemons run under libfaketime (Debian `faketime`),
which shifts every clock the process reads, Python's and libpq's alike.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from comms.store.clock import DatabaseClock
from comms.store.db import dispose_all, get_engine, upgrade
from comms.store.models import Post, PostState
from tests.factories import channel_table
from tests.pg import pg_url  # noqa: F401  (fixture)
from tests.timing import wait_until

SKEWS = {"correct": 0, "fast": +600, "slow": -600}  # seconds the host's clock is off
TICK = 0.3


def test_the_database_clock_follows_the_server_not_the_host(pg_url):  # noqa: F811
    def server_now() -> datetime:
        with get_engine(pg_url).connect() as connection:
            return connection.execute(sa.text("SELECT now()")).scalar_one()

    monotonic = [100.0]
    clock = DatabaseClock(pg_url, resync_seconds=60, monotonic=lambda: monotonic[0])
    first = clock()
    assert abs((first - server_now()).total_seconds()) < 2
    assert first.utcoffset() == timedelta(0)
    monotonic[0] = 107.5
    assert clock() - first == timedelta(seconds=7.5)  # carried by the monotonic clock
    monotonic[0] = 200.0  # a minute and more on: measured again, from the server
    assert abs((clock() - server_now()).total_seconds()) < 2


def _env(skew: int) -> dict[str, str]:
    """The environment of a process whose wall clock is `skew` seconds off (libfaketime
    preloaded into it, not through the `faketime` wrapper, so the pid is the process's own)."""
    env = dict(os.environ)
    if skew:
        env |= {"LD_PRELOAD": str(_libfaketime()), "FAKETIME": f"{skew:+d}s"}
    return env


def _daemon(config: Path, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "comms", "--config", str(config), "daemon"]
    with log.open("w") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, cwd=config.parent, env=_env(0)
        )


def _passes(config: Path, skew: int, log: Path, pids: dict[int, int], stop: threading.Event):
    """A skewed host's daemon, one `comms daemon --once` pass after another until `stop`.

    Passes, not a long-running daemon: under libfaketime every timed wait of a threading
    primitive (APScheduler's, between ticks) is stretched or cut by the offset, which would test
    libfaketime rather than comms. Each pass claims, leases and publishes as the daemon does."""
    command = [sys.executable, "-m", "comms", "--config", str(config), "daemon", "--once"]
    with log.open("w") as out:
        while not stop.is_set():
            proc = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, cwd=config.parent, env=_env(skew)
            )
            pids[proc.pid] = skew
            proc.wait(120)


def _libfaketime() -> Path:
    """The library Debian's `faketime` wrapper preloads (its path is in the wrapper)."""
    wrapper = shutil.which("faketime")
    assert wrapper is not None
    for candidate in sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1")):
        return candidate
    raise AssertionError("faketime is installed but libfaketime.so.1 was not found")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("faketime") is None, reason="needs Debian's faketime (.ci/run)")
def test_skewed_daemons_neither_publish_early_nor_steal_leases(pg_url, tmp_path):  # noqa: F811
    upgrade(pg_url)
    deliveries = tmp_path / "deliveries.jsonl"
    config = tmp_path / "comms.toml"
    config.write_text(
        f'[database]\nurl = "{pg_url}"\n[daemon]\ntick_seconds = {TICK}\nlease_seconds = 4\n'
        + channel_table("stub", "stub", path=str(deliveries), delay_seconds=0.2),
        encoding="utf-8",
    )
    with get_engine(pg_url).connect() as connection:
        start = connection.execute(sa.text("SELECT now()")).scalar_one() + timedelta(seconds=8)
    posts = 240
    rows = [
        {
            "source": "plan",
            "channel": "stub",
            "text": f"Opslag {n}",
            "scheduled_at": start + timedelta(seconds=n * 0.05),  # over 12 s
            "state": PostState.QUEUED,
            "approved_by": "anna",
            "idempotency_key": f"key-{n}",
            "attempts": 0,
            "dst_adjusted": False,
            "on_approval": False,
            "created_at": start,
            "updated_at": start,
        }
        for n in range(posts)
    ]
    with get_engine(pg_url).begin() as connection:
        connection.execute(sa.insert(Post.__table__), rows)  # type: ignore[attr-defined]
    dispose_all()

    stop = threading.Event()
    skew_of_pid: dict[int, int] = {}
    correct = _daemon(config, tmp_path / "correct.log")
    skew_of_pid[correct.pid] = 0
    hosts = [
        threading.Thread(
            target=_passes, args=(config, skew, tmp_path / f"{name}.log", skew_of_pid, stop)
        )
        for name, skew in SKEWS.items()
        if skew
    ]
    for host in hosts:
        host.start()
    try:
        wait_until(lambda: _open(pg_url) == 0, timeout=120, every=0.5)
    finally:
        stop.set()
        correct.send_signal(signal.SIGTERM)
        correct.wait(60)
        for host in hosts:
            host.join(150)
    logs = {name: (tmp_path / f"{name}.log").read_text() for name in SKEWS}
    assert all("Traceback" not in text for text in logs.values()), logs

    lines = [json.loads(line) for line in deliveries.read_text().splitlines()]
    keys = [line["key"] for line in lines]
    assert len(keys) == len(set(keys)), "a post was delivered twice"
    assert len(keys) == posts, _states_now(pg_url)
    with get_engine(pg_url).connect() as connection:
        due = dict(connection.execute(sa.select(Post.idempotency_key, Post.scheduled_at)).all())
        states = dict(
            connection.execute(sa.select(Post.state, sa.func.count()).group_by(Post.state)).all()
        )
    assert states == {PostState.PUBLISHED: posts}, states  # none taken over, none unknown
    by_skew = dict.fromkeys(SKEWS.values(), 0)
    for line in lines:
        # the delivery's real time: the host's clock (as the stub read it) less its skew
        delivered = datetime.fromtimestamp(line["at"] - skew_of_pid[line["pid"]], UTC)
        early = (due[line["key"]] - delivered).total_seconds()
        assert early <= TICK + 0.5, f"{line['key']} went out {early:.1f} s before its time"
        by_skew[skew_of_pid[line["pid"]]] += 1
    assert all(by_skew.values()), (by_skew, logs)  # every host, skewed or not, took part


def _open(url: str) -> int:
    with get_engine(url).connect() as connection:
        return int(
            connection.execute(
                sa.select(sa.func.count()).where(
                    Post.state.in_([PostState.QUEUED, PostState.PUBLISHING])  # type: ignore[attr-defined]
                )
            ).scalar_one()
        )


def _states_now(url: str) -> dict[str, int]:
    with get_engine(url).connect() as connection:
        return dict(
            connection.execute(sa.select(Post.state, sa.func.count()).group_by(Post.state)).all()
        )

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


def _daemon(config: Path, skew: int, log: Path) -> subprocess.Popen:
    """A daemon process whose every clock is `skew` seconds off (libfaketime preloaded into it,
    not through the `faketime` wrapper, so the pid is the daemon's own)."""
    command = [sys.executable, "-m", "comms", "--config", str(config), "daemon"]
    env = dict(os.environ)
    if skew:
        env |= {"LD_PRELOAD": str(_libfaketime()), "FAKETIME": f"{skew:+d}s"}
    with log.open("w") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, cwd=config.parent, env=env
        )


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

    daemons = {
        name: _daemon(config, skew, tmp_path / f"{name}.log") for name, skew in SKEWS.items()
    }
    skew_of_pid = {proc.pid: SKEWS[name] for name, proc in daemons.items()}
    try:
        wait_until(lambda: _open(pg_url) == 0, timeout=120, every=0.5)
    finally:
        for proc in daemons.values():
            proc.send_signal(signal.SIGTERM)
        for proc in daemons.values():
            proc.wait(60)
    logs = {name: (tmp_path / f"{name}.log").read_text() for name in SKEWS}
    assert all("Traceback" not in text for text in logs.values()), logs

    lines = [json.loads(line) for line in deliveries.read_text().splitlines()]
    keys = [line["key"] for line in lines]
    assert len(keys) == len(set(keys)), "a post was delivered twice"
    assert len(keys) == posts
    with get_engine(pg_url).connect() as connection:
        due = dict(connection.execute(sa.select(Post.idempotency_key, Post.scheduled_at)).all())
        states = dict(
            connection.execute(sa.select(Post.state, sa.func.count()).group_by(Post.state)).all()
        )
    assert states == {PostState.PUBLISHED: posts}, states  # none taken over, none unknown
    by_daemon = dict.fromkeys(skew_of_pid, 0)
    for line in lines:
        # the delivery's real time: the host's clock (as the stub read it) less its skew
        delivered = datetime.fromtimestamp(line["at"] - skew_of_pid[line["pid"]], UTC)
        early = (due[line["key"]] - delivered).total_seconds()
        assert early <= TICK + 0.5, f"{line['key']} went out {early:.1f} s before its time"
        by_daemon[line["pid"]] += 1
    assert sum(1 for n in by_daemon.values() if n) >= 2, (by_daemon, logs)  # they shared the work


def _open(url: str) -> int:
    with get_engine(url).connect() as connection:
        return int(
            connection.execute(
                sa.select(sa.func.count()).where(
                    Post.state.in_([PostState.QUEUED, PostState.PUBLISHING])  # type: ignore[attr-defined]
                )
            ).scalar_one()
        )

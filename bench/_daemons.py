"""What the several-daemon harnesses share (bench/multi_daemon, bench/db_restart): a database of
posts all due at once on a `stub` channel that logs each delivery, `comms daemon` processes on it,
and counting what was delivered how often.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import _common  # noqa: F401  (puts the project on sys.path)
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from comms.store.db import dispose_all, get_engine
from comms.store.models import Post, PostState

DEFAULT_URL = os.environ.get(
    "COMMS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
OPEN_STATES = (PostState.QUEUED, PostState.PUBLISHING)


def log(message: str) -> None:
    script = Path(sys.argv[0]).name
    print(f"[{script} {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the database -------------------------------------------------------------------------------


def _admin(url: str, sql: str) -> None:
    import psycopg

    parsed = make_url(url)
    with psycopg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        dbname=parsed.database,
        connect_timeout=5,
        autocommit=True,
    ) as conn:
        conn.execute(sql)


def create_database(server_url: str) -> str:
    name = f"comms_bench_{uuid.uuid4().hex[:10]}"
    _admin(server_url, f'CREATE DATABASE "{name}"')
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, url: str) -> None:
    dispose_all()
    _admin(server_url, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


def insert_posts(url: str, count: int, due: datetime) -> None:
    """Bulk insert (executemany in chunks): M approved posts due at the same instant."""
    table = Post.__table__
    now = datetime.now(UTC)
    rows = [
        {
            "source": "plan",
            "campaign": "bench",
            "channel": "stub",
            "title": f"Bench {i}",
            "text": f"Bench post {i}",
            "scheduled_at": due,
            "state": PostState.QUEUED,
            "approved_by": "bench",
            "approved_at": now,
            "idempotency_key": str(uuid.uuid4()),
            "attempts": 0,
            "dst_adjusted": False,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(count)
    ]
    with get_engine(url).begin() as conn:
        for start in range(0, len(rows), 1000):
            conn.execute(sa.insert(table), rows[start : start + 1000])


def state_counts(url: str) -> dict[str, int]:
    with get_engine(url).connect() as conn:
        rows = conn.execute(sa.select(Post.state, sa.func.count()).group_by(Post.state)).all()
    return dict(rows)


def claims_of(url: str, pid: int) -> tuple[int, int]:
    """(claims held, of which already sending) by the daemon with this pid."""
    with get_engine(url).connect() as conn:
        held, sending = conn.execute(
            sa.select(sa.func.count(), sa.func.count(Post.sending_at)).where(
                Post.state == PostState.PUBLISHING, Post.lease_owner.like(f"%:{pid}:%")
            )
        ).one()
    return held, sending


def write_config(folder: Path, url: str, args: argparse.Namespace, *, fsync: bool = True) -> Path:
    """The daemons' config; `fsync=False` makes the stub answer at once (no disk flush)."""
    config = folder / "comms.toml"
    config.write_text(
        f"""timezone = "Europe/Copenhagen"
require_approval = true

[database]
url = "{url}"

[daemon]
tick_seconds = {args.tick}
lease_seconds = {args.lease}

[channels.stub]
type = "stub"
path = "{folder / "deliveries.jsonl"}"
fsync = {"true" if fsync else "false"}
""",
        encoding="utf-8",
    )
    return config


class Daemons:
    def __init__(self, config: Path, folder: Path) -> None:
        self.config, self.folder = config, folder
        self.procs: list[subprocess.Popen] = []
        self.killed: list[subprocess.Popen] = []
        self.started = 0

    def start(self) -> subprocess.Popen:
        self.started += 1
        logfile = (self.folder / f"daemon-{self.started}.log").open("w")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "comms",
                "--config",
                str(self.config),
                "daemon",
                "--log-level",
                "WARNING",
            ],
            stdout=logfile,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=self.folder,
        )
        logfile.close()
        return proc

    def start_all(self, n: int) -> None:
        self.procs = [self.start() for _ in range(n)]

    def kill(self, index: int) -> subprocess.Popen:
        victim = self.procs[index]
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        self.killed.append(victim)
        self.procs[index] = self.start()
        return victim

    def died(self) -> list[subprocess.Popen]:
        return [p for p in self.procs if p.poll() is not None]

    def stop(self, timeout: float = 30) -> list[int | None]:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = []
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            try:
                codes.append(proc.wait(timeout=max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                codes.append(None)
        return codes


# --- counting -----------------------------------------------------------------------------------


def read_deliveries(path: Path) -> tuple[collections.Counter, collections.Counter, int]:
    """Deliveries per post id, per pid, and lines that are not whole JSON (a kill mid-write)."""
    per_post: collections.Counter = collections.Counter()
    per_pid: collections.Counter = collections.Counter()
    broken = 0
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                broken += 1
                continue
            per_post[entry["post_id"]] += 1
            per_pid[entry["pid"]] += 1
    return per_post, per_pid, broken


def final_states(url: str) -> dict[int, str]:
    with get_engine(url).connect() as conn:
        return dict(conn.execute(sa.select(Post.id, Post.state)).all())

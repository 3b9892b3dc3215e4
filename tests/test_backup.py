"""`comms db backup` and `comms db restore`: a consistent copy, and a restored queue that never
publishes a post twice."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from comms.store.db import dispose_all
from comms.store.models import PostState, utcnow
from tests.cli import comms_cli, run_comms
from tests.factories import add_post, channel_table, get_post
from tests.timing import wait_until

cli = comms_cli()


def run(config: Path, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, ["--config", str(config), *args])
    assert result.exit_code == code, result.output
    # a comms error reaches the caller of the group as the exception `comms` would print
    return result.output + (str(result.exception) if result.exception else "")


def database_of(settings) -> Path:  # type: ignore[no-untyped-def]
    return Path(settings.database_url.removeprefix("sqlite:///"))


def states(path: Path) -> dict[int, str]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT id, state FROM post"))


def test_backup_is_a_private_single_file_that_restores_every_post(make_settings, tmp_path):
    settings = make_settings()
    url = settings.database_url
    due_later = utcnow() + timedelta(days=3)
    ids = [add_post(url, due=due_later, text=f"Opslag {n}") for n in range(5)]
    add_post(url, state=PostState.PUBLISHED, external_id="x-1")

    out = run(settings.path, "db", "backup", str(tmp_path / "b.db"))
    assert "backup written" in out
    assert "5 queued" in out
    assert "1 published" in out
    backup = tmp_path / "b.db"
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert not (tmp_path / "b.db-wal").exists()

    # the queue moves on after the backup; the restore brings back the backup's queue
    for post_id in ids[:3]:
        run(settings.path, "cancel", str(post_id))
    dispose_all()
    out = run(settings.path, "db", "restore", str(backup))
    assert "restored" in out
    assert "kept as" in out
    restored = states(database_of(settings))
    assert [restored[i] for i in ids] == [PostState.QUEUED] * 5
    kept = next(tmp_path.glob("comms.db.before-restore-*"))
    with sqlite3.connect(kept) as db:
        cancelled = db.execute("SELECT count(*) FROM post WHERE state = 'cancelled'").fetchone()
    assert cancelled == (3,)  # the replaced database is kept, with what was done since


def test_backup_refuses_to_overwrite_unless_told(make_settings, tmp_path):
    settings = make_settings()
    target = tmp_path / "b.db"
    target.write_text("older backup")
    out = run(settings.path, "db", "backup", str(target), code=1)
    assert "exists already" in out
    assert "--replace" in out
    assert target.read_text() == "older backup"
    run(settings.path, "db", "backup", str(target), "--replace")
    assert target.read_bytes().startswith(b"SQLite format 3")
    out = run(settings.path, "db", "backup", str(database_of(settings)), "--replace", code=1)
    assert "overwrite the database itself" in out


def test_restore_settles_what_may_have_gone_out_after_the_backup(make_settings, tmp_path):
    settings = make_settings()
    url = settings.database_url
    sending = add_post(url, state=PostState.PUBLISHING, lease_owner="host:1:x")
    due = add_post(url, due=utcnow() - timedelta(minutes=1))
    later = add_post(url, due=utcnow() + timedelta(hours=2))
    draft = add_post(url, state=PostState.DRAFT, due=utcnow() - timedelta(minutes=1))
    run(settings.path, "db", "backup", str(tmp_path / "b.db"))
    dispose_all()

    out = run(settings.path, "db", "restore", str(tmp_path / "b.db"))
    assert "2 post(s) may have gone out" in out
    assert "comms reconcile" in out
    assert get_post(url, sending).state == PostState.UNKNOWN
    assert get_post(url, sending).lease_owner is None
    assert get_post(url, due).state == PostState.UNKNOWN
    assert get_post(url, later).state == PostState.QUEUED
    assert get_post(url, draft).state == PostState.DRAFT
    with sqlite3.connect(database_of(settings)) as db:
        actions = {row[0] for row in db.execute("SELECT action FROM audit_event")}
    assert "restored:unknown" in actions


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a database at all, just text" * 100, "not an SQLite database"),
        (None, "not one of comms"),
    ],
)
def test_restore_refuses_files_that_are_not_comms_backups(
    make_settings, tmp_path, content, message
):
    settings = make_settings()
    add_post(settings.database_url)
    before = states(database_of(settings))
    source = tmp_path / "other.db"
    if content is None:
        with sqlite3.connect(source) as db:
            db.execute("CREATE TABLE notes (text)")
    else:
        source.write_bytes(content)
    dispose_all()
    out = run(settings.path, "db", "restore", str(source), code=1)
    assert message in out
    assert states(database_of(settings)) == before
    assert not list(tmp_path.glob("*.restoring"))


def test_restore_refuses_a_backup_of_a_newer_comms(make_settings, tmp_path):
    settings = make_settings()
    run(settings.path, "db", "backup", str(tmp_path / "b.db"))
    with sqlite3.connect(tmp_path / "b.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '9999_future'")
    dispose_all()
    out = run(settings.path, "db", "restore", str(tmp_path / "b.db"), code=1)
    assert "9999_future" in out
    assert "does not know" in out


def test_restore_brings_an_old_backup_to_the_current_schema(make_settings, tmp_path):
    from comms.store.db import downgrade, head_revision

    old = make_settings(schema=False)
    old_db = tmp_path / "old.db"
    downgrade_url = f"sqlite:///{old_db}"
    from comms.store.db import upgrade

    upgrade(downgrade_url)
    downgrade(downgrade_url, "0001")
    dispose_all()
    out = run(old.path, "db", "restore", str(old_db))
    assert "schema 0001" in out
    assert head_revision() in run(old.path, "db", "current")


def test_restore_refuses_while_a_daemon_has_the_database(make_settings, tmp_path):
    settings = make_settings()
    run(settings.path, "db", "backup", str(tmp_path / "b.db"))
    daemon = subprocess.Popen(
        [sys.executable, "-m", "comms", "--config", str(settings.path), "daemon"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lock = database_of(settings).with_name("comms.db.in-use")
        wait_until(lambda: _locked(lock), timeout=30)
        result = run_comms("--config", str(settings.path), "db", "restore", str(tmp_path / "b.db"))
        assert result.returncode == 1, result.stderr
        assert "in use by a running comms daemon" in result.stderr
    finally:
        daemon.send_signal(signal.SIGINT)
        daemon.wait(30)
    # once it stopped, the restore goes ahead
    result = run_comms("--config", str(settings.path), "db", "restore", str(tmp_path / "b.db"))
    assert result.returncode == 0, result.stderr


def _locked(lock: Path) -> bool:
    import fcntl

    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_postgres_prints_the_servers_own_commands(tmp_path):
    config = tmp_path / "comms.toml"
    config.write_text(
        '[database]\nurl = "postgresql+psycopg://comms:s3cret@db.example:5432/comms"\n',
        encoding="utf-8",
    )
    out = run(config, "db", "backup", str(tmp_path / "dump"))
    assert "pg_dump --format=custom" in out
    assert "postgresql://comms@db.example:5432/comms" in out
    assert "s3cret" not in out
    out = run(config, "db", "restore", str(tmp_path / "dump"))
    assert "pg_restore" in out
    assert "comms db settle-restored" in out
    assert "s3cret" not in out


@pytest.mark.slow
def test_backup_during_a_publishing_run_restored_elsewhere_publishes_nothing_twice(tmp_path):
    """A daemon publishes; a backup is taken in the middle; the first host is lost; the backup
    is restored on another host whose daemon goes on: every post is delivered at most once."""
    deliveries = tmp_path / "deliveries.jsonl"
    first, second = tmp_path / "first", tmp_path / "second"
    configs = {}
    for folder in (first, second):
        folder.mkdir()
        config = folder / "comms.toml"
        config.write_text(
            f'timezone = "Europe/Copenhagen"\n[database]\nurl = "sqlite:///{folder / "comms.db"}"\n'
            "[daemon]\ntick_seconds = 0.2\n"
            + channel_table("stub", "stub", path=str(deliveries), delay_seconds=0.02),
            encoding="utf-8",
        )
        configs[folder] = config
    url = f"sqlite:///{first / 'comms.db'}"
    from comms.store.db import ensure_schema

    ensure_schema(url)
    now = utcnow()
    for n in range(150):
        add_post(url, due=now, text=f"Nu {n}", approved_by="anna")
    for n in range(40):  # due after the first host is lost: the restored one sends them
        add_post(url, due=now + timedelta(seconds=25), text=f"Senere {n}", approved_by="anna")
    dispose_all()

    daemon = subprocess.Popen(
        [sys.executable, "-m", "comms", "--config", str(configs[first]), "daemon"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _delivered(deliveries) >= 40, timeout=60)
        result = run_comms("--config", str(configs[first]), "db", "backup", str(tmp_path / "b.db"))
        assert result.returncode == 0, result.stderr
        wait_until(lambda: _delivered(deliveries) >= 100, timeout=60)
    finally:
        daemon.send_signal(signal.SIGKILL)  # the first host is lost
        daemon.wait(30)

    result = run_comms("--config", str(configs[second]), "db", "restore", str(tmp_path / "b.db"))
    assert result.returncode == 0, result.stderr
    restored_url = f"sqlite:///{second / 'comms.db'}"
    daemon = subprocess.Popen(
        [sys.executable, "-m", "comms", "--config", str(configs[second]), "daemon"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _open(restored_url) == 0, timeout=90)
        time.sleep(1)
    finally:
        daemon.send_signal(signal.SIGINT)
        daemon.wait(30)

    keys = [json.loads(line)["key"] for line in deliveries.read_text().splitlines()]
    assert len(keys) == len(set(keys)), "a post was delivered twice"
    final = states(second / "comms.db")
    assert set(final.values()) <= {PostState.PUBLISHED, PostState.UNKNOWN}
    later = [pid for pid, text in _texts(second / "comms.db") if text.startswith("Senere")]
    assert all(final[pid] == PostState.PUBLISHED for pid in later)
    with sqlite3.connect(tmp_path / "b.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def _delivered(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _open(url: str) -> int:
    path = Path(url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as db:
        (count,) = db.execute(
            "SELECT count(*) FROM post WHERE state IN ('queued', 'publishing')"
        ).fetchone()
    return int(count)


def _texts(path: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(path) as db:
        return list(db.execute("SELECT id, text FROM post"))

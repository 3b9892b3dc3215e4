"""Logs: levels to stderr, JSON lines for collectors, and secrets never in a line."""

from __future__ import annotations

import json
import logging

from comms.logs import JsonFormatter, SecretScrubber, secret_values, setup_logging
from tests.cli import run_comms


def test_json_lines_carry_level_and_post_fields():
    record = logging.LogRecord(
        "comms.publishing.daemon", logging.WARNING, __file__, 1, "post %d failed", (7,), None
    )
    record.post_id = 7
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "warning"
    assert entry["message"] == "post 7 failed"
    assert entry["post_id"] == 7
    assert entry["time"].endswith("+00:00")


def test_scrubber_removes_secret_values_from_messages_and_args():
    scrubber = SecretScrubber(["EAAB-secret-token"])
    record = logging.LogRecord(
        "x",
        logging.ERROR,
        __file__,
        1,
        "call failed: %s",
        ("401 for token EAAB-secret-token",),
        None,
    )
    scrubber.filter(record)
    assert "EAAB-secret-token" not in record.getMessage()
    assert "***" in record.getMessage()


def test_setup_scrubs_every_configured_secret(make_settings, monkeypatch, capsys):
    monkeypatch.setenv("COMMS_TEST_FB_TOKEN", "marker-9f8e7d")
    settings = make_settings()
    assert secret_values(settings) == ["marker-9f8e7d"]
    setup_logging(settings, fmt="json")
    logging.getLogger("comms.test").error("boom with marker-9f8e7d inside")
    err = capsys.readouterr().err
    assert "marker-9f8e7d" not in err
    assert json.loads(err.strip().splitlines()[-1])["message"] == "boom with *** inside"
    logging.getLogger().handlers.clear()


def logged_while_making(make_settings, capsys, make) -> list[str]:
    """The log lines (stderr) of `make()`, which makes a new database."""
    from comms.store.db import dispose_all

    setup_logging(make_settings(schema=False))
    capsys.readouterr()
    try:
        make()
        dispose_all()
        return capsys.readouterr().err.splitlines()
    finally:
        logging.getLogger().handlers.clear()


def test_a_new_database_says_it_was_made(make_settings, tmp_path, capsys):
    from comms.store.db import ensure_schema, head_revision

    lines = logged_while_making(
        make_settings, capsys, lambda: ensure_schema(f"sqlite:///{tmp_path / 'new.db'}")
    )
    made = [line for line in lines if "new database" in line]
    assert len(made) == 1, lines
    assert f"schema created at revision {head_revision()}" in made[0]


def test_migrations_are_logged_without_alembic_chatter(make_settings, tmp_path, capsys):
    from comms.store.db import upgrade

    lines = logged_while_making(
        make_settings, capsys, lambda: upgrade(f"sqlite:///{tmp_path / 'new.db'}")
    )
    assert any("Running upgrade  -> 0001" in line for line in lines), lines
    assert not [line for line in lines if "setup plugin" in line or "Context impl" in line]


def test_daemon_log_lines_are_in_the_configured_zone_and_say_so(make_settings, monkeypatch):
    import os
    import re
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    monkeypatch.delenv("COMMS_TEST_FB_TOKEN", raising=False)
    settings = make_settings()  # facebook's token is not set: the daemon warns about it
    before = datetime.now(ZoneInfo("Europe/Copenhagen")).replace(microsecond=0)
    utc_server = {**os.environ, "TZ": "UTC"}  # the server's clock zone is not the team's
    result = run_comms("--config", str(settings.path), "daemon", "--once", env=utc_server)
    assert result.returncode == 0, result.stderr
    line = next(ln for ln in result.stderr.splitlines() if "is not set" in ln)
    stamp = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (CET|CEST) WARNING ", line)
    assert stamp, line
    logged = datetime.fromisoformat(stamp[1]).replace(tzinfo=ZoneInfo("Europe/Copenhagen"))
    assert stamp[2] == logged.tzname()
    assert before <= logged <= before + timedelta(minutes=1)

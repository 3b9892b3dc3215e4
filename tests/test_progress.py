"""Long commands show a progress bar on a terminal and stay quiet in scripts."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # real servers, browsers, many processes or long loops

ROOT = Path(__file__).resolve().parent.parent


def big_csv(path: Path, rows: int) -> Path:
    lines = ["channel,published_at,title,url,reach,impressions,engagements"]
    lines += [
        f"hjemmeside,2019-01-{1 + i % 28:02d}T10:{i % 60:02d}:00,Nyhed {i},"
        f"https://www.aalborg.dk/n/{i},{i},,"
        for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def stderr_of(command: list[str], *, terminal: bool) -> str:
    """What the command wrote to stderr: a pipe, or a pseudo-terminal as a person has."""
    env = {**os.environ, "COLUMNS": "100", "TERM": "xterm"}
    if not terminal:
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stderr
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=follower, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed when the process ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=120)
    os.close(leader)
    assert process.returncode == 0
    return b"".join(chunks).decode("utf-8", "replace")


def comms(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "comms", "--config", str(config), *args]


def test_import_shows_progress_only_on_a_terminal(make_settings, tmp_path):
    settings = make_settings()
    quiet = stderr_of(
        comms(settings.path, "import", str(big_csv(tmp_path / "a.csv", 30_000))), terminal=False
    )
    assert quiet == ""
    shown = stderr_of(
        comms(settings.path, "import", str(big_csv(tmp_path / "b.csv", 30_000))), terminal=True
    )
    assert "importing" in shown


def test_plan_shows_progress_only_on_a_terminal(tmp_path):
    shutil.copytree(ROOT / "campaigns", tmp_path / "campaigns")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    config = tmp_path / "comms.toml"
    shutil.copy(ROOT / "config.example.toml", config)
    assert stderr_of(comms(config, "plan", "--year", "2027"), terminal=False) == ""
    assert "rendering" in stderr_of(comms(config, "plan", "--year", "2026"), terminal=True)

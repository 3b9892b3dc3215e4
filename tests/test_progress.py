"""Long commands show a progress bar on a terminal and stay quiet in scripts."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path


def big_csv(path: Path, rows: int) -> Path:
    lines = ["channel,published_at,title,url,reach,impressions,engagements"]
    lines += [
        f"hjemmeside,2019-01-{1 + i % 28:02d}T10:{i % 60:02d}:00,Nyhed {i},"
        f"https://www.aalborg.dk/n/{i},{i},,"
        for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_import(config: Path, csv: Path, *, terminal: bool) -> str:
    command = [sys.executable, "-m", "comms", "--config", str(config), "import", str(csv)]
    env = {**os.environ, "COLUMNS": "100", "TERM": "xterm"}
    if not terminal:
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stderr
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=follower, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=120)
    os.close(leader)
    assert process.returncode == 0
    return b"".join(chunks).decode("utf-8", "replace")


def test_import_shows_progress_only_on_a_terminal(make_settings, tmp_path):
    settings = make_settings()
    quiet = run_import(settings.path, big_csv(tmp_path / "a.csv", 30_000), terminal=False)
    assert quiet == ""
    shown = run_import(settings.path, big_csv(tmp_path / "b.csv", 30_000), terminal=True)
    assert "checking" in shown or "saving" in shown

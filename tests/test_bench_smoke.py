"""Each benchmark in bench/ runs in its --quick form and ends with a well-formed RESULT line.

The real runs take minutes and are not part of the suite (bench/run_all); this only keeps the
scripts from rotting. The scripts run side by side, so the whole check takes seconds. Their
`ok` is not asserted: tiny sizes on a busy CI machine say nothing about performance.
bench/queue_vs_procrastinate needs the PostgreSQL server of tests/pg.py (CI starts it).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pg import require_server

pytestmark = pytest.mark.slow  # real servers, browsers, many processes or long loops

BENCH = Path(__file__).resolve().parent.parent / "bench"
SCRIPTS = (
    "plan",
    "publish",
    "report",
    "cli_start",
    "idle_daemon",
    "import",
    "queue_vs_procrastinate",
    "web",
)
ON_POSTGRESQL = ("queue_vs_procrastinate",)
# extra figures may follow the value: `rss_mb=95`, `growth=9.8`, `comms_per_s=45`
RESULT_RE = re.compile(
    r"^RESULT ([\w-]+) value=(\S+)((?: (?!target=)[\w-]+=\S+)*) target=(\S+) ok=(true|false)$"
)


@pytest.fixture(scope="module")
def outputs() -> dict[str, subprocess.CompletedProcess[str] | str]:
    """Each script's run, or why it could not run (no PostgreSQL server here)."""
    running: dict[str, subprocess.Popen[str]] = {}
    done: dict[str, subprocess.CompletedProcess[str] | str] = {}
    for name in SCRIPTS:
        extra: list[str] = []
        if name in ON_POSTGRESQL:
            try:
                extra = ["--url", require_server()]
            except pytest.skip.Exception as why:
                done[name] = str(why)
                continue
        running[name] = subprocess.Popen(
            [sys.executable, str(BENCH / name), "--quick", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    for name, process in running.items():
        try:
            stdout, stderr = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        done[name] = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    return done


@pytest.mark.parametrize("name", SCRIPTS)
def test_quick_run_ends_with_a_result_line(outputs, name):
    run = outputs[name]
    if isinstance(run, str):
        pytest.skip(run)  # under CI=true require_server fails instead: CI has the server
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.strip().splitlines()
    assert lines, run.stderr[-2000:]
    match = RESULT_RE.match(lines[-1])
    assert match, lines[-1]
    assert match.group(1).replace("-", "_") == name
    float(match.group(2))  # the figure is a number
    for extra in match.group(3).split():
        float(extra.split("=", 1)[1])  # and so is every extra figure


def test_import_reports_its_peak_memory(outputs):
    assert " rss_mb=" in outputs["import"].stdout.strip().splitlines()[-1]
    assert "peak RSS" in outputs["import"].stdout


def test_every_script_is_executable_with_a_shebang():
    for name in (*SCRIPTS, "run_all"):
        path = BENCH / name
        assert path.read_text(encoding="utf-8").startswith("#!/usr/bin/env python3"), name
        assert path.stat().st_mode & 0o111, f"{name} is not executable"

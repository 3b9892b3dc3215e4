"""Each benchmark in bench/ runs in its --quick form and ends with a well-formed RESULT line.

The real runs take minutes and are not part of the suite (bench/run_all); this only keeps the
scripts from rotting. The six scripts run side by side, so the whole check takes seconds. Their
`ok` is not asserted: tiny sizes on a busy CI machine say nothing about performance.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # real servers, browsers, many processes or long loops

BENCH = Path(__file__).resolve().parent.parent / "bench"
SCRIPTS = ("plan", "publish", "report", "cli_start", "idle_daemon", "import")
# extra figures may follow the value: `rss_mb=95`, `growth=9.8`
RESULT_RE = re.compile(
    r"^RESULT (\w+) value=(\S+)((?: (?!target=)\w+=\S+)*) target=(\S+) ok=(true|false)$"
)


@pytest.fixture(scope="module")
def outputs() -> dict[str, subprocess.CompletedProcess[str]]:
    running = {
        name: subprocess.Popen(
            [sys.executable, str(BENCH / name), "--quick"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in SCRIPTS
    }
    done = {}
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
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.strip().splitlines()
    assert lines, run.stderr[-2000:]
    match = RESULT_RE.match(lines[-1])
    assert match, lines[-1]
    assert match.group(1) == name
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

"""A one-minute soak as CI runs it: two daemons, six failing services, posts planned all along.

Runs `bench/soak --minutes 1` (about 80 s with set-up, drain and reconcile) and reads its RESULT
line: no post delivered twice, none lost, none called failed while the service holds it, and
every daemon and the workspace alive to the end and stopped cleanly (the script exits 1
otherwise). The half-hour run and its figures are in bench/README.md; a minute is too short
for the growth figures to say much, so here they are only bounded loosely.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pg import require_server

pytestmark = pytest.mark.slow  # real servers, browsers, many processes or long loops

BENCH = Path(__file__).resolve().parent.parent / "bench" / "soak"
RESULT = re.compile(r"^RESULT soak (?P<fields>.*)$", re.MULTILINE)


def test_a_minute_of_random_faults_loses_and_duplicates_nothing():
    server = require_server()
    result = subprocess.run(
        [sys.executable, str(BENCH), "--minutes", "1", "--fault-rate", "0.3", "--url", server],
        capture_output=True,
        text=True,
        timeout=240,
    )
    match = RESULT.search(result.stdout)
    assert match, f"no RESULT line\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    fields = dict(pair.split("=", 1) for pair in match.group("fields").split())
    assert result.returncode == 0, result.stderr
    assert fields["minutes"] == "1"
    assert int(fields["posts"]) >= 24, result.stderr  # a batch of six every 10 s, and more
    assert (fields["duplicates"], fields["lost"], fields["misrecorded"]) == ("0", "0", "0")
    assert int(fields["failed"]) + int(fields["unknown"]) > 0, result.stderr  # faults struck
    assert fields["web_errors"] == "0", result.stderr
    assert int(fields["db_connections_max"]) > 0
    # one minute says little about leaks, but a descriptor or a thread per post would show
    assert int(fields["fds_growth"]) < 20, result.stderr
    assert int(fields["threads_growth"]) < 15, result.stderr
    for marker in ("daemon 1", "daemon 2", "web"):
        assert marker in result.stderr  # the sample table names every process

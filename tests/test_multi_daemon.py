"""Four real daemons on PostgreSQL drain one queue: every post exactly once, none lost.

Runs `bench/multi_daemon` as CI would and reads its RESULT line. 5,000 posts due at the same
minute take 30–40 s on an idle 2-core machine (about 70 s when the machine is busy with other
work); `COMMS_BENCH_POSTS` overrides the count. The --kill run SIGKILLs a daemon holding claims
and restarts it: its unsent claims come back after the lease (5 s) and are published by the
others, the one it was sending ends `unknown` (never resent), and nothing is duplicated or lost.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pg import require_server

pytestmark = pytest.mark.slow  # real servers, browsers, many processes or long loops

BENCH = Path(__file__).resolve().parent.parent / "bench" / "multi_daemon"
RESULT = re.compile(
    r"^RESULT multi-daemon daemons=(?P<daemons>\d+) posts=(?P<posts>\d+) "
    r"duplicates=(?P<duplicates>\d+) lost=(?P<lost>\d+)"
    r"(?: unknown=(?P<unknown>\d+) killed=(?P<killed>\d+))? seconds=(?P<seconds>[\d.]+)$",
    re.MULTILINE,
)


def run_bench(*args: str, timeout: float = 300) -> tuple[dict[str, str], str]:
    server = require_server()
    result = subprocess.run(
        [sys.executable, str(BENCH), "--url", server, "--timeout", str(timeout - 60), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    match = RESULT.search(result.stdout)
    assert match, f"no RESULT line\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, result.stderr
    return match.groupdict(), result.stderr


def test_four_daemons_publish_every_post_exactly_once():
    posts = int(os.environ.get("COMMS_BENCH_POSTS", "5000"))
    result, log = run_bench("--daemons", "4", "--posts", str(posts))
    assert (result["daemons"], result["posts"]) == ("4", str(posts))
    assert (result["duplicates"], result["lost"]) == ("0", "0"), log
    # all four took part: SKIP LOCKED lets them claim side by side instead of queueing up
    per_pid = re.search(r"deliveries per daemon pid \{([^}]*)\}", log)
    assert per_pid, log
    assert per_pid.group(1).count(":") == 4, log


def test_a_killed_daemons_claims_are_taken_over():
    result, log = run_bench("--daemons", "4", "--posts", "600", "--kill", timeout=180)
    assert (result["duplicates"], result["lost"], result["killed"]) == ("0", "0", "1"), log
    assert int(result["unknown"]) <= 1, log  # at most the one call it was inside
    assert "SIGKILLed daemon" in log


@pytest.mark.parametrize("url", ["sqlite:///x.db"])
def test_bench_refuses_a_non_postgres_url(url):
    result = subprocess.run(
        [sys.executable, str(BENCH), "--url", url], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "postgresql" in result.stderr
